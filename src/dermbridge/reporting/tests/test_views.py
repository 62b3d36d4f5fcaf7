"""The dashboard page and CSV export: who may see them, what they show, and what they never show."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from dermbridge.audit.models import AuditEvent
from dermbridge.referrals.models import Outcome, Referral, new_reference
from dermbridge.reporting.services import EXPORT_COLUMNS
from dermbridge.reporting.tests.conftest import Clinic

pytestmark = pytest.mark.django_db
PERIOD_QUERY = "start=2026-10-05&end=2026-11-18"


def _page(client: Client, user: Any, query: str = PERIOD_QUERY) -> Any:
    client.force_login(user)
    return client.get(f"/dashboard/?{query}")


@pytest.mark.parametrize("persona", ["sam", "derek"])
def test_it_shows_the_service_dashboard_to_its_staff(
    client: Client, clinic: Clinic, persona: str
) -> None:
    """GIVEN City Hospital's administrator or dermatologist WHEN they open the dashboard for
    5 October to 18 November THEN they see the period's numbers, two charts each with a title,
    description and a data table, and an audit event records the view."""
    user = getattr(clinic.world, persona)
    response = _page(client, user)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Service dashboard" in body and "City Hospital Dermatology" in body
    assert 'role="img"' in body and body.count("<svg") == 2
    assert '<title id="weekly-title">Referrals submitted per week' in body
    assert '<desc id="weekly-desc">7 weeks, 12 referrals in all.' in body
    # (FDS and open-case numbers depend on today's date: test_services pins the clock.)
    assert '<title id="fds-title">Faster Diagnosis Standard' in body
    assert "Referrals submitted per week (Monday to Sunday), by pathway" in body  # data table
    assert "57%" in body  # 4 of 7 outcomes managed without face to face
    assert "4 of 7 outcomes" in body
    assert "0.8 working days" in body and "3.4 working days" in body  # A&G median and p90
    # No inline styles or scripts: the content security policy would block them.
    assert "style=" not in body and "<script>" not in body
    # Aggregates only: no patient names or NHS numbers.
    for referral in clinic.refs.values():
        assert referral.patient.family_name not in body
        assert referral.patient.nhs_number not in body
    event = AuditEvent.objects.filter(action="report.view").latest("seq")
    assert event.actor_id == user.pk and event.organisation_id == clinic.world.service.pk


@pytest.mark.parametrize("persona", ["alice", "bob", "pat"])
def test_it_refuses_referrers_and_photographers(
    client: Client, clinic: Clinic, persona: str
) -> None:
    user = getattr(clinic.world, persona)
    for url in ("/dashboard/", f"/dashboard/referrals.csv?{PERIOD_QUERY}"):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 403
        body = response.content.decode()
        assert clinic.reference("a1") not in body and "City Hospital" not in body
    assert not AuditEvent.objects.filter(action__startswith="report.", actor_id=user.pk).exists()


def test_it_hides_another_services_dashboard(client: Client, clinic: Clinic) -> None:
    """GIVEN dora, a dermatologist at County Dermatology WHEN she asks for City Hospital's
    dashboard or export THEN she gets 404 and nothing is exported; her own dashboard counts
    only County's referral."""
    city = clinic.world.service.pk
    client.force_login(clinic.world.dora)
    assert client.get(f"/dashboard/?service={city}&{PERIOD_QUERY}").status_code == 404
    assert client.get(f"/dashboard/referrals.csv?service={city}&{PERIOD_QUERY}").status_code == 404
    assert client.get("/dashboard/?service=nonsense").status_code == 404
    assert not AuditEvent.objects.filter(action="report.export").exists()
    own = _page(client, clinic.world.dora).content.decode()
    assert "County Dermatology" in own and "City Hospital" not in own
    assert '<desc id="weekly-desc">7 weeks, 1 referral in all.' in own
    export = client.get(f"/dashboard/referrals.csv?{PERIOD_QUERY}").content.decode()
    assert clinic.reference("county") in export and clinic.reference("a1") not in export


