"""JSON shapes of patients and consent decisions for the REST API (parsing only, no rules)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dermbridge.patients.models import (
    Consent,
    ConsentScope,
    ContactPreference,
    Fitzpatrick,
    Patient,
    Sex,
)


class PatientDetailsSerializer(serializers.Serializer):
    """Who the patient is: enough to register them, or to match an existing record.

    The date of birth is required so that an NHS number typed wrongly is caught (the service
    refuses a record whose date of birth disagrees) and so that knowing an NHS number alone
    never reveals someone's record.
    """

    nhs_number = serializers.CharField(
        max_length=20, help_text="10 digits; spaces and dashes are ignored."
    )
    given_name = serializers.CharField(max_length=100)
    family_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    fitzpatrick = serializers.ChoiceField(
        choices=Fitzpatrick.choices, required=False, allow_blank=True
    )
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    mobile = serializers.CharField(required=False, allow_blank=True, max_length=20)
    contact_preference = serializers.ChoiceField(choices=ContactPreference.choices, required=False)

    def service_kwargs(self) -> dict[str, Any]:
        """Validated data as keyword arguments for `register_patient`."""
        data = dict(self.validated_data)
        data["nhs_number"] = str(data["nhs_number"])
        return data


class PatientCreateSerializer(PatientDetailsSerializer):
    practice = serializers.CharField(
        required=False,
        max_length=20,
        help_text="ODS code (or id) of the practice registering the patient; "
        "optional when you work for one practice only.",
    )


class ConsentSerializer(serializers.ModelSerializer[Consent]):
    recorded_by = serializers.CharField(source="recorded_by.get_full_name", read_only=True)

    class Meta:
        model = Consent
        fields = ["id", "scope", "granted", "note", "recorded_at", "recorded_by"]
        read_only_fields = fields


class ConsentCreateSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=ConsentScope.choices)
    granted = serializers.BooleanField(help_text="true: consent given; false: withdrawn.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class PatientSummarySerializer(serializers.ModelSerializer[Patient]):
    nhs_number_formatted = serializers.CharField(source="formatted_nhs_number", read_only=True)
    registered_practice = serializers.CharField(
        source="registered_practice.ods_code", read_only=True
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "nhs_number",
            "nhs_number_formatted",
            "given_name",
            "family_name",
            "date_of_birth",
            "sex",
            "registered_practice",
        ]
        read_only_fields = fields


class PatientSerializer(PatientSummarySerializer):
    consents = serializers.SerializerMethodField(
        help_text="The current decision for each consent scope (true: given)."
    )
    consent_history = ConsentSerializer(source="consents", many=True, read_only=True)
    fitzpatrick = serializers.ChoiceField(
        choices=Fitzpatrick.choices, allow_blank=True, read_only=True
    )

    class Meta(PatientSummarySerializer.Meta):
        fields = [
            *PatientSummarySerializer.Meta.fields,
            "fitzpatrick",
            "email",
            "mobile",
            "contact_preference",
            "consents",
            "consent_history",
        ]
        read_only_fields = fields

    def get_consents(self, patient: Patient) -> dict[str, bool]:
        # The latest record per scope wins; consents are prefetched newest first.
        current: dict[str, bool] = {scope: False for scope in ConsentScope.values}
        seen: set[str] = set()
        for consent in patient.consents.all():  # type: ignore[attr-defined]
            if consent.scope not in seen:
                seen.add(consent.scope)
                current[consent.scope] = consent.granted
        return current
