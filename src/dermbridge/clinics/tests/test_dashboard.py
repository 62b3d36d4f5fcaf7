"""The hub dashboard: the weekly slots, the waiting times, each photographer's visits, photos,
complete image sets and quality-gate failures; the CSV names no patient; only the hub's
service administrators see either (other organisations 404, the hub's photographers 403)."""

from __future__ import annotations

import csv
import io
from datetime import time, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dermbridge.accounts.models import Role
from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import dashboard
from dermbridge.clinics.attendance import dna_counts
from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.clinics.schedule import _make_session, week_start
from dermbridge.clinics.tests.support import Hub, hub_referral, make_clinic, make_hub, other_hub
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.referrals.models import Referral
from dermbridge.testing import World, make_user

FAILED_CHECK = {"sharpness": {"ok": False, "score": 0.1, "message": "Blurred"}}


def _visit(h: Hub, slot: Any, status: str, *, days_before: int = 0) -> Appointment:
    referral = hub_referral(h)
    created = slot.starts_at - timedelta(days=days_before)
    Referral.objects.filter(pk=referral.pk).update(created_at=created)
    return Appointment.objects.create(
        slot=slot,
        referral=referral,
        booked_by=h.admin,
        status=status,
        outcome_by=h.photographer if status != AppointmentStatus.BOOKED else None,
        outcome_at=slot.ends_at if status != AppointmentStatus.BOOKED else None,
    )


def _photo(appointment: Appointment, image_type: str, *, status: str, quality: Any = None) -> None:
    lesion = appointment.referral.lesions.first()
    assert lesion is not None and appointment.outcome_by is not None
    LesionImage.objects.create(
        lesion=lesion,
        image_type=image_type,
        status=status,
        quality=quality or {},
        uploaded_by=appointment.outcome_by,
    )


@pytest.fixture
def last_week(world: World) -> tuple[Hub, list[Appointment]]:
    """A clinic a week ago with four slots: attended (photographed, answered 5 days later),
    attended (one usable photo), did not attend, and one left free; and a clinic to come with
    one booking."""
    h = make_hub(world)
    day = timezone.localdate() - timedelta(days=7)
    session = _make_session(h.site, day, time(9), time(10), 15, 1, [h.photographer])
    slots = list(session.slots.order_by("starts_at"))
    full = _visit(h, slots[0], AppointmentStatus.ATTENDED, days_before=10)
    part = _visit(h, slots[1], AppointmentStatus.ATTENDED, days_before=20)
    dna = _visit(h, slots[2], AppointmentStatus.DID_NOT_ATTEND, days_before=3)
    Referral.objects.filter(pk=full.referral_id).update(
        responded_at=full.slot.starts_at + timedelta(days=5, hours=2)
    )
    _photo(full, ImageType.OVERVIEW, status=ImageStatus.READY)
    _photo(full, ImageType.CLOSE_UP, status=ImageStatus.READY, quality=FAILED_CHECK)
    _photo(full, ImageType.DERMOSCOPIC, status=ImageStatus.FAILED)
    _photo(full, ImageType.DERMOSCOPIC, status=ImageStatus.READY)
    _photo(part, ImageType.OVERVIEW, status=ImageStatus.READY)
    upcoming = make_clinic(h)
    _visit(h, upcoming.slots.first(), AppointmentStatus.BOOKED)
    return h, [full, part, dna]


def test_the_figures(last_week: Any) -> None:
    h, (full, _, _) = last_week
    board = dashboard.hub_dashboard(h.admin, h.hub, weeks=4)
    assert board.start == week_start(timezone.localdate()) - timedelta(days=21)
    assert len(board.weeks) == 4
    week = next(w for w in board.weeks if w.week_start == week_start(full.slot.starts_at.date()))
    assert (week.offered, week.booked, week.attended, week.did_not_attend) == (4, 3, 2, 1)
    assert board.totals.attended == 2 and board.totals.did_not_attend == 1
    # One rule: the did-not-attend rule's own count agrees with the weekly rows.
    assert board.dna == dna_counts(h.hub, board.start, board.end)
    assert board.dna.did_not_attend == board.totals.did_not_attend
    assert (board.dna.rebooked, board.dna.returned_to_gp) == (1, 0)
    # Attended visits only: 10 and 20 days from referral; 5 days to the one answer so far.
    assert board.referral_to_appointment == dashboard.LeadTime(2, 15, 20, 20)
    assert board.appointment_to_result == dashboard.LeadTime(1, 5, 5, 5)
    (row,) = board.photographers
    assert row.name == str(h.photographer)
    assert (row.attended, row.did_not_attend, row.not_photographed) == (2, 1, 0)
    assert (row.images, row.lesions, row.complete, row.completeness) == (5, 2, 1, 50)
    assert (row.failed, row.warned) == (1, 1)


