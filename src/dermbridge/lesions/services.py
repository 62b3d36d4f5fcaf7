"""The lesions app's service interface: tracking, suggesting, linking, monitoring.

- `note_photographed`: a referral's lesion has photos and has been sent; the first time a
  patient has a lesion photographed it becomes a PatientLesion at once (nothing to match);
  otherwise it waits for the dermatologist, with suggestions (`suggestions`).
- `link` / `start_new`: the dermatologist's explicit decision, audited, kept in LinkChange.
- `follow_outcome` / `set_monitoring` / `overdue_monitoring`: a lesion under "monitor" (the
  dermatologist's per-lesion outcome, referrals.LesionOutcome, or a date set by hand) with a
  review date that passes with no new photos; the service is told (lesions.monitoring, a
  scheduled task).

Every change is recorded in the audit trail inside the transaction that makes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidInput, NotFound, NotPermitted
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.lesions import access, matching
from dermbridge.lesions.models import LesionEncounter, LinkChange, LinkHow, PatientLesion
from dermbridge.referrals.models import Lesion, LesionOutcome, Management, Referral, State

MAX_REASON = 300


class InvalidLink(InvalidInput):
    """A link that cannot be made (another patient's lesion, two lesions of one referral)."""


def _day(referral: Referral) -> dt.date:
    return timezone.localdate(referral.submitted_at or referral.created_at)


def _photographed(lesion: Lesion) -> bool:
    return LesionImage.objects.filter(lesion=lesion).exclude(status=ImageStatus.FAILED).exists()


def candidates(lesion: Lesion) -> QuerySet[PatientLesion]:
    """The patient's lesions this referral lesion could be: seen by the same dermatology service
    (a patient's lesions are shared within the service that saw them, never offered to, linked
    by or opened by another service, whose dermatologists may not see those referrals), and not
    already shown by another lesion of the same referral (one referral's lesions are different
    lesions)."""
    referral = lesion.referral
    taken = LesionEncounter.objects.filter(lesion__referral=referral).exclude(lesion=lesion)
    return (
        PatientLesion.objects.filter(
            patient_id=referral.patient_id,
            encounters__lesion__referral__service_id=referral.service_id,
        )
        .exclude(pk__in=taken.values("patient_lesion_id"))
        .distinct()
    )


def _new_patient_lesion(lesion: Lesion, user: User | None) -> PatientLesion:
    return PatientLesion.objects.create(
        patient_id=lesion.referral.patient_id,
        body_site_code=lesion.body_site_code,
        laterality=lesion.laterality,
        description=lesion.description,
        first_seen=_day(lesion.referral),
        created_by=user,
    )


def note_photographed(lesion: Lesion) -> LesionEncounter | None:
    """Called when a sent referral's lesion has photos (on submit, and when a hub's photo is
    ready). A patient's first photographed lesion is tracked at once; a later one waits for the
    dermatologist to link it (suggestions are computed when they look). Idempotent."""
    referral = lesion.referral
    if referral.state == State.DRAFT or not _photographed(lesion):
        return None
    existing = LesionEncounter.objects.filter(lesion=lesion).first()
    if existing is not None or candidates(lesion).exists():
        return existing
    patient_lesion = _new_patient_lesion(lesion, None)
    encounter = LesionEncounter.objects.create(
        lesion=lesion, patient_lesion=patient_lesion, how=LinkHow.CREATED
    )
    LinkChange.objects.create(lesion=lesion, to_lesion=patient_lesion, how=LinkHow.CREATED)
    record(
        None,
        "lesion.created",
        patient_lesion,
        organisation_id=referral.service_id,
        detail={"referral": referral.reference, "lesion_number": lesion.number},
    )
    return encounter


# ---------------------------------------------------------------- suggestions


def _hashes(lesion_ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    rows = LesionImage.objects.filter(lesion_id__in=lesion_ids, status=ImageStatus.READY)
    for lesion_id, phash in rows.exclude(perceptual_hash="").values_list(
        "lesion_id", "perceptual_hash"
    ):
        found.setdefault(lesion_id, []).append(phash)
    return {k: tuple(v) for k, v in found.items()}


def facts_of(lesion: Lesion, hashes: tuple[str, ...] = ()) -> matching.Facts:
    return matching.Facts(
        site=lesion.body_site_code,
        side=lesion.laterality,
        description=lesion.description,
        size_mm=float(lesion.size_mm) if lesion.size_mm is not None else None,
        hashes=hashes,
    )


@dataclass(frozen=True)
class Suggestion:
    patient_lesion: PatientLesion
    score: matching.Score


def suggestions(lesion: Lesion) -> list[Suggestion]:
    """The patient's lesions this one may be, best first, each scored against the latest
    encounter of that lesion (its most recent description, size and photos). Not audited:
    called by pages that audit their own read."""
    pool = list(candidates(lesion).prefetch_related("encounters__lesion__referral"))
    latest = {
        pl.pk: max(pl.encounters.all(), key=lambda e: (e.lesion.referral.created_at, e.pk))
        for pl in pool
    }
    ids = [lesion.pk, *(e.lesion_id for e in latest.values())]
    hashes = _hashes(ids)
    new = facts_of(lesion, hashes.get(lesion.pk, ()))
    ranked = [
        Suggestion(
            pl,
            matching.score(
                new, facts_of(latest[pl.pk].lesion, hashes.get(latest[pl.pk].lesion_id, ()))
            ),
        )
        for pl in pool
        if latest[pl.pk].lesion_id != lesion.pk
    ]
    ranked.sort(key=lambda s: (-s.score.total, s.patient_lesion.pk))
    return ranked


# ---------------------------------------------------------------- linking


def _check_may_link(user: User, lesion: Lesion) -> None:
    if not access.may_link(user, lesion):
        raise NotPermitted(
            "Only a dermatologist of the service this referral was sent to can link its lesions."
        )


def _clean_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidLink(
            f"The reason is {len(reason)} characters long: shorten it to {MAX_REASON} or fewer.",
            field_errors={"reason": [f"Use {MAX_REASON} characters or fewer."]},
        )
    return reason


@transaction.atomic
def link(
    lesion: Lesion,
    patient_lesion: PatientLesion,
    *,
    user: User,
    reason: str = "",
) -> LesionEncounter:
    """Say that `lesion` (in a referral) shows `patient_lesion`: a first link, a confirmed
    suggestion, or a re-link of a wrong match. Audited ("lesion.link" or "lesion.relink")."""
    _check_may_link(user, lesion)
    reason = _clean_reason(reason)
    referral = lesion.referral
    if patient_lesion.patient_id != referral.patient_id:
        raise NotFound("No such lesion for this patient.")
    clash = (
        LesionEncounter.objects.filter(patient_lesion=patient_lesion, lesion__referral=referral)
        .exclude(lesion=lesion)
        .select_related("lesion")
        .first()
    )
    if clash is not None:
        raise InvalidLink(
            f"Lesion {clash.lesion.number} of this referral is already linked to that lesion: "
            "two lesions in one referral are different lesions. Re-link that one first.",
            field_errors={"patient_lesion": ["Choose another lesion, or start a new one."]},
        )
    if not candidates(lesion).filter(pk=patient_lesion.pk).exists():
        # Another service's lesion of this patient: not this user's to see or to link to.
        raise NotFound("No such lesion for this patient.")
    score = next(
        (s.score.total for s in suggestions(lesion) if s.patient_lesion.pk == patient_lesion.pk),
        None,
    )
    existing = LesionEncounter.objects.select_for_update().filter(lesion=lesion).first()
    before = existing.patient_lesion if existing else None
    if before is not None and before.pk == patient_lesion.pk:
        return existing  # type: ignore[return-value]
    how = (
        LinkHow.CONFIRMED if score is not None and score >= matching.SUGGEST_AT else LinkHow.MANUAL
    )
    return _point(
        lesion, existing, before, patient_lesion, how=how, score=score, reason=reason, user=user
    )


def _point(
    lesion: Lesion,
    existing: LesionEncounter | None,
    before: PatientLesion | None,
    patient_lesion: PatientLesion,
    *,
    how: str,
    score: float | None,
    reason: str,
    user: User,
) -> LesionEncounter:
    """Make `lesion` show `patient_lesion` (from `before`, if it showed one): the encounter,
    the link history, the audit event ("lesion.link", "lesion.new" or "lesion.relink"), and both
    lesions' monitoring follows their latest answer. Inside the caller's transaction."""
    if existing is None:
        existing = LesionEncounter(lesion=lesion)
    existing.patient_lesion = patient_lesion
    existing.how = how
    existing.score = score
    existing.linked_by = user
    existing.linked_at = timezone.now()
    existing.save()
    LinkChange.objects.create(
        lesion=lesion, from_lesion=before, to_lesion=patient_lesion, how=how, reason=reason, by=user
    )
    referral = lesion.referral
    action = (
        "lesion.relink"
        if before is not None
        else ("lesion.new" if how == LinkHow.NEW else "lesion.link")
    )
    detail = {
        "referral": referral.reference,
        "lesion_number": lesion.number,
        "from": before.uid if before else None,
        "to": patient_lesion.uid,
        "how": how,
        **({} if how == LinkHow.NEW else {"score": score}),
        "reason": reason,
    }
    record(user, action, patient_lesion, organisation_id=referral.service_id, detail=detail)
    for touched in (patient_lesion, before):
        if touched is not None:
            follow_outcome(touched)
    return existing


@transaction.atomic
def start_new(lesion: Lesion, *, user: User, reason: str = "") -> LesionEncounter:
    """Say that `lesion` is none of the patient's earlier lesions (a suggestion rejected, or a
    wrong link undone): a new PatientLesion is made from it. Audited."""
    _check_may_link(user, lesion)
    reason = _clean_reason(reason)
    existing = LesionEncounter.objects.select_for_update().filter(lesion=lesion).first()
    before = existing.patient_lesion if existing else None
    if before is not None and before.encounters.count() == 1:
        raise InvalidLink(
            "This lesion is already a lesion of its own, seen only in this referral.",
            field_errors={"patient_lesion": ["Choose one of the patient's other lesions."]},
        )
    patient_lesion = _new_patient_lesion(lesion, user)
    return _point(
        lesion,
        existing,
        before,
        patient_lesion,
        how=LinkHow.NEW,
        score=None,
        reason=reason,
        user=user,
    )


# ---------------------------------------------------------------- reads


def may_open(user: User, patient_lesion: PatientLesion) -> bool:
    """The lesion is `user`'s to open: a dermatologist of the patient who may see at least one
    of the referrals it was seen in."""
    seen_in = set(
        patient_lesion.encounters.values_list("lesion__referral_id", flat=True).distinct()
    )
    return access.may_see_lesion(user, patient_lesion.patient_id, seen_in)


def patient_lesions(patient_id: int) -> QuerySet[PatientLesion]:
    """The patient's lesions that at least one referral lesion shows, oldest first."""
    return (
        PatientLesion.objects.filter(patient_id=patient_id, encounters__isnull=False)
        .distinct()
        .order_by("first_seen", "id")
    )


def encounters_visible(patient_lesion: PatientLesion, user: User) -> list[LesionEncounter]:
    """The lesion's encounters whose referral `user` may see, in date order."""
    visible = access.visible_referral_ids(user, patient_lesion.patient_id)
    rows = (
        patient_lesion.encounters.filter(lesion__referral_id__in=visible)
        .select_related("lesion__referral", "linked_by")
        .order_by("lesion__referral__created_at", "id")
    )
    return list(rows)


def unlinked_lesions(patient_id: int, user: User) -> list[Lesion]:
    """The patient's photographed lesions in sent referrals `user` may see that are not yet
    linked to a PatientLesion: the dermatologist's to-do."""
    visible = access.visible_referral_ids(user, patient_id)
    return list(
        Lesion.objects.filter(referral_id__in=visible, encounter__isnull=True, images__isnull=False)
        .distinct()
        .select_related("referral")
        .order_by("referral__created_at", "number")
    )


def link_history(lesion_ids: list[int]) -> list[LinkChange]:
    return list(
        LinkChange.objects.filter(lesion_id__in=lesion_ids)
        .select_related("by", "from_lesion", "to_lesion", "lesion__referral")
        .order_by("at", "id")
    )


# ---------------------------------------------------------------- monitoring


@transaction.atomic
def set_monitoring(patient_lesion: PatientLesion, until: dt.date | None, *, user: User) -> None:
    """Put the lesion under "monitor" until `until` (None: stop monitoring), by hand on the
    comparison page. Audited. The dermatologist's per-lesion outcome sets it too
    (`follow_outcome`); the newer of the two decisions wins."""
    if not may_open(user, patient_lesion):
        raise NotPermitted("Only the patient's dermatologists can set a review date.")
    today = timezone.localdate()
    if until is not None and until <= today:
        raise InvalidInput(
            f"The review date must be after today ({today:%d %B %Y}).",
            field_errors={"monitor_until": ["Enter a date in the future."]},
        )
    patient_lesion.monitor_until = until
    patient_lesion.monitor_set_at = timezone.now() if until else None
    patient_lesion.monitor_set_by = user if until else None
    patient_lesion.overdue_notified_on = None
    patient_lesion.save(
        update_fields=["monitor_until", "monitor_set_at", "monitor_set_by", "overdue_notified_on"]
    )
    record(
        user,
        "lesion.monitor",
        patient_lesion,
        detail={"until": until.isoformat() if until else None},
    )


def follow_outcome(patient_lesion: PatientLesion) -> None:
    """Monitoring follows the dermatologist's latest answer for this lesion (issue #14 item 1:
    `referrals.LesionOutcome`): the outcome of its most recent visit that has one. "Monitor"
    with a review date sets the date; any other management ends monitoring. A date set by hand
    on the comparison page after that outcome is kept (the newer decision wins). Audited."""
    latest = (
        LesionOutcome.objects.filter(lesion__encounter__patient_lesion=patient_lesion)
        .select_related("recorded_by", "lesion__referral")
        .order_by("-lesion__referral__created_at", "-recorded_at")
        .first()
    )
    if latest is None:
        return
    if patient_lesion.monitor_set_at and patient_lesion.monitor_set_at > latest.recorded_at:
        return
    monitor = latest.management == Management.MONITOR and latest.review_date is not None
    until = latest.review_date if monitor else None
    if patient_lesion.monitor_until == until and (
        not monitor or patient_lesion.monitor_set_at == latest.recorded_at
    ):
        return
    patient_lesion.monitor_until = until
    patient_lesion.monitor_set_at = latest.recorded_at if monitor else None
    patient_lesion.monitor_set_by = latest.recorded_by if monitor else None
    patient_lesion.overdue_notified_on = None
    patient_lesion.save(
        update_fields=["monitor_until", "monitor_set_at", "monitor_set_by", "overdue_notified_on"]
    )
    record(
        None,
        "lesion.monitor",
        patient_lesion,
        organisation_id=latest.lesion.referral.service_id,
        detail={
            "until": until.isoformat() if until else None,
            "from_outcome": latest.lesion.referral.reference,
            "management": latest.management,
        },
    )


def follow_outcomes(referral: Referral) -> None:
    """After the referral's per-lesion outcomes are recorded: each linked lesion's monitoring."""
    for encounter in LesionEncounter.objects.filter(lesion__referral=referral).select_related(
        "patient_lesion"
    ):
        follow_outcome(encounter.patient_lesion)


def overdue_monitoring(today: dt.date | None = None) -> QuerySet[PatientLesion]:
    """Lesions under monitoring whose review date has passed with no photo taken since the
    date was set, not yet told."""
    today = today or timezone.localdate()
    newest = Max(
        "encounters__lesion__images__uploaded_at",
        filter=Q(encounters__lesion__images__status=ImageStatus.READY),
    )
    return (
        PatientLesion.objects.filter(
            monitor_until__lt=today, monitor_set_at__isnull=False, overdue_notified_on__isnull=True
        )
        .annotate(newest=newest)
        .filter(Q(newest__isnull=True) | Q(newest__lt=F("monitor_set_at")))
    )
