"""The hub dashboard (issue #13 item 6): per week, slots offered, booked, attended and did not
attend; days from referral to appointment and from appointment to result; and per photographer,
visits, images, image-set completeness and quality-gate failures. Counts and days only, never a
patient: the page is not audited, the CSV download is (``clinics.dashboard.export``), as the
service dashboard's is. Only the hub's service administrators see it (docs/adr/0013-clinics.md).

Definitions:

- **Referred** is when the referral was sent (``submitted_at``) if that was before the
  appointment, else when it was made (``created_at``): a GP's referral for photography at the
  hub is a draft until the photographs are taken, so it is sent after the appointment.
- **Result** is the dermatologist's answer (``Referral.responded_at``).
- A lesion's **image set is complete** when it has a usable overview, close-up and dermoscopic
  photo (the hub photographs all three, issue #13 item 4). A lesion counts for each hub member
  who uploaded a photo of it at or after the appointment's week began.
- **Quality-gate failures**: photos that could not be used (``ImageStatus.FAILED``) and photos
  with at least one failed quality check (``LesionImage.quality``), blocking or a warning.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record
from dermbridge.clinics.access import check_admin
from dermbridge.clinics.attendance import DnaCounts, dna_counts
from dermbridge.clinics.models import VISIT_OUTCOMES, Appointment, AppointmentStatus
from dermbridge.clinics.schedule import WeekUse, utilisation, week_start
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage

WEEK_CHOICES = (4, 8, 13, 26)
DEFAULT_WEEKS = 8
FULL_SET = frozenset({ImageType.OVERVIEW, ImageType.CLOSE_UP, ImageType.DERMOSCOPIC})


@dataclass(frozen=True)
class LeadTime:
    """Whole days between two moments over the appointments of the period."""

    counted: int
    median: float | None
    p90: int | None  # the 90th centile (nearest rank)
    longest: int | None

    @classmethod
    def of(cls, days: list[int]) -> LeadTime:
        if not days:
            return cls(0, None, None, None)
        ordered = sorted(days)
        rank = max(1, math.ceil(0.9 * len(ordered)))
        median = statistics.median(ordered)
        whole = float(median).is_integer()
        return cls(len(ordered), int(median) if whole else median, ordered[rank - 1], ordered[-1])


@dataclass
class PhotographerRow:
    name: str
    attended: int = 0  # visits the photographer recorded, by outcome
    did_not_attend: int = 0
    not_photographed: int = 0
    images: int = 0
    lesions: int = 0
    complete: int = 0  # lesions with a usable overview, close-up and dermoscopic photo
    failed: int = 0  # photos that could not be used
    warned: int = 0  # photos with a failed quality check
    _lesions: dict[int, set[str]] = field(default_factory=dict, repr=False)

    @property
    def completeness(self) -> int:
        return round(100 * self.complete / self.lesions) if self.lesions else 0


@dataclass
class HubDashboard:
    hub: Organisation
    start: date  # a Monday
    end: date  # the Sunday the period ends
    weeks: list[WeekUse]
    referral_to_appointment: LeadTime
    appointment_to_result: LeadTime
    photographers: list[PhotographerRow]
    # The did-not-attend rule's own count (clinics/attendance.py): rebooked once, or returned
    # to the GP after the second; the weekly rows count the same appointments by status.
    dna: DnaCounts

    @property
    def totals(self) -> WeekUse:
        return WeekUse(
            self.start,
            sum(w.offered for w in self.weeks),
            sum(w.booked for w in self.weeks),
            sum(w.attended for w in self.weeks),
            sum(w.did_not_attend for w in self.weeks),
        )


def hub_dashboard(
    user: User, hub: Organisation, *, weeks: int = DEFAULT_WEEKS, today: date | None = None
) -> HubDashboard:
    """The last `weeks` weeks (Monday to Sunday) up to and including this one. Counts only."""
    check_admin(user, hub)
    if weeks not in WEEK_CHOICES:
        weeks = DEFAULT_WEEKS
    today = today or timezone.localdate()
    first = week_start(today) - timedelta(days=7 * (weeks - 1))
    after = first + timedelta(days=7 * weeks)
    visits = list(
        Appointment.objects.filter(
            slot__session__site__hub=hub,
            slot__session__date__gte=first,
            slot__session__date__lt=after,
            status__in=VISIT_OUTCOMES,
        )
        .select_related("slot", "outcome_by", "referral")
        .order_by()
    )
    to_appointment: list[int] = []
    to_result: list[int] = []
    rows: dict[int, PhotographerRow] = {}
    for visit in visits:
        starts = visit.slot.starts_at
        if visit.status == AppointmentStatus.ATTENDED:
            referral = visit.referral
            sent = referral.submitted_at
            referred = sent if sent and sent <= starts else referral.created_at
            to_appointment.append(max(0, (starts - referred).days))
            if referral.responded_at and referral.responded_at >= starts:
                to_result.append((referral.responded_at - starts).days)
        if visit.outcome_by is not None:
            row = rows.setdefault(visit.outcome_by.pk, PhotographerRow(str(visit.outcome_by)))
            if visit.status == AppointmentStatus.ATTENDED:
                row.attended += 1
            elif visit.status == AppointmentStatus.DID_NOT_ATTEND:
                row.did_not_attend += 1
            else:
                row.not_photographed += 1
    _add_images(hub, rows, visits, first)
    return HubDashboard(
        hub=hub,
        start=first,
        end=after - timedelta(days=1),
        weeks=utilisation(hub, start=first, weeks=weeks),
        referral_to_appointment=LeadTime.of(to_appointment),
        appointment_to_result=LeadTime.of(to_result),
        photographers=sorted(rows.values(), key=lambda r: r.name),
        dna=dna_counts(hub, first, after - timedelta(days=1)),
    )


def _add_images(
    hub: Organisation, rows: dict[int, PhotographerRow], visits: list[Appointment], first: date
) -> None:
    """The photos the hub's staff took of the lesions of the period's attended visits."""
    referral_ids = {v.referral_id for v in visits if v.status == AppointmentStatus.ATTENDED}
    if not referral_ids:
        return
    since = timezone.make_aware(datetime.combine(first, time.min))
    images = list(
        LesionImage.objects.filter(
            lesion__referral_id__in=referral_ids,
            uploaded_by__in=User.objects.filter(memberships__organisation=hub).values("pk"),
            uploaded_at__gte=since,
        ).values_list("uploaded_by", "lesion_id", "image_type", "status", "quality")
    )
    people = User.objects.in_bulk({row[0] for row in images})
    for uploader, lesion_id, image_type, status, quality in images:
        row = rows.get(uploader)
        if row is None:
            row = rows[uploader] = PhotographerRow(str(people[uploader]))
        row.images += 1
        usable = row._lesions.setdefault(lesion_id, set())
        if status == ImageStatus.READY:
            usable.add(image_type)
        if status == ImageStatus.FAILED:
            row.failed += 1
        if any(not check.get("ok", True) for check in (quality or {}).values()):
            row.warned += 1
    # A lesion's set is complete when its usable photos, whoever took them, cover all three.
    covered: defaultdict[int, set[str]] = defaultdict(set)
    for row in rows.values():
        for lesion_id, kinds in row._lesions.items():
            covered[lesion_id] |= kinds
    for row in rows.values():
        row.lesions = len(row._lesions)
        row.complete = sum(1 for lesion_id in row._lesions if covered[lesion_id] >= FULL_SET)


# ---------------------------------------------------------------- the CSV download

CSV_COLUMNS = ("section", "week_starting_or_name", "measure", "value")


def _cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(board: HubDashboard) -> list[tuple[str, ...]]:
    """The dashboard as long-format rows: no patient, no referral reference."""
    out: list[tuple[object, ...]] = []
    for w in board.weeks:
        week = w.week_start.isoformat()
        out += [
            ("weekly", week, "slots_offered", w.offered),
            ("weekly", week, "slots_booked", w.booked),
            ("weekly", week, "attended", w.attended),
            ("weekly", week, "did_not_attend", w.did_not_attend),
            ("weekly", week, "utilisation_percent", w.utilisation),
        ]
    out += [
        ("did_not_attend", "period", "all", board.dna.did_not_attend),
        ("did_not_attend", "period", "rebooked_once", board.dna.rebooked),
        ("did_not_attend", "period", "returned_to_gp", board.dna.returned_to_gp),
    ]
    for name, lead in (
        ("referral_to_appointment", board.referral_to_appointment),
        ("appointment_to_result", board.appointment_to_result),
    ):
        out += [
            ("days", name, "appointments_counted", lead.counted),
            ("days", name, "median", lead.median),
            ("days", name, "90th_centile", lead.p90),
            ("days", name, "longest", lead.longest),
        ]
    for p in board.photographers:
        out += [
            ("photographer", p.name, measure, getattr(p, attribute))
            for measure, attribute in (
                ("visits_attended", "attended"),
                ("visits_did_not_attend", "did_not_attend"),
                ("visits_could_not_photograph", "not_photographed"),
                ("photos", "images"),
                ("lesions_photographed", "lesions"),
                ("lesions_with_complete_set", "complete"),
                ("complete_set_percent", "completeness"),
                ("photos_could_not_be_used", "failed"),
                ("photos_with_failed_quality_check", "warned"),
            )
        ]
    return [tuple(_cell(v) for v in row) for row in out]


def export(user: User, hub: Organisation, *, weeks: int = DEFAULT_WEEKS) -> HubDashboard:
    """The dashboard for the CSV download; the download is audited."""
    board = hub_dashboard(user, hub, weeks=weeks)
    record(
        user,
        "clinics.dashboard.export",
        hub,
        organisation_id=hub.pk,
        detail={"from": board.start.isoformat(), "to": board.end.isoformat()},
    )
    return board
