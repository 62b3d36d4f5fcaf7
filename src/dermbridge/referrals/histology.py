"""The histology loop (issue #14 item 4): a pathology result per lesion, matched by the biopsy
request identifier issued with the lesion's outcome, and the lesions still awaiting one.

A result comes from the service's histology page or as a FHIR R4 DiagnosticReport (parsed in
interop, which calls ``record_result``). It is idempotent on the report's identifier: the same
report again returns the row already stored (``created`` False) and changes nothing; the same
identifier with a different lesion is refused. The referral-level ``Outcome.histology_code``
stays the summary older readers use (the AI's agreement, FHIR, the GP's page): the malignant
result if any lesion has one, else the latest. ``signals.histology_recorded`` is sent for each
new result with ``result`` (receivers: the AI's agreement in triage, the missed-cancer check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from dermbridge.accounts.models import Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidReferral, NotPermitted
from dermbridge.referrals import permissions, severity, signals
from dermbridge.referrals.models import (
    HistologyResult,
    HistologySource,
    LesionOutcome,
    Margins,
    Outcome,
    Referral,
)
from dermbridge.referrals.terminology import DIAGNOSES
from dermbridge.referrals.transitions import lock_referral

# Reports entered on the page are identified by the lab's own report number within this system,
# one per dermatology service and laboratory (`page_system`): two labs, or two services, may use
# the same report number without one blocking (or learning of) the other's.
PAGE_SYSTEM = "urn:dermbridge:histology-page"


def page_system(service_id: int, laboratory: str) -> str:
    """The identifier system of a report typed in on the page by `service_id`'s staff."""
    lab = "-".join(laboratory.lower().split()) or "unnamed-laboratory"
    return f"{PAGE_SYSTEM}:{service_id}:{lab}"


@dataclass(frozen=True)
class Recorded:
    result: HistologyResult
    created: bool


