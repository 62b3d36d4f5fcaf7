"""Referrals from primary care to a dermatology service, and everything said about them.

Longer than ~400 lines on purpose: the referral app's tables (Referral and its worklist query
set, Lesion, ClinicalHistory, Outcome, Message, ExplanationTemplate) are read together in
migrations and reviews; their logic is in the services, not here.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# The pathway vocabulary lives below the apps (accounts validates service rules against it);
# re-exported here, where referrals have always imported it from.
from dermbridge.vocabulary.choices import ReferralKind

if TYPE_CHECKING:
    from dermbridge.accounts.models import User


class State(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    IN_REVIEW = "in_review", "In review"
    ADVICE_GIVEN = "advice_given", "Advice given"
    MORE_INFO_REQUESTED = "more_info_requested", "More information requested"
    CONVERTED = "converted", "Converted to a referral"
    TRIAGED = "triaged", "Triaged"
    WITHDRAWN = "withdrawn", "Withdrawn"
    CLOSED = "closed", "Closed"


# States in which a case sits on a dermatology service's worklist.
WORKLIST_STATES = (State.AWAITING_REVIEW, State.IN_REVIEW, State.CONVERTED)
# States after submission in which the service still owes the patient an answer.
OPEN_STATES = (
    State.SUBMITTED,
    State.AWAITING_REVIEW,
    State.IN_REVIEW,
    State.MORE_INFO_REQUESTED,
    State.CONVERTED,
)


class PathwayDecision(models.TextChoices):
    ADVICE = "advice", "Advice to the referrer (GP continues care)"
    ROUTINE_CLINIC = "routine_clinic", "Routine dermatology clinic"
    URGENT_CLINIC = "urgent_clinic", "Urgent suspected cancer clinic"
    BIOPSY = "biopsy", "Straight to biopsy"
    SURGERY = "surgery", "Straight to surgery"
    DISCHARGE = "discharge", "Discharge with advice"


FACE_TO_FACE_DECISIONS = frozenset(
    {
        PathwayDecision.ROUTINE_CLINIC,
        PathwayDecision.URGENT_CLINIC,
        PathwayDecision.BIOPSY,
        PathwayDecision.SURGERY,
    }
)


def new_reference() -> str:
    """A short reference people can read out on the phone (no 0/O, 1/I confusion)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "DB-" + "".join(secrets.choice(alphabet) for _ in range(7))


def _visibility_ids(user: User) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    """The organisations where `user` refers, photographs, and reviews (dermatologist or service
    administrator), from the user's memberships as `User.held_roles` reads them (once per user
    object, the same read as every role check), kept on the user object."""
    from dermbridge.accounts.models import Role

    cached: tuple[frozenset[int], frozenset[int], frozenset[int]] | None = user.__dict__.get(
        "_visibility_ids"
    )
    if cached is None:
        rows = [(org, role) for role, org in user.held_roles()]
        cached = (
            frozenset(org for org, role in rows if role == Role.REFERRER),
            frozenset(org for org, role in rows if role == Role.PHOTOGRAPHER),
            frozenset(
                org for org, role in rows if role in (Role.DERMATOLOGIST, Role.SERVICE_ADMIN)
            ),
        )
        user.__dict__["_visibility_ids"] = cached
    return cached


class ReferralQuerySet(models.QuerySet["Referral"]):
    def visible_to(self, user: User) -> ReferralQuerySet:
        """The one answer to 'which referrals may this user see?' (`Referral.is_visible_to`
        asks it of one row already read)."""
        if not user.is_authenticated:
            return self.none()
        referring, photographing, reviewing = _visibility_ids(user)
        condition = Q(referring_org_id__in=referring)
        condition |= Q(imaging_hub_id__in=photographing) | Q(referring_org_id__in=photographing)
        condition |= Q(service_id__in=reviewing) & ~Q(state=State.DRAFT)
        return self.filter(condition)

    def worklist(self, service_id: int) -> ReferralQuerySet:
        """A service's open cases: USC first, then highest AI risk, then nearest breach."""
        return self.filter(service_id=service_id, state__in=WORKLIST_STATES).order_by(
            "priority_rank", "-ai_sort", "due_at", "id"
        )

    def breach(self, status: str, now: Any = None) -> ReferralQuerySet:
        """Cases whose target clock is still running and is 'breached' or 'near' (as
        `Referral.breach_status`), as one query for the worklist filter."""
        now = now or timezone.now()
        running = (
            Q(due_at__isnull=False)
            & ~Q(state__in=(State.WITHDRAWN, State.CLOSED))
            & (
                (Q(kind=ReferralKind.URGENT_CANCER) & Q(patient_told_at__isnull=True))
                | (~Q(kind=ReferralKind.URGENT_CANCER) & Q(responded_at__isnull=True))
            )
        )
        if status == "breached":
            return self.filter(running, due_at__lt=now)
        if status == "near":
            return self.filter(running, warn_at__lte=now, due_at__gte=now)
        return self


