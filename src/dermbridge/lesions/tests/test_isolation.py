"""Every lesions page and API address, read from the app's URL confs rather than listed by hand,
tried by everyone who must not use them: the referring GP and another practice, the imaging hub's
photographer, the service's own administrator, another service's dermatologist, a patient holding
their status link, and nobody. No 2xx, no patient data, nothing changed, refusals audited. The
service's dermatologist may use every address (the positive control)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import URLPattern
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.accounts.models import Role, User
from dermbridge.audit.models import AuditEvent
from dermbridge.lesions import api_urls, urls
from dermbridge.lesions.models import LesionEncounter, LinkChange, PatientLesion
from dermbridge.lesions.tests.support import visit
from dermbridge.notifications.services import issue_status_link
from dermbridge.personas import World, make_user

PARAM = re.compile(r"<int:(\w+)>")
POSTS = {"link", "monitor"}


def addresses(values: dict[str, int]) -> Iterator[tuple[str, str]]:
    for kind, prefix, conf in (("page", "/lesions/", urls), ("api", "/api/", api_urls)):
        for pattern in conf.urlpatterns:
            assert isinstance(pattern, URLPattern)
            route = str(pattern.pattern)
            for name in PARAM.findall(route):
                assert name in values, f"a new kind of route parameter to cover: {route}"
                route = route.replace(f"<int:{name}>", str(values[name]))
            yield kind, prefix + route


def state() -> tuple[Any, ...]:
    return (
        list(LesionEncounter.objects.order_by("pk").values_list("pk", "patient_lesion_id", "how")),
        list(PatientLesion.objects.order_by("pk").values_list("pk", "monitor_until")),
        LinkChange.objects.count(),
    )


class Caller:
    def __init__(self, user: User | None, status_link: str = "") -> None:
        self.user = user
        self.page, self.api = Client(), APIClient()
        if user is not None:
            self.page.force_login(user)
            token, _ = Token.objects.get_or_create(user=user)
            self.api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        if status_link:
            assert self.page.get(status_link).status_code == 200
            assert self.api.get(status_link).status_code == 200

    def send(self, kind: str, method: str, path: str, body: dict[str, str]) -> Any:
        client = self.page if kind == "page" else self.api
        if method == "get":
            return client.get(path)
        if kind == "api":
            return client.post(path, body, format="json")
        return client.post(path, body)


def lesion_world(world: World) -> tuple[dict[str, int], dict[str, str], list[bytes], str]:
    first = visit(world, None, size=4, days_ago=400)
    later = visit(world, first.patient, size=6)
    tracked = PatientLesion.objects.get()
    lesion = later.lesions.get()
    encounter = LesionEncounter.objects.get(lesion=first.lesions.get())
    values = {
        "patient_pk": first.patient_id,
        "patient_id": first.patient_id,
        "lesion_pk": tracked.pk,
        "lesion_id": tracked.pk,
        "encounter_pk": encounter.pk,
        "referral_lesion_id": lesion.pk,
        "referral_lesion_pk": lesion.pk,
    }
    body = {
        f"l{lesion.pk}-patient_lesion": str(tracked.pk),
        "patient_lesion": "new",  # the API's (after the page linked it: a re-link)
        "monitor_until": "2099-01-01",
    }
    patient = first.patient
    secrets = [s.encode() for s in (patient.family_name, patient.nhs_number, tracked.uid)]
    link = issue_status_link(first).removeprefix(settings.SITE_URL)
    return values, body, secrets, link


def test_every_lesions_address_is_closed_to_everyone_but_the_services_dermatologists(
    world: World,
) -> None:
    values, body, secrets, link = lesion_world(world)
    targets = list(addresses(values))
    assert len(targets) == 5 + 3, targets
    outsiders: list[tuple[User | None, str]] = [
        (world.alice, ""),  # the referring GP: sees the referral, not the lesion record
        (world.bob, ""),
        (world.pat, ""),  # the imaging hub's photographer
        (world.sam, ""),  # the service's own administrator (not clinical)
        (world.dora, ""),  # another service's dermatologist
        (make_user("rita", world.service, Role.REFERRER), ""),  # at the service, other role
        (make_user("phil", world.service, Role.PHOTOGRAPHER), ""),
        (None, link),  # the patient, holding their status link
        (None, ""),
    ]
    before = state()
    for user, status_link in outsiders:
        caller = Caller(user, status_link)
        for kind, path in targets:
            for method in ("get", "post"):
                response = caller.send(kind, method, path, body)
                code = response.status_code
                where = (user, bool(status_link), method, path, code)
                assert not 200 <= code < 300, where
                if user is None:
                    if kind == "page":
                        assert code == 302 and "/login/" in response["Location"], where
                    else:
                        assert code in {401, 403}, where
                else:
                    assert code in {403, 404, 405}, where
                    if code in {403, 404}:
                        assert AuditEvent.objects.filter(
                            action="access.denied",
                            actor_id=user.pk,
                            request_id=response["X-Request-ID"],
                        ).exists(), ("refusal not audited", *where)
                assert not any(s in response.content for s in secrets), where
    assert state() == before


def test_the_services_dermatologist_uses_every_address_and_each_read_is_audited(
    world: World,
) -> None:
    values, body, _, _ = lesion_world(world)
    caller = Caller(world.derek)
    for kind, path in addresses(values):
        method = "post" if POSTS & set(path.split("/")) else "get"
        before = AuditEvent.objects.count()
        response = caller.send(kind, method, path, body)
        assert response.status_code in {200, 302}, (path, response.status_code)
        assert AuditEvent.objects.count() > before, ("not audited", path)


def test_another_services_visits_stay_hidden_from_a_shared_lesion(world: World) -> None:
    """A dermatologist at County sees the patient's lesion through County's referral only: the
    City referral's visit (and its reference) is not shown to them."""
    values, _, _, _ = lesion_world(world)
    patient_id = values["patient_id"]
    city = PatientLesion.objects.get()
    from dermbridge.patients.models import Patient
    from dermbridge.personas import make_referral
    from dermbridge.referrals.models import State

    county = make_referral(
        world,
        state=State.AWAITING_REVIEW,
        service=world.service_b,
        patient=Patient.objects.get(pk=patient_id),
    )
    caller = Caller(world.dora)
    page = caller.page.get(f"/lesions/patients/{patient_id}/")
    assert page.status_code == 200
    city_refs = [
        e.lesion.referral.reference for e in city.encounters.select_related("lesion__referral")
    ]
    assert all(ref.encode() not in page.content for ref in city_refs)
    assert county.reference.encode() in page.content
    # Their own API answer lists no City visit either.
    data = caller.api.get(f"/api/patients/{patient_id}/lesions/").json()
    seen = {e["referral"] for lesion in data for e in lesion["encounters"]}
    assert not seen & set(city_refs)
    # And City's lesion itself, seen only through City's referrals, is not theirs to open.
    assert caller.api.get(f"/api/lesions/{city.pk}/").status_code == 404
    assert caller.page.get(f"/lesions/{city.pk}/compare/").status_code == 404
    before = state()
    refused = caller.page.post(f"/lesions/{city.pk}/monitor/", {"monitor_until": "2099-01-01"})
    assert refused.status_code == 404 and state() == before
    # Nor is it offered to them, nor may they link their own lesion to it (which would open it):
    # the reviewer's scenario, where the link then showed City's references on the comparison.
    county_lesion = county.lesions.get()
    if not LesionEncounter.objects.filter(lesion=county_lesion).exists():
        from dermbridge.lesions import services as lesion_services

        assert city.pk not in {
            s.patient_lesion.pk for s in lesion_services.suggestions(county_lesion)
        }
    assert f'value="{city.pk}"'.encode() not in page.content
    before = state()
    linked = caller.api.post(
        f"/api/referral-lesions/{county_lesion.pk}/link/",
        {"patient_lesion": str(city.pk)},
        format="json",
    )
    assert linked.status_code == 404 and state() == before
    page_link = caller.page.post(
        f"/lesions/link/{county_lesion.pk}/",
        {"patient_lesion": str(city.pk), "reason": "same"},
    )
    assert page_link.status_code in (400, 404) and state() == before
    assert caller.page.get(f"/lesions/{city.pk}/compare/").status_code == 404
