"""The histology pages (issue #14 item 4): the service records a report for a lesion sent for
biopsy (every value kept and each error on its field when refused) and lists the lesions
awaiting histology, oldest first; other organisations get 404, other roles 403 or 404; views
are audited."""

from __future__ import annotations

from django.test import Client

from dermbridge.audit.models import AuditEvent
from dermbridge.referrals.models import HistologyResult
from dermbridge.referrals.tests.histology_support import biopsied, request_of
from dermbridge.testing import World

FORM = {
    "report_identifier": "H26-777",
    "laboratory": "City Pathology",
    "reported_on": "2026-11-21",
    "morphology_code": "254701007",
    "margins": "clear",
    "margin_mm": "1.5",
    "report_text": "Basal cell carcinoma, clear margins.",
}


def test_the_service_lists_awaiting_lesions_and_records_a_result(
    client: Client, world: World
) -> None:
    referral = biopsied(world)
    request_id = request_of(referral).biopsy_request_id or ""
    client.force_login(world.derek)
    listed = client.get("/service/histology/").content.decode()
    assert request_id in listed and "Nose" in listed and str(referral.patient) in listed
    assert AuditEvent.objects.filter(action="histology.awaiting_view").exists()
    url = f"/referrals/{referral.pk}/lesions/2/histology/"
    assert f'href="{url}"' in listed
    # From the referral's page too.
    assert f'href="{url}"' in client.get(f"/referrals/{referral.pk}/").content.decode()
    form = client.get(url).content.decode()
    assert "Record histology for lesion 2: Nose" in form and request_id in form
    assert AuditEvent.objects.filter(action="histology.form_view", actor_id=world.derek.pk).exists()
    refused = client.post(
        url, {**FORM, "margins": "", "laboratory": "", "reported_on": "2999-01-01"}
    )
    body = refused.content.decode()
    assert refused.status_code == 400 and 'href="#id_margins_0"' in body
    assert 'href="#id_laboratory"' in body and "H26-777" in body  # nothing typed is lost
    assert not HistologyResult.objects.exists()
    done = client.post(url, FORM)
    assert done.status_code == 302 and done["Location"] == "/service/histology/"
    assert HistologyResult.objects.get().report_identifier == "H26-777"
    after = client.get("/service/histology/").content.decode()
    assert f"Histology recorded for lesion 2 ({request_id})" in after  # the flash message
    assert "No lesions are awaiting histology." in after
    # A lesion that was not sent for biopsy has no histology page.
    assert client.get(f"/referrals/{referral.pk}/lesions/1/histology/").status_code == 404


def test_nobody_else_sees_or_records_histology(client: Client, world: World) -> None:
    referral = biopsied(world)
    url = f"/referrals/{referral.pk}/lesions/2/histology/"
    client.force_login(world.dora)  # another organisation's dermatologist
    assert client.get(url).status_code == 404 and client.post(url, FORM).status_code == 404
    assert referral.reference not in client.get("/service/histology/").content.decode()
    client.force_login(world.bob)  # another practice's GP
    assert client.get(url).status_code == 404
    assert client.get("/service/histology/").status_code == 404
    for user in (world.alice, world.pat):  # the referring GP; a photographer
        client.force_login(user)
        assert client.get(url).status_code in (403, 404)
        assert client.post(url, FORM).status_code in (403, 404)
        assert client.get("/service/histology/").status_code == 404
    anonymous = Client()
    assert anonymous.get(url).status_code == 302 and anonymous.post(url, FORM).status_code == 302
    assert anonymous.get("/service/histology/").status_code == 302
    assert not HistologyResult.objects.exists()


def test_the_gp_and_the_api_see_each_lesion_s_histology(client: Client, world: World) -> None:
    from dermbridge.referrals.tests.api_support import api_client

    referral = biopsied(world)
    client.force_login(world.derek)
    client.post(f"/referrals/{referral.pk}/lesions/2/histology/", FORM)
    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Basal cell carcinoma of skin (21 Nov 2026; margins clear, 1.5 mm)" in page
    assert "Record histology" not in page  # the GP does not record it
    lesions = (
        api_client(world.alice)
        .get(f"/api/referrals/{referral.reference}/outcome/")
        .json()["lesions"]
    )
    assert lesions[0]["histology"] == []
    (result,) = lesions[1]["histology"]
    assert (result["morphology_code"], result["margins"], result["margin_mm"]) == (
        "254701007",
        "clear",
        "1.5",
    )


def test_the_same_report_number_from_another_lab_or_service_is_its_own_report(
    client: Client, world: World
) -> None:
    """Report numbers typed on the page are the lab's own: another laboratory's (or another
    service's) report with the same number is recorded, not refused as a duplicate that would
    also tell them someone else holds it."""
    first, second = biopsied(world), biopsied(world)
    other_service = biopsied(world, service=world.service_b)
    client.force_login(world.derek)
    assert client.post(f"/referrals/{first.pk}/lesions/2/histology/", FORM).status_code == 302
    other_lab = {**FORM, "laboratory": "County Cellular Pathology"}
    assert client.post(f"/referrals/{second.pk}/lesions/2/histology/", other_lab).status_code == 302
    client.force_login(world.dora)
    assert (
        client.post(f"/referrals/{other_service.pk}/lesions/2/histology/", FORM).status_code == 302
    )
    assert HistologyResult.objects.filter(report_identifier="H26-777").count() == 3


def test_someone_working_for_two_services_chooses_which_list(client: Client, world: World) -> None:
    from dermbridge.accounts.models import Role
    from dermbridge.testing import make_user

    city, county = biopsied(world), biopsied(world, service=world.service_b)
    both = make_user("bea.both", world.service, Role.DERMATOLOGIST)
    make_user("bea.both", world.service_b, Role.DERMATOLOGIST)
    client.force_login(both)
    city_id = request_of(city).biopsy_request_id or ""
    county_id = request_of(county).biopsy_request_id or ""
    first = client.get("/service/histology/").content.decode()
    chosen = client.get(f"/service/histology/?service={world.service_b.pk}").content.decode()
    lists = {city_id in first, county_id in first}, {city_id in chosen, county_id in chosen}
    assert lists == ({True, False}, {True, False}) and first != chosen
    assert county_id in chosen and f"?service={world.service.pk}" in chosen
    # Someone of one service asking for another's list gets their own.
    client.force_login(world.derek)
    own = client.get(f"/service/histology/?service={world.service_b.pk}").content.decode()
    assert county_id not in own and city_id in own


def test_an_imaging_hubs_administrator_has_no_service_pages(client: Client, world: World) -> None:
    """The hub's administrator holds the same role at the hub, which is no dermatology service:
    the awaiting-histology list, the service dashboard and the concordance page are not theirs
    (a Chromium walk found them answering 200 with the hub's empty lists)."""
    from dermbridge.accounts.models import Role
    from dermbridge.testing import make_user

    biopsied(world)
    hub_admin = make_user("hana.hubadmin", world.hub, Role.SERVICE_ADMIN)
    client.force_login(hub_admin)
    assert client.get("/service/histology/").status_code == 404
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/dashboard/concordance/").status_code == 403
