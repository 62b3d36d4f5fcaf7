"""Every clinics page and API address, read from the app's URL conf rather than listed by hand,
tried by another organisation's users in every role, by people at the hub in roles that do not
run its clinics, and by nobody: no 2xx, no patient data, nothing changed, refusals audited. A
hub photographer may use the pages and the API but not define clinics (403). Another hub's
staff naming their own hub with this hub's objects get 404.

(core/tests/test_access_matrix.py leaves these addresses to this file: its matrix is built
around one referral, these around a hub.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.test import Client
from django.urls import URLPattern
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.accounts.models import Role, User
from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import api_urls, urls
from dermbridge.clinics.models import Appointment, ClinicSession, Closure, SessionTemplate, Site
from dermbridge.clinics.tests.support import (
    clinic_today,
    hub_referral,
    make_clinic,
    make_hub,
    other_hub,
)
from dermbridge.notifications.models import OutboxMessage
from dermbridge.patients.models import Consent
from dermbridge.referrals.models import Lesion, Message
from dermbridge.testing import World, make_user

PARAM = re.compile(r"<int:(\w+)>")
# The appointment changes a photographer makes (tested in test_pages.py and test_visit.py).
CHANGES = {"move", "cancel", "visit", "identity", "consent", "lesions", "outcome"}
ADMIN_ONLY = {"sites", "sessions", "templates", "generate", "closures"}
# Pages only the hub's administrators may even read (GET): the hub dashboard and its CSV.
ADMIN_PAGES = {"dashboard", "dashboard.csv"}
BODY = {
    "name": "X",
    "address": "Y",
    "day": "2030-01-02",
    "start": "09:00",
    "end": "10:00",
    "slot_minutes": "15",
    "capacity": "1",
    "weekday": "1",
    "weeks": "1",
    "reason": "Because",
    "outcome": "attended",
}


def addresses(values: dict[str, int]) -> Iterator[tuple[str, str]]:
    """(kind, path) for every clinics route, filled in with `values`."""
    for kind, prefix, conf in (("page", "/hubs/", urls), ("api", "/api/", api_urls)):
        for pattern in conf.urlpatterns:
            assert isinstance(pattern, URLPattern)
            route = str(pattern.pattern)
            for name in PARAM.findall(route):
                assert name in values, f"a new kind of route parameter to cover: {route}"
                route = route.replace(f"<int:{name}>", str(values[name]))
            assert "<" not in route, route
            yield kind, prefix + route


def state() -> tuple[Any, ...]:
    return (
        list(
            Appointment.objects.order_by("pk").values_list(
                "pk", "status", "slot_id", "identity_checked_at", "consent_recorded_at"
            )
        ),
        Lesion.objects.count(),
        Consent.objects.count(),
        Message.objects.count(),
        ClinicSession.objects.count(),
        SessionTemplate.objects.count(),
        Closure.objects.count(),
        Site.objects.count(),
        OutboxMessage.objects.count(),
    )


class Caller:
    def __init__(self, user: User | None) -> None:
        self.user = user
        self.page, self.api = Client(), APIClient()
        if user is not None:
            self.page.force_login(user)
            token, _ = Token.objects.get_or_create(user=user)
            self.api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    def send(self, kind: str, method: str, path: str) -> Any:
        if kind == "page":
            return getattr(self.page, method)(path, BODY if method == "post" else None)
        return getattr(self.api, method)(path, BODY if method == "post" else None, format="json")


def world_with_appointments(world: World) -> tuple[Any, dict[str, int], list[bytes]]:
    h = make_hub(world)
    make_clinic(h)
    referral = hub_referral(h)
    from dermbridge.clinics import services

    future = services.book(h.photographer, referral, hub=h.hub, site=h.site)
    today = clinic_today(h).slots.first()
    assert today is not None
    second = hub_referral(h)
    Appointment.objects.create(slot=today, referral=second, booked_by=h.photographer)
    values = {
        "hub_pk": h.hub.pk,
        "hub_id": h.hub.pk,
        "referral_pk": referral.pk,
        "appointment_pk": future.pk,
        "appointment_id": future.pk,
    }
    secrets = [
        s.encode()
        for r in (referral, second)
        for s in (r.patient.family_name, r.patient.nhs_number)
    ]
    return h, values, secrets


def refused_and_audited(
    caller: Caller, kind: str, method: str, path: str, secrets: list[bytes]
) -> None:
    response = caller.send(kind, method, path)
    code = response.status_code
    where = (caller.user, method, path, code)
    assert not 200 <= code < 300, where
    if caller.user is None:
        if kind == "page":
            assert code == 302 and response["Location"].startswith("/login/"), where
        else:
            assert code in {401, 403}, where
    else:
        assert code in {403, 404, 405}, where
        if code in {403, 404}:
            assert AuditEvent.objects.filter(
                action="access.denied",
                actor_id=caller.user.pk,
                request_id=response["X-Request-ID"],
            ).exists(), ("refusal not audited", *where)
    assert not any(s in response.content for s in secrets), where


def test_every_clinics_address_is_closed_to_everyone_outside_the_hubs_staff(world: World) -> None:
    h, values, secrets = world_with_appointments(world)
    hub_b, pia, olga = other_hub(world)
    outsiders: list[User | None] = [
        world.alice,  # the referring practice's GP
        world.bob,
        world.derek,  # the dermatology service that will read the photos
        world.sam,
        world.dora,
        pia,  # another hub's photographer and administrator
        olga,
        make_user("rhys", h.hub, Role.REFERRER),  # at the hub, in roles that do not run it
        make_user("dana", h.hub, Role.DERMATOLOGIST),
        None,
    ]
    targets = [t for t in addresses(values) if t[1] != "/hubs/"]
    assert len(targets) == 19 + 6, targets
    before = state()
    for outsider in outsiders:
        caller = Caller(outsider)
        for kind, path in targets:
            for method in ("get", "post"):
                refused_and_audited(caller, kind, method, path, secrets)
    # Another hub's staff naming their own hub, with this hub's objects: still nothing.
    own_hub = {**values, "hub_pk": hub_b.pk, "hub_id": hub_b.pk}
    for person in (pia, olga):
        caller = Caller(person)
        for kind, path in addresses(own_hub):
            if (
                path == "/hubs/"
                or path.rstrip("/").endswith(f"/{hub_b.pk}")
                or path.endswith(
                    (
                        "/bookings/",
                        "/day/",
                        "/slots/",
                        "/appointments/",
                        "/dashboard/",
                        "/dashboard.csv",
                        *(f"/{a}/" for a in ADMIN_ONLY),
                    )
                )
            ):
                continue  # their own hub's lists and forms: theirs to use
            for method in ("get", "post"):
                refused_and_audited(caller, kind, method, path, secrets)
    # The index names no hub: it sends hub staff to their own hub and refuses everyone else.
    assert Caller(pia).page.get("/hubs/")["Location"] == f"/hubs/{hub_b.pk}/"
    for outsider in (world.alice, world.derek, world.sam):
        assert Caller(outsider).page.get("/hubs/").status_code == 403
    assert state() == before


def test_a_photographer_runs_the_day_but_does_not_define_clinics(world: World) -> None:
    h, values, _ = world_with_appointments(world)
    caller = Caller(h.photographer)
    before = state()
    for kind, path in addresses(values):
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if kind == "page" and last in ADMIN_ONLY:
            response = caller.send(kind, "post", path)
            assert response.status_code == 403, path
            assert AuditEvent.objects.filter(
                action="access.denied", request_id=response["X-Request-ID"]
            ).exists()
        elif kind == "page" and last in ADMIN_PAGES:
            response = caller.send(kind, "get", path)
            assert response.status_code == 403, path
            assert AuditEvent.objects.filter(
                action="access.denied", request_id=response["X-Request-ID"]
            ).exists()
        elif kind == "page" and last in CHANGES:
            continue  # changes: tested in test_pages.py and test_visit.py
        elif not path.endswith(tuple(f"/{c}/" for c in CHANGES)):
            response = caller.send(kind, "get", path)
            assert response.status_code in {200, 302}, (path, response.status_code)
    assert state() == before
