"""Admin for patient records (support use: corrections go through the practice)."""

from __future__ import annotations

from django.contrib import admin

from dermbridge.patients.models import Consent, Patient


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    can_delete = False
    readonly_fields = ["scope", "granted", "recorded_by", "recorded_at", "note"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = [
        "nhs_number",
        "family_name",
        "given_name",
        "date_of_birth",
        "registered_practice",
    ]
    search_fields = ["nhs_number", "family_name"]
    list_select_related = ["registered_practice"]
    readonly_fields = ["nhs_number", "created_at"]
    inlines = [ConsentInline]
