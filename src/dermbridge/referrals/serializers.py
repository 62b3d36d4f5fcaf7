"""JSON shapes of referrals, lesions, messages and outcomes for the REST API (a lesion shows
its images in the shape dermbridge.imaging.serializers gives them).

Serializers only parse and present: every rule (what a complete lesion is, who may do what)
lives in the services, which give the clinician-readable errors.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dermbridge.imaging.serializers import ImageSerializer, ImageSetSerializer
from dermbridge.imaging.services import lesion_image_set
from dermbridge.patients.serializers import PatientDetailsSerializer, PatientSummarySerializer
from dermbridge.referrals import permissions, workflow
from dermbridge.referrals.models import (
    ClinicalHistory,
    HistologyResult,
    Laterality,
    Lesion,
    LesionOutcome,
    Management,
    Message,
    Outcome,
    PathwayDecision,
    PatientToldMethod,
    Referral,
    ReferralKind,
    State,
)
from dermbridge.referrals.services import HISTORY_FIELDS, MAX_LESIONS
from dermbridge.referrals.terminology import BODY_SITES, DIAGNOSES

# Workflow action name -> the URL segment of its API endpoint.
ACTION_PATHS = {
    "submit": "submit",
    "claim": "claim",
    "release": "release",
    "request_info": "request-info",
    "reply_info": "reply-info",
    "give_advice": "advice",
    "triage": "triage",
    "convert": "convert",
    "withdraw": "withdraw",
    "close": "close",
    "downgrade": "downgrade",
    "patient_told": "patient-told",
}


# ---------------------------------------------------------------- input


class HistorySerializer(serializers.ModelSerializer[ClinicalHistory]):
    """The structured minimum dataset; every answer optional until submission."""

    class Meta:
        model = ClinicalHistory
        fields = HISTORY_FIELDS
        extra_kwargs = {name: {"required": False} for name in HISTORY_FIELDS}


class LesionInputSerializer(serializers.Serializer):
    body_site_code = serializers.ChoiceField(
        choices=[(c.code, c.label) for c in BODY_SITES.values()],
        help_text="SNOMED CT body structure code.",
    )
    laterality = serializers.ChoiceField(
        choices=Laterality.choices, required=False, allow_blank=True
    )
    size_mm = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        required=False,
        allow_null=True,
        coerce_to_string=False,
        help_text="Largest diameter in millimetres (0.1 to 500).",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    pigmented = serializers.BooleanField(required=False, default=False)


class ReferralCreateSerializer(serializers.Serializer):
    """A new draft referral with everything known so far, created all or nothing."""

    patient = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of a patient you can see; or give patient_details.",
    )
    patient_details = PatientDetailsSerializer(
        required=False,
        help_text="Register (or match by NHS number and date of birth) the patient in the same call.",
    )
    kind = serializers.ChoiceField(choices=ReferralKind.choices)
    service = serializers.CharField(
        max_length=20, help_text="ODS code (or id) of the dermatology service."
    )
    referring_org = serializers.CharField(
        max_length=20,
        required=False,
        help_text="ODS code (or id) of your practice or hub; optional if you work for one.",
    )
    imaging_hub = serializers.CharField(
        max_length=20, required=False, help_text="ODS code (or id) of the hub taking the photos."
    )
    clinical_question = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, default=""
    )
    history = HistorySerializer(required=False)
    lesions = LesionInputSerializer(  # type: ignore[call-arg]
        many=True, required=False, max_length=MAX_LESIONS
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("patient" in attrs) == ("patient_details" in attrs):
            raise serializers.ValidationError(
                {"patient": ["Give either patient (an id) or patient_details, not both."]}
            )
        return attrs


class ReferralUpdateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReferralKind.choices, required=False)
    clinical_question = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    history = HistorySerializer(required=False)


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10000)


class RequestInfoSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=10000, help_text="What the referrer should add.")


class ReplyInfoSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10000)


DIAGNOSIS_CHOICES = [(c.code, c.label) for c in DIAGNOSES.values()]


class LesionOutcomeInSerializer(serializers.Serializer):
    """One lesion's answer (issue #14): by the lesion's number in the referral."""

    lesion = serializers.IntegerField(min_value=1, help_text="The lesion's number.")
    diagnosis_code = serializers.ChoiceField(
        choices=DIAGNOSIS_CHOICES, help_text="SNOMED CT diagnosis code."
    )
    differential = serializers.ListField(
        child=serializers.ChoiceField(choices=DIAGNOSIS_CHOICES),
        max_length=3,
        required=False,
        default=list,
        help_text="Up to three SNOMED CT codes, most likely first.",
    )
    management = serializers.ChoiceField(choices=Management.choices)
    review_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Required when monitored."
    )


class AdviceSerializer(serializers.Serializer):
    lesions = LesionOutcomeInSerializer(
        many=True,
        required=False,
        help_text="Each lesion's diagnosis and management. Without it, diagnosis_code is "
        "given to every lesion.",
    )
    diagnosis_code = serializers.ChoiceField(
        choices=DIAGNOSIS_CHOICES,
        required=False,
        help_text="One SNOMED CT diagnosis for every lesion (older clients; prefer lesions).",
    )
    management_plan = serializers.CharField(max_length=10000)
    advice_to_referrer = serializers.CharField(max_length=10000)
    patient_explanation = serializers.CharField(
        max_length=10000, help_text="Plain English, read by the patient; cover every lesion."
    )


class TriageSerializer(AdviceSerializer):
    pathway_decision = serializers.ChoiceField(
        choices=[c for c in PathwayDecision.choices if c[0] != PathwayDecision.ADVICE],
        required=False,
        help_text="Follows the most urgent lesion when left out; never less urgent than it.",
    )


class ConvertSerializer(serializers.Serializer):
    to_kind = serializers.ChoiceField(
        choices=[
            (k, ReferralKind(k).label) for k in (ReferralKind.TRIAGE, ReferralKind.URGENT_CANCER)
        ]
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class DowngradeSerializer(serializers.Serializer):
    to_kind = serializers.ChoiceField(
        choices=[(k, ReferralKind(k).label) for k in (ReferralKind.TRIAGE, ReferralKind.ADVICE)]
    )
    reason = serializers.CharField(max_length=300)


class PatientToldSerializer(serializers.Serializer):
    told_at = serializers.DateTimeField(help_text="When the patient was told (not in the future).")
    method = serializers.ChoiceField(choices=PatientToldMethod.choices)


# ---------------------------------------------------------------- output


class LesionSerializer(serializers.ModelSerializer[Lesion]):
    body_site = serializers.CharField(source="body_site_label", read_only=True)
    laterality = serializers.ChoiceField(
        choices=Laterality.choices, allow_blank=True, read_only=True
    )
    size_mm = serializers.DecimalField(
        max_digits=5, decimal_places=1, coerce_to_string=False, read_only=True, allow_null=True
    )
    images = serializers.SerializerMethodField()
    image_set = serializers.SerializerMethodField()

    class Meta:
        model = Lesion
        fields = [
            "id",
            "number",
            "body_site_code",
            "body_site",
            "laterality",
            "size_mm",
            "description",
            "pigmented",
            "images",
            "image_set",
        ]
        read_only_fields = fields

    @extend_schema_field(ImageSerializer(many=True))
    def get_images(self, lesion: Lesion) -> Any:
        return ImageSerializer(lesion.images.all(), many=True).data  # type: ignore[attr-defined]

    @extend_schema_field(ImageSetSerializer)
    def get_image_set(self, lesion: Lesion) -> Any:
        referral = lesion.referral
        return lesion_image_set(lesion, referral.service, referral.kind)


class MessageSerializer(serializers.ModelSerializer[Message]):
    author = serializers.CharField(source="author.get_full_name", read_only=True)
    organisation = serializers.CharField(source="organisation.name", read_only=True)

    class Meta:
        model = Message
        fields = ["id", "kind", "body", "author", "organisation", "created_at"]
        read_only_fields = fields


class HistologySerializer(serializers.ModelSerializer[HistologyResult]):
    histology = serializers.CharField(source="morphology_term", read_only=True)

    class Meta:
        model = HistologyResult
        fields = [
            "morphology_code",
            "histology",
            "reported_on",
            "margins",
            "margin_mm",
            "laboratory",
            "report_identifier",
        ]
        read_only_fields = fields


class LesionOutcomeSerializer(serializers.ModelSerializer[LesionOutcome]):
    lesion = serializers.IntegerField(source="lesion.number", read_only=True)
    body_site = serializers.CharField(source="lesion.body_site_label", read_only=True)
    diagnosis = serializers.CharField(source="diagnosis_label", read_only=True)
    histology = HistologySerializer(source="lesion.histology_results", many=True, read_only=True)

    class Meta:
        model = LesionOutcome
        fields = [
            "lesion",
            "body_site",
            "diagnosis_code",
            "diagnosis",
            "differential",
            "management",
            "review_date",
            "biopsy_request_id",
            "histology",
            "recorded_at",
        ]
        read_only_fields = fields


class OutcomeSerializer(serializers.ModelSerializer[Outcome]):
    diagnosis = serializers.CharField(source="diagnosis_label", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.get_full_name", read_only=True)
    lesions = serializers.SerializerMethodField()

    class Meta:
        model = Outcome
        fields = [
            "diagnosis_code",
            "diagnosis",
            "lesions",
            "management_plan",
            "advice_to_referrer",
            "patient_explanation",
            "pathway_decision",
            "histology_code",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LesionOutcomeSerializer(many=True))
    def get_lesions(self, outcome: Outcome) -> Any:
        """Each lesion's answer, in lesion order (diagnosis_code above is the worst lesion's)."""
        rows = LesionOutcome.objects.filter(lesion__referral_id=outcome.referral_id)
        return LesionOutcomeSerializer(
            rows.select_related("lesion")
            .prefetch_related("lesion__histology_results")
            .order_by("lesion__number"),
            many=True,
        ).data


class ActionSerializer(serializers.Serializer):
    action = serializers.CharField(
        help_text="The URL segment: POST /api/referrals/{ref}/{action}/."
    )
    label = serializers.CharField()  # type: ignore[assignment]


class ReferralListSerializer(serializers.ModelSerializer[Referral]):
    patient = PatientSummarySerializer(read_only=True)
    service = serializers.CharField(source="service.ods_code", read_only=True)
    referring_org = serializers.CharField(source="referring_org.ods_code", read_only=True)
    breach_status = serializers.SerializerMethodField(
        help_text="'breached', 'near' or 'ok' for the target clock; empty before submission "
        "or once the clock has stopped."
    )

    class Meta:
        model = Referral
        fields = [
            "reference",
            "kind",
            "state",
            "patient",
            "service",
            "referring_org",
            "created_at",
            "submitted_at",
            "due_at",
            "breach_status",
            "ai_band",
        ]
        read_only_fields = fields

    def get_breach_status(self, referral: Referral) -> str:
        return referral.breach_status()


class ReferralSerializer(ReferralListSerializer):
    imaging_hub = serializers.CharField(
        source="imaging_hub.ods_code", read_only=True, allow_null=True, default=None
    )
    referrer = serializers.CharField(source="referrer.get_full_name", read_only=True)
    converted_from = serializers.ChoiceField(
        choices=ReferralKind.choices, allow_blank=True, read_only=True
    )
    claimed_by = serializers.CharField(
        source="claimed_by.get_full_name", read_only=True, allow_null=True, default=None
    )
    history = HistorySerializer(read_only=True, allow_null=True)
    lesions = LesionSerializer(many=True, read_only=True)
    outcome = serializers.SerializerMethodField()
    messages = MessageSerializer(many=True, read_only=True)
    exclusions = serializers.ListField(
        source="exclusion_reasons", child=serializers.CharField(), read_only=True
    )
    allowed_actions = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField(
        help_text="What still stops a draft being sent (empty once it can be submitted)."
    )

    class Meta(ReferralListSerializer.Meta):
        fields = [
            *ReferralListSerializer.Meta.fields,
            "converted_from",
            "imaging_hub",
            "referrer",
            "clinical_question",
            "claimed_by",
            "claimed_at",
            "warn_at",
            "responded_at",
            "patient_told_at",
            "patient_told_method",
            "closed_at",
            "ai_risk",
            "exclusions",
            "history",
            "lesions",
            "outcome",
            "messages",
            "allowed_actions",
            "problems",
        ]
        read_only_fields = fields

    @extend_schema_field(OutcomeSerializer(allow_null=True))
    def get_outcome(self, referral: Referral) -> Any:
        outcome = getattr(referral, "outcome", None)
        return OutcomeSerializer(outcome).data if outcome is not None else None

    @extend_schema_field(ActionSerializer(many=True))
    def get_allowed_actions(self, referral: Referral) -> Any:
        user = self.context["request"].user
        actions = [
            {"action": ACTION_PATHS[t.action], "label": t.label}
            for t in workflow.available_actions(user, referral)
            if t.action in ACTION_PATHS
        ]
        # The actions outside the transition table, from the same rule table the pages use.
        if permissions.may(user, "downgrade", referral):
            actions.append({"action": "downgrade", "label": "Downgrade the referral"})
        if permissions.may(user, "record_patient_told", referral):
            actions.append({"action": "patient-told", "label": "Record when the patient was told"})
        return actions

    def get_problems(self, referral: Referral) -> list[str]:
        from dermbridge.referrals.services import submission_problems

        if referral.state != State.DRAFT:
            return []
        return submission_problems(referral)