def test_it_exports_the_rows_without_identifiers_and_audits_it(
    client: Client, clinic: Clinic
) -> None:
    """GIVEN sam WHEN he downloads the period's referrals THEN the CSV has one row per referral
    with the agreed columns, no patient name, NHS number or date of birth, and the export is
    in the audit trail with its period and row count."""
    client.force_login(clinic.world.sam)
    response = client.get(f"/dashboard/referrals.csv?{PERIOD_QUERY}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="dermbridge-RXX01-2026-10-05-2026-11-18.csv"'
    )
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert (
        tuple(rows[0])
        == EXPORT_COLUMNS
        == (
            "reference",
            "kind",
            "state",
            "submitted",
            "due",
            "responded",
            "patient_told",
            "decision",
            "within_target",
        )
    )
    assert len(rows) == 13
    by_ref = {r[0]: r for r in rows[1:]}
    assert by_ref[clinic.reference("a3")][2:] == [
        "advice_given",
        "2026-11-09T09:00+00:00",
        "2026-11-11T09:00+00:00",
        "2026-11-13T09:00+00:00",
        "",
        "advice",
        "no",
    ]
    for referral in clinic.refs.values():
        patient = referral.patient
        assert patient.nhs_number not in text and patient.family_name not in text
        assert str(patient.date_of_birth) not in text
    event = AuditEvent.objects.get(action="report.export")
    assert event.actor_id == clinic.world.sam.pk
    assert event.organisation_id == clinic.world.service.pk
    assert event.detail == {
        "report": "referrals.csv",
        "start": "2026-10-05",
        "end": "2026-11-18",
        "rows": 12,
    }


def test_it_explains_a_bad_period_and_exports_nothing(client: Client, clinic: Clinic) -> None:
    client.force_login(clinic.world.sam)
    page = client.get("/dashboard/?start=2026-11-18&end=2026-10-05")
    assert page.status_code == 200
    body = page.content.decode()
    # Every error names its field (issue #9): "End date: the end date must be ...".
    assert "There is a problem" in body
    assert "the end date must be the same as or after" in body.lower()
    export = client.get("/dashboard/referrals.csv?start=2026-11-18&end=2026-10-05")
    assert export.status_code == 400
    assert not AuditEvent.objects.filter(action="report.export").exists()


def test_it_asks_anonymous_visitors_to_sign_in(client: Client, clinic: Clinic) -> None:
    response = client.get("/dashboard/referrals.csv")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_links_the_dashboard_for_service_staff_only(client: Client, clinic: Clinic) -> None:
    client.force_login(clinic.world.sam)
    assert 'href="/dashboard/"' in client.get("/worklist/").content.decode()
    client.force_login(clinic.world.alice)
    assert 'href="/dashboard/"' not in client.get("/referrals/").content.decode()


def _clone(referral: Referral, copies: int) -> None:
    """More referrals like this one, with their outcomes (bulk, to keep the test fast)."""
    source = Referral.objects.get(pk=referral.pk)
    outcome = Outcome.objects.filter(referral=source).first()
    for _ in range(copies):
        source.pk, source.id, source.reference = None, None, new_reference()
        source.save()
        if outcome is not None:
            outcome.pk, outcome.id, outcome.referral = None, None, source
            outcome.save()


def test_it_renders_in_the_same_number_of_queries_however_many_referrals(
    client: Client, clinic: Clinic, django_assert_max_num_queries: Any
) -> None:
    """GIVEN the dashboard's query count for the clinic WHEN 40 more referrals (with outcomes)
    arrive THEN the page and the export take no more queries than before."""
    client.force_login(clinic.world.sam)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    page_url, export_url = f"/dashboard/?{PERIOD_QUERY}", f"/dashboard/referrals.csv?{PERIOD_QUERY}"
    page_before, export_before = queries(page_url), queries(export_url)
    for name in ("a1", "r2", "u1", "u3"):
        _clone(clinic.refs[name], 10)
    with django_assert_max_num_queries(page_before):
        body = client.get(page_url).content.decode()
    assert '<desc id="weekly-desc">7 weeks, 52 referrals in all.' in body
    with django_assert_max_num_queries(export_before):
        assert len(client.get(export_url).content.decode().splitlines()) == 53


def test_a_refusal_is_a_page_of_the_site_with_a_way_back(client: Client, clinic: Clinic) -> None:
    """A refused (403) or hidden (404) page has the site's header and offers the user's start
    page, instead of a bare server page with no way back (seen in a Chromium walk as a hub
    administrator and a photographer); it names nobody, not even the user."""
    client.force_login(clinic.world.alice)
    refused = client.get("/dashboard/")
    assert refused.status_code == 403
    body = refused.content.decode()
    assert "This page is not available to you" in body and "Go to your start page" in body
    assert 'class="nhsuk-header' in body and str(clinic.world.alice) not in body
    client.force_login(clinic.world.dora)
    hidden = client.get(f"/dashboard/?service={clinic.world.service.pk}")
    assert hidden.status_code == 404
    body = hidden.content.decode()
    assert "Page not found" in body and "City Hospital" not in body
