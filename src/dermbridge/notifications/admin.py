"""The outbox in the admin, so failed messages are visible to whoever runs the service.

Only delivery facts are shown; the address and the words stay out of the admin (they are
patient data, and reading them here would not be audited).
"""

from django.contrib import admin

from dermbridge.notifications.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "referral",
        "event",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["status", "channel", "event"]
    search_fields = ["referral__reference"]
    fields = (
        "referral",
        "event",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