class Referral(models.Model):
    """A request from primary care for a dermatologist's advice or triage about skin lesions."""

    reference = models.CharField(max_length=12, unique=True, default=new_reference, editable=False)
    kind = models.CharField(max_length=3, choices=ReferralKind.choices)
    state = models.CharField(max_length=24, choices=State.choices, default=State.DRAFT)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="referrals"
    )
    referring_org = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="referrals_made"
    )
    referrer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrals_made"
    )
    service = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="referrals_received"
    )
    imaging_hub = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals_photographed",
    )
    clinical_question = models.TextField(blank=True)
    exclusion_reasons = models.JSONField(
        default=list, blank=True, help_text="Service exclusions that apply (e.g. under 16)."
    )
    # Ordering and clocks, denormalised so the worklist is one indexed query.
    priority_rank = models.PositiveSmallIntegerField(default=1, editable=False)
    ai_risk = models.FloatField(null=True, blank=True, editable=False)
    # ai_risk for ordering, -1 when there is no assessment: NULLS LAST cannot be indexed on SQLite.
    ai_sort = models.FloatField(default=-1.0, editable=False)
    ai_band = models.CharField(max_length=16, blank=True, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    breach_warned_at = models.DateTimeField(null=True, blank=True)
    patient_told_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the patient was told cancer is diagnosed or ruled out.",
    )
    patient_told_method = models.CharField(max_length=20, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals_claimed",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    converted_from = models.CharField(max_length=3, choices=ReferralKind.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ReferralQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Partial index over open worklist states only: rows come out already in worklist
            # order, so a page is read straight off the index however large the table grows.
            models.Index(
                "service",
                "priority_rank",
                F("ai_sort").desc(),
                "due_at",
                "id",
                name="referral_worklist_idx",
                condition=Q(state__in=["awaiting_review", "in_review", "converted"]),
            ),
            models.Index(fields=["referring_org", "-created_at"], name="referral_referrer_idx"),
            models.Index(fields=["imaging_hub", "-created_at"], name="referral_hub_idx"),
            models.Index(fields=["state", "warn_at"], name="referral_warn_idx"),
        ]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.priority_rank = 0 if self.kind == ReferralKind.URGENT_CANCER else 1
        super().save(*args, **kwargs)

    @property
    def is_usc(self) -> bool:
        return self.kind == ReferralKind.URGENT_CANCER

    @property
    def clock_stopped_at(self) -> Any:
        return self.patient_told_at if self.is_usc else self.responded_at

    def is_visible_to(self, user: User) -> bool:
        """Whether `Referral.objects.visible_to(user)` holds this referral, without querying it
        again (referrals/tests/test_visibility_rule.py checks that the two agree)."""
        if not user.is_authenticated:
            return False
        referring, photographing, reviewing = _visibility_ids(user)
        return (
            self.referring_org_id in referring
            or self.imaging_hub_id in photographing
            or self.referring_org_id in photographing
            or (self.service_id in reviewing and self.state != State.DRAFT)
        )

    def breach_status(self, now: Any = None) -> str:
        """'breached', 'near' or 'ok' for the target clock; '' before submission or once met."""
        if self.due_at is None or self.clock_stopped_at is not None:
            return ""
        if self.state in (State.WITHDRAWN, State.CLOSED):
            return ""
        now = now or timezone.now()
        if now > self.due_at:
            return "breached"
        if self.warn_at is not None and now >= self.warn_at:
            return "near"
        return "ok"


class PatientToldMethod(models.TextChoices):
    """How the patient was told cancer is diagnosed or ruled out (``patient_told_method``)."""

    FACE_TO_FACE = "face_to_face", "Face to face"
    TELEPHONE = "telephone", "Telephone"
    LETTER = "letter", "Letter"
    VIDEO = "video", "Video"


class TargetStatus(models.TextChoices):
    """Where a referral's target clock stands, when it needs attention (``breach_status``)."""

    BREACHED = "breached", "Past target"
    NEAR = "near", "Near target"


