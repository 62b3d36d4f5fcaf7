"""The referral itself: its workflow states, pathway decisions, the worklist query set, and the
one rule of who may see a referral (``_visibility_ids``)."""

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
