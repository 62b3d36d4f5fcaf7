"""The lesions API's JSON shapes: a patient's lesion with its visits, and a link decision."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dermbridge.lesions.models import LesionEncounter, PatientLesion


class EncounterSerializer(serializers.ModelSerializer[LesionEncounter]):
    referral = serializers.CharField(source="lesion.referral.reference", read_only=True)
    referral_lesion = serializers.IntegerField(source="lesion_id", read_only=True)
    lesion_number = serializers.IntegerField(source="lesion.number", read_only=True)
    date = serializers.SerializerMethodField()
    recorded_size_mm = serializers.DecimalField(
        source="lesion.size_mm", max_digits=5, decimal_places=1, read_only=True, allow_null=True
    )
    linked_by = serializers.SerializerMethodField()

    class Meta:
        model = LesionEncounter
        fields = [
            "referral",
            "referral_lesion",
            "lesion_number",
            "date",
            "recorded_size_mm",
            "how",
            "score",
            "linked_by",
            "linked_at",
        ]

    def get_date(self, encounter: LesionEncounter) -> str:
        referral = encounter.lesion.referral
        return (referral.submitted_at or referral.created_at).date().isoformat()

    def get_linked_by(self, encounter: LesionEncounter) -> str | None:
        user = encounter.linked_by
        return (user.get_full_name() or user.username) if user else None


class PatientLesionSerializer(serializers.ModelSerializer[PatientLesion]):
    body_site = serializers.CharField(source="body_site_label", read_only=True)
    encounters = serializers.SerializerMethodField()

    class Meta:
        model = PatientLesion
        fields = [
            "id",
            "uid",
            "body_site_code",
            "body_site",
            "laterality",
            "description",
            "first_seen",
            "monitor_until",
            "encounters",
        ]

    def get_encounters(self, lesion: PatientLesion) -> list[dict[str, Any]]:
        shown = self.context.get("encounters", {}).get(lesion.pk, [])
        return list(EncounterSerializer(shown, many=True).data)


class LinkSerializer(serializers.Serializer):  # type: ignore[type-arg]
    patient_lesion = serializers.CharField(
        help_text='The id of the patient\'s lesion this referral lesion shows, or "new".'
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")