class Presence(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Not known"


class Onset(models.TextChoices):
    WEEKS = "under_1_month", "Less than 1 month"
    MONTHS = "1_to_3_months", "1 to 3 months"
    MONTHS_LONG = "3_to_12_months", "3 to 12 months"
    YEARS = "over_1_year", "More than a year"
    LIFELONG = "lifelong", "Since birth or childhood"


class SunExposure(models.TextChoices):
    LOW = "low", "Low"
    MODERATE = "moderate", "Moderate"
    HIGH = "high", "High (outdoor work, sunbeds, years abroad)"


class ClinicalHistory(models.Model):
    """The structured minimum dataset a dermatologist needs alongside the images."""

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="history")
    onset = models.CharField(max_length=20, choices=Onset.choices, blank=True)
    duration_detail = models.CharField(max_length=200, blank=True)
    multiple_lesions = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    changed_size = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    changed_shape = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    changed_colour = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    bleeding = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    itch = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    ulceration = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    pain = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    elevation = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    personal_history_skin_cancer = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    family_history_skin_cancer = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    immunosuppressed = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    sun_exposure = models.CharField(max_length=10, choices=SunExposure.choices, blank=True)
    medications = models.TextField(blank=True)
    allergies = models.TextField(blank=True)
    treatments_tried = models.TextField(blank=True)
    treatment_effect = models.TextField(blank=True)
    other_notes = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "clinical histories"

    def __str__(self) -> str:
        return f"History for {self.referral}"

    def missing_fields(self) -> list[str]:
        """Minimum-dataset items still unanswered (blocks submission)."""
        missing = []
        if not self.onset:
            missing.append("onset")
        for name in ("changed_size", "changed_shape", "changed_colour", "bleeding"):
            if getattr(self, name) == Presence.UNKNOWN:
                missing.append(name.replace("_", " "))
        return missing


# The yes / no / not known questions of the history, in form order (forms and FHIR share it).
PRESENCE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in ClinicalHistory._meta.local_fields if f.choices == Presence.choices
)


class Laterality(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    MIDLINE = "midline", "Midline"
    BILATERAL = "bilateral", "Both sides"


class Lesion(models.Model):
    """One skin lesion in a referral, located on the body with a SNOMED CT-coded site."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="lesions")
    number = models.PositiveSmallIntegerField(default=1)
    body_site_code = models.CharField("Body site (SNOMED CT)", max_length=20)
    laterality = models.CharField(max_length=10, choices=Laterality.choices, blank=True)
    size_mm = models.DecimalField(
        "Largest diameter (mm)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    description = models.TextField(blank=True)
    pigmented = models.BooleanField(default=False)

    class Meta:
        ordering = ["referral", "number"]
        constraints = [
            models.UniqueConstraint(fields=["referral", "number"], name="unique_lesion_number")
        ]

    def __str__(self) -> str:
        return f"Lesion {self.number} ({self.body_site_label})"

    @property
    def body_site_label(self) -> str:
        from dermbridge.referrals.terminology import BODY_SITES

        site = BODY_SITES.get(self.body_site_code)
        return site.label if site else self.body_site_code


def diagnosis_term(code: str) -> str:
    """A diagnosis code's SNOMED CT term as the vocabulary holds it (an unknown code as it is)."""
    from dermbridge.referrals.terminology import DIAGNOSES

    dx = DIAGNOSES.get(code)
    return dx.label if dx else code


class Outcome(models.Model):
    """The dermatologist's answer: diagnosis, plan, advice, and the pathway decision."""

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="outcome")
    diagnosis_code = models.CharField("Diagnosis (SNOMED CT)", max_length=20)
    management_plan = models.TextField()
    advice_to_referrer = models.TextField()
    patient_explanation = models.TextField(help_text="Plain English, read by the patient.")
    pathway_decision = models.CharField(max_length=20, choices=PathwayDecision.choices)
    histology_code = models.CharField(
        "Histology diagnosis (SNOMED CT)",
        max_length=20,
        blank=True,
        help_text="Recorded later when a biopsy result is available.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Outcome for {self.referral}"

    @property
    def diagnosis_term(self) -> str:
        """The SNOMED CT term as recorded, for clinicians' own records and reports."""
        return diagnosis_term(self.diagnosis_code)

    @property
    def diagnosis_label(self) -> str:
        """The diagnosis as the GP and the patient are told it: "Suspected …" / "Likely …"
        until histology confirms it (``terminology.working_diagnosis``, the one wording)."""
        from dermbridge.referrals.terminology import working_diagnosis

        return working_diagnosis(self.diagnosis_code, self.histology_code)


class Management(models.TextChoices):
    """What is done about one lesion (the ordering of urgency: referrals/severity.py)."""

    DISCHARGE = "discharge", "Discharge"
    MONITOR = "monitor", "Monitor, with a review date"
    BIOPSY = "biopsy", "Biopsy"
    EXCISION = "excision", "Excision"
    CLINIC = "clinic", "Refer to clinic"


class LesionOutcome(models.Model):
    """The dermatologist's answer for one lesion: its SNOMED CT diagnosis (with up to three
    ranked differentials), what is done about it, and -- when tissue is taken -- the biopsy
    request identifier the histology result is matched by (docs/adr/0014-per-lesion-outcome.md)."""

    lesion = models.OneToOneField(Lesion, on_delete=models.CASCADE, related_name="outcome")
    diagnosis_code = models.CharField("Diagnosis (SNOMED CT)", max_length=20)
    differential = models.JSONField(
        default=list, blank=True, help_text="Up to three SNOMED CT codes, most likely first."
    )
    management = models.CharField(max_length=12, choices=Management.choices)
    review_date = models.DateField(null=True, blank=True)
    biopsy_request_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    # True for rows the data migration made from a referral-level outcome (one diagnosis given
    # for the whole referral, copied to each of its lesions).
    from_referral_outcome = models.BooleanField(default=False, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lesion__referral", "lesion__number"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(management="monitor") | Q(review_date__isnull=False),
                name="monitor_needs_review_date",
            )
        ]

    def __str__(self) -> str:
        return f"Outcome for {self.lesion}"

    @property
    def diagnosis_term(self) -> str:
        return diagnosis_term(self.diagnosis_code)

    @property
    def diagnosis_label(self) -> str:
        """'Suspected …' / 'Likely …' (terminology.working_diagnosis, the one wording)."""
        from dermbridge.referrals.terminology import working_diagnosis

        return working_diagnosis(self.diagnosis_code)

    @property
    def differential_terms(self) -> list[str]:
        return [diagnosis_term(code) for code in self.differential]