def _clean(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    code = str(data.get("morphology_code") or "")
    if code not in DIAGNOSES:
        errors["morphology_code"] = ["Choose the histology diagnosis from the coded list."]
    raw_date = data.get("reported_on")
    reported: date | None = None
    if isinstance(raw_date, datetime):
        reported = raw_date.date()
    elif isinstance(raw_date, date):
        reported = raw_date
    elif raw_date:
        try:
            reported = date.fromisoformat(str(raw_date)[:10])
        except ValueError:
            reported = None
    if reported is None:
        errors["reported_on"] = ["Enter the date of the report, such as 2026-11-02."]
    elif reported > timezone.localdate():
        errors["reported_on"] = ["The date of the report cannot be in the future."]
    text = str(data.get("report_text") or "").strip()
    if not text:
        errors["report_text"] = ["Enter the report's text (at least its conclusion)."]
    margins = str(data.get("margins") or "")
    if margins not in Margins.values:
        errors["margins"] = ["Say whether the margins are clear, involved or not assessable."]
    margin_mm: Decimal | None = None
    raw_mm = data.get("margin_mm")
    if raw_mm not in (None, ""):
        try:
            margin_mm = Decimal(str(raw_mm)).quantize(Decimal("0.1"))
            if margin_mm < 0 or margin_mm > 999:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["margin_mm"] = ["Enter the narrowest margin in millimetres, such as 2.5."]
    if margins == Margins.NOT_ASSESSABLE:
        margin_mm = None
    laboratory = str(data.get("laboratory") or "").strip()
    if not laboratory:
        errors["laboratory"] = ["Enter the laboratory that reported it."]
    return {
        "morphology_code": code,
        "reported_on": reported,
        "report_text": text,
        "margins": margins,
        "margin_mm": margin_mm,
        "laboratory": laboratory[:200],
    }, errors


def find_request(biopsy_request_id: str, user: User) -> LesionOutcome | None:
    """The lesion outcome that issued this biopsy request, if this user's service owns it
    (another organisation's request is not known here, as one that does not exist)."""
    found = (
        LesionOutcome.objects.select_related("lesion__referral")
        .filter(biopsy_request_id=biopsy_request_id.strip().upper())
        .first()
    )
    if found is None or not found.lesion.referral.is_visible_to(user):
        return None
    return found


@transaction.atomic
def record_result(
    request: LesionOutcome,
    *,
    user: User,
    data: Mapping[str, Any],
    report_system: str,
    report_identifier: str,
    source: str = HistologySource.PAGE,
) -> Recorded:
    """Store one pathology report for the lesion of this biopsy request (audited)."""
    referral = lock_referral(request.lesion.referral)
    permissions.check(user, "record_histology", referral)
    if not request.biopsy_request_id:
        raise InvalidReferral(
            "No biopsy or excision was requested for this lesion.",
            field_errors={"biopsy_request_id": ["This lesion has no biopsy request."]},
        )
    system, identifier = report_system.strip()[:200], report_identifier.strip()[:64]
    if not identifier:
        raise InvalidReferral(
            "The report needs its identifier.",
            field_errors={"report_identifier": ["Enter the laboratory's report number."]},
        )
    existing = HistologyResult.objects.filter(
        report_system=system, report_identifier=identifier
    ).first()
    if existing is not None:
        if existing.lesion_id != request.lesion_id:
            raise InvalidReferral(
                "This report was already recorded for another lesion.",
                field_errors={
                    "report_identifier": [
                        f"Report {identifier} is already recorded for another biopsy request."
                    ]
                },
            )
        return Recorded(existing, False)
    cleaned, errors = _clean(data)
    if errors:
        raise InvalidReferral("The histology result is not complete.", field_errors=errors)
    try:
        with transaction.atomic():
            result = HistologyResult.objects.create(
                lesion=request.lesion,
                biopsy_request_id=request.biopsy_request_id,
                report_system=system,
                report_identifier=identifier,
                source=source,
                recorded_by=user,
                **cleaned,
            )
    except IntegrityError:  # the same report arriving twice at once
        again = HistologyResult.objects.get(report_system=system, report_identifier=identifier)
        return Recorded(again, False)
    _summarise(referral, result)
    record(
        user,
        "histology.record",
        result,
        organisation_id=referral.service_id,
        detail={
            "biopsy_request_id": request.biopsy_request_id,
            "code": result.morphology_code,
            "source": source,
        },
    )
    signals.histology_recorded.send(sender=Referral, referral=referral, result=result)
    return Recorded(result, True)


def _summarise(referral: Referral, result: HistologyResult) -> None:
    """Outcome.histology_code: a malignant result wins over a benign one; else the latest."""
    outcome = Outcome.objects.filter(referral=referral).first()
    if outcome is None:
        return
    current = outcome.histology_code
    if current and severity.is_malignant(current) and not result.malignant:
        return
    outcome.histology_code = result.morphology_code
    outcome.save(update_fields=["histology_code"])


@dataclass(frozen=True)
class Awaiting:
    request: LesionOutcome
    days: int


def awaiting_histology(user: User, service_id: int) -> list[Awaiting]:
    """Lesions of this service sent for biopsy or excision with no result yet, oldest first,
    with the days waited since the request. Only the service's staff may ask."""
    if service_id not in user.organisation_ids(Role.DERMATOLOGIST, Role.SERVICE_ADMIN):
        raise NotPermitted("Only the dermatology service sees its lesions awaiting histology.")
    rows: QuerySet[LesionOutcome] = (
        LesionOutcome.objects.filter(
            lesion__referral__service_id=service_id,
            management__in=list(severity.TISSUE_MANAGEMENT),
            biopsy_request_id__isnull=False,
        )
        .exclude(Exists(HistologyResult.objects.filter(lesion_id=OuterRef("lesion_id"))))
        # A copy the per-lesion migration made of a referral's one answer, whose histology was
        # already recorded on the referral: not waiting for anything (ADR 0014).
        .exclude(from_referral_outcome=True, lesion__referral__outcome__histology_code__gt="")
        .select_related("lesion__referral__patient")
        .order_by("recorded_at", "id")
    )
    today = timezone.localdate()
    found = [Awaiting(r, (today - timezone.localdate(r.recorded_at)).days) for r in rows]
    # The list names patients: asking for it is a view of each, recorded once for the list.
    record(
        user,
        "histology.awaiting_view",
        object_type="accounts.organisation",
        object_id=service_id,
        organisation_id=service_id,
        # Which referrals (so patients) the list showed, as the worklist records them.
        detail={
            "lesions": len(found),
            "shown": sorted({a.request.lesion.referral_id for a in found}),
        },
    )
    return found
