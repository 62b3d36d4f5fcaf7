"""Read-mostly admin for referrals: changes go through the workflow services, never the admin."""

from __future__ import annotations

from django.contrib import admin

from dermbridge.referrals.models import Lesion, Referral, StateChange


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class LesionInline(ReadOnlyInline):
    model = Lesion
    fields = ["number", "body_site_code", "laterality", "size_mm", "pigmented"]


class StateChangeInline(ReadOnlyInline):
    model = StateChange
    fields = ["at", "action", "from_state", "to_state", "actor", "note"]


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "kind",
        "state",
        "service",
        "referring_org",
        "submitted_at",
        "due_at",
    ]
    list_filter = ["kind", "state", "service"]
    search_fields = ["reference", "patient__nhs_number"]
    list_select_related = ["service", "referring_org"]
    inlines = [LesionInline, StateChangeInline]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # Every field: state moves only through referrals.services (audited, clocked).
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
