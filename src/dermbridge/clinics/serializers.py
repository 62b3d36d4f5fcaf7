"""The clinics API's JSON shapes: slots and appointments."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dermbridge.clinics.models import VISIT_OUTCOMES, Appointment, Slot


class SlotSerializer(serializers.ModelSerializer[Slot]):
    site = serializers.IntegerField(source="session.site_id", read_only=True)
    site_name = serializers.CharField(source="session.site.name", read_only=True)
    session = serializers.IntegerField(source="session_id", read_only=True)
    free = serializers.SerializerMethodField()

    class Meta:
        model = Slot
        fields = ["id", "session", "site", "site_name", "starts_at", "ends_at", "place", "free"]

    def get_free(self, slot: Any) -> bool:
        return not getattr(slot, "held", 0)


class AppointmentSerializer(serializers.ModelSerializer[Appointment]):
    referral = serializers.CharField(source="referral.reference", read_only=True)
    nhs_number = serializers.CharField(source="referral.patient.nhs_number", read_only=True)
    patient_name = serializers.SerializerMethodField()
    starts_at = serializers.DateTimeField(source="slot.starts_at", read_only=True)
    ends_at = serializers.DateTimeField(source="slot.ends_at", read_only=True)
    site = serializers.IntegerField(source="slot.session.site_id", read_only=True)
    site_name = serializers.CharField(source="slot.session.site.name", read_only=True)
    slot = serializers.IntegerField(source="slot_id", read_only=True)
    moved_from = serializers.IntegerField(source="moved_from_id", read_only=True, allow_null=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "status",
            "referral",
            "nhs_number",
            "patient_name",
            "slot",
            "site",
            "site_name",
            "starts_at",
            "ends_at",
            "booked_at",
            "moved_from",
            "reason",
        ]

    def get_patient_name(self, appointment: Appointment) -> str:
        p = appointment.referral.patient
        return f"{p.given_name} {p.family_name}"


class RangeQuerySerializer(serializers.Serializer[Any]):
    start = serializers.DateField(required=False, help_text="First day (default today).")
    end = serializers.DateField(required=False, help_text="Last day (default 4 weeks on).")
    site = serializers.IntegerField(required=False, min_value=1)
    free = serializers.BooleanField(required=False, default=False, help_text="Free slots only.")


class BookSerializer(serializers.Serializer[Any]):
    referral = serializers.CharField(max_length=12, help_text="The referral's reference.")
    slot = serializers.IntegerField(required=False, min_value=1)
    site = serializers.IntegerField(
        required=False, min_value=1, help_text="Book the earliest free slot at this site."
    )


class MoveSerializer(serializers.Serializer[Any]):
    slot = serializers.IntegerField(required=False, min_value=1)
    site = serializers.IntegerField(required=False, min_value=1)


class CancelSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=300)


class VisitSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=[s.value for s in VISIT_OUTCOMES])
    reason = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