def test_a_gp_referral_sent_after_the_photos_counts_from_when_it_was_made(last_week: Any) -> None:
    h, (full, _, _) = last_week
    Referral.objects.filter(pk=full.referral_id).update(
        submitted_at=full.slot.starts_at + timedelta(days=1)
    )
    board = dashboard.hub_dashboard(h.admin, h.hub, weeks=4)
    assert board.referral_to_appointment.counted == 2
    assert board.referral_to_appointment.longest == 20


def test_the_page_is_an_accessible_table_for_the_hubs_administrators(last_week: Any) -> None:
    h, _ = last_week
    client = Client()
    client.force_login(h.admin)
    response = client.get(f"/hubs/{h.hub.pk}/dashboard/?weeks=4")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<caption" in page and 'scope="col"' in page and 'scope="row"' in page
    assert str(h.photographer) in page
    assert f"/hubs/{h.hub.pk}/dashboard.csv?weeks=4" in page
    # The hub page links to it, for administrators only.
    assert f"/hubs/{h.hub.pk}/dashboard/" in client.get(f"/hubs/{h.hub.pk}/").content.decode()
    client.force_login(h.photographer)
    assert f"/hubs/{h.hub.pk}/dashboard/" not in client.get(f"/hubs/{h.hub.pk}/").content.decode()


def test_the_csv_names_no_patient_and_is_audited(last_week: Any) -> None:
    h, visits = last_week
    client = Client()
    client.force_login(h.admin)
    response = client.get(f"/hubs/{h.hub.pk}/dashboard.csv?weeks=4")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    body = response.content.decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert tuple(rows[0]) == dashboard.CSV_COLUMNS
    assert ["photographer", str(h.photographer), "lesions_with_complete_set", "1"] in rows
    assert ["days", "referral_to_appointment", "median", "15"] in rows
    assert ["did_not_attend", "period", "rebooked_once", "1"] in rows
    for referral in (v.referral for v in visits):
        patient = referral.patient
        for secret in (
            patient.nhs_number,
            patient.family_name,
            patient.given_name,
            patient.date_of_birth.isoformat(),
            patient.date_of_birth.strftime("%d/%m/%Y"),
            referral.reference,
        ):
            assert secret not in body, secret
    assert AuditEvent.objects.filter(
        action="clinics.dashboard.export", actor_id=h.admin.pk
    ).exists()


def test_a_name_is_never_a_spreadsheet_formula() -> None:
    assert dashboard._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert dashboard._cell(None) == "" and dashboard._cell(3) == "3"


def test_other_organisations_get_404_and_other_roles_403(world: World, last_week: Any) -> None:
    h, visits = last_week
    _, pia, olga = other_hub(world)
    secrets = [v.referral.patient.nhs_number.encode() for v in visits] + [
        str(h.photographer).encode()
    ]
    refused = {
        world.alice: 404,  # the referring GP
        world.derek: 404,  # the dermatology service
        world.sam: 404,
        pia: 404,  # another hub's photographer and administrator
        olga: 404,
        make_user("rhys", h.hub, Role.REFERRER): 404,  # at the hub, not running its clinics
        h.photographer: 403,  # runs the day, does not see the dashboard
    }
    for path in (f"/hubs/{h.hub.pk}/dashboard/", f"/hubs/{h.hub.pk}/dashboard.csv"):
        for user, code in refused.items():
            client = Client()
            client.force_login(user)
            response = client.get(path)
            assert response.status_code == code, (user, path, response.status_code)
            assert not any(s in response.content for s in secrets), (user, path)
            assert AuditEvent.objects.filter(
                action="access.denied", actor_id=user.pk, request_id=response["X-Request-ID"]
            ).exists(), (user, path)
        assert Client().get(path).status_code == 302  # to the login page
    assert not AuditEvent.objects.filter(action="clinics.dashboard.export").exists()