def biopsy_request_id(referral: Referral, lesion_number: int) -> str:
    """The biopsy request's identifier, read out on the phone and printed on the pathology
    form: 'BX-' + the referral's reference without its 'DB-' + the lesion number."""
    return f"BX-{referral.reference.removeprefix('DB-')}-{lesion_number}"


class Margins(models.TextChoices):
    CLEAR = "clear", "Clear"
    INVOLVED = "involved", "Involved"
    NOT_ASSESSABLE = "not_assessable", "Not assessable"


class HistologySource(models.TextChoices):
    PAGE = "page", "Recorded on the histology page"
    FHIR = "fhir", "Received as a FHIR DiagnosticReport"


class HistologyResult(models.Model):
    """A pathology report on tissue from one lesion (issue #14 item 4), matched to the lesion by
    its biopsy request identifier. Idempotent on (report_system, report_identifier): the same
    report sent twice is one row."""

    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="histology_results")
    biopsy_request_id = models.CharField(max_length=32)
    morphology_code = models.CharField("Histology diagnosis (SNOMED CT)", max_length=20)
    reported_on = models.DateField()
    report_text = models.TextField()
    margins = models.CharField(max_length=16, choices=Margins.choices)
    margin_mm = models.DecimalField(
        "Narrowest margin (mm)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    laboratory = models.CharField(max_length=200)
    report_system = models.CharField(max_length=200)
    report_identifier = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=HistologySource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lesion", "reported_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["report_system", "report_identifier"], name="one_row_per_histology_report"
            )
        ]

    def __str__(self) -> str:
        return f"Histology {self.report_identifier} for {self.lesion}"

    @property
    def morphology_term(self) -> str:
        from dermbridge.referrals.terminology import DIAGNOSES

        dx = DIAGNOSES.get(self.morphology_code)
        return dx.label if dx else self.morphology_code

    @property
    def malignant(self) -> bool:
        from dermbridge.referrals.terminology import DIAGNOSES

        dx = DIAGNOSES.get(self.morphology_code)
        return bool(dx and dx.malignant)


class ExplanationTemplate(models.Model):
    """A service's reusable plain-English explanation for patients: the dermatologist picks one
    on the review page and edits it before sending. Managed by the service administrator."""

    service = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="explanation_templates"
    )
    title = models.CharField(max_length=80)
    text = models.TextField(max_length=4000)
    active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "title"], name="one_explanation_title_per_service"
            )
        ]

    def __str__(self) -> str:
        return self.title


class MessageKind(models.TextChoices):
    MESSAGE = "message", "Message"
    INFO_REQUEST = "info_request", "Request for more information"
    INFO_REPLY = "info_reply", "Reply with more information"


class Message(models.Model):
    """A note between the referrer's practice and the dermatology service about one referral."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=MessageKind.choices, default=MessageKind.MESSAGE)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.referral}"


class StateChange(models.Model):
    """One step through the referral workflow: who moved it, from where to where, when."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="state_changes")
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=24, choices=State.choices)
    to_state = models.CharField(max_length=24, choices=State.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.referral}: {self.from_state} → {self.to_state}"
