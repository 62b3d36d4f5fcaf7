"""Access control as a generated matrix: every object address × every role × {own organisation,
other organisation, anonymous} × {GET, POST, PATCH, DELETE}, plus id and reference enumeration.

The addresses are read from the URL conf (pages, REST API, FHIR, image versions, letters,
exports) and checked against the OpenAPI schema, so an endpoint added later is covered without
anyone listing it here; a route with a parameter this file does not know how to fill fails the
test rather than being skipped. The rules:

- another organisation's user and an anonymous caller never get a 2xx for an object address,
  never see the patient's name, NHS number or email, and change nothing;
- a user of the owning side gets a 2xx only where the visibility rules let them see the
  referral (a dermatology service does not see drafts, for one) and, for workflow actions, only
  when the action is open to them;
- every 403 or 404 of a signed-in user is in the audit trail (`access.denied`, same request id).

The fast version (make test) walks every address and method once per persona with the
personas taken in turn; the full cross product and the own-side writes are
`@pytest.mark.slow`.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.services import VIEWABLE
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.patients.models import Consent, Patient
from dermbridge.patients.services import patients_visible_to
from dermbridge.referrals import permissions
from dermbridge.referrals.models import Lesion, Message, Referral, State
from dermbridge.referrals.tests.test_api_isolation import ACTION_BODIES
from dermbridge.referrals.workflow import TRANSITIONS, available_actions
from dermbridge.testing import World, make_referral, make_user
from dermbridge.web.views.referral import BUTTON_ACTIONS, FORM_ACTIONS

METHODS = ("get", "post", "patch", "delete")
# Routes with no object in them, or covered elsewhere, and why.
NOT_OBJECT_ROUTES = {
    "admin/": "Django admin: staff only (web/tests/test_admin.py)",
    "assets/<path:path>": "a redirect to static files",
    "status/<str:token>/": "the link is the key: anyone holding it may read it (enumeration below)",
    "status/<str:token>/appointment/<int:appointment_pk>/confirm/": "the link is the key; "
    "another patient's link changes nothing (clinics/tests/test_patient_side.py)",
    "status/<str:token>/appointment/<int:appointment_pk>/rebook/": "the link is the key; "
    "another patient's link changes nothing (clinics/tests/test_patient_side.py)",
    "api/(?P<unmatched>[\\s\\S]*)": "the API's catch-all 404",
}
# Addresses built around a hub, not a referral: their own generated matrix is
# clinics/tests/test_isolation.py (every route of the clinics URL confs, every role, other hubs).
OTHER_MATRIX_PREFIXES = (
    "hubs/",
    "api/clinics/",
    # A hub's clinics as FHIR: interop/tests/test_fhir_scheduling.py
    "fhir/Schedule",
    "fhir/Slot",
    "fhir/Appointment",
    # A patient's lesions over time: lesions/tests/test_isolation.py (every route of the
    # lesions URL confs, every role, another service, a patient's link).
    "lesions/",
    "api/lesions/",
    "api/referral-lesions/",
    "api/patients/{patient_id}/lesions/",
    "api/patients/<int:patient_id>/lesions/",
)
PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")
DENIED = {403, 404}


def walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    """Every route of the URL conf as one template string, includes flattened."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            if route in NOT_OBJECT_ROUTES:
                continue
            yield from walk(pattern.url_patterns, route)
        else:
            assert isinstance(pattern, URLPattern)
            yield route.rstrip("$").replace("\\$", "$").replace("\\-", "-")


@dataclass
class Target:
    """One address to try: its path, how it is sent, and whose object it names."""

    path: str
    kind: str  # "page", "api", "fhir"
    owner: str  # "referral", "patient", "service"
    route: str = ""
    action: str = ""
    multipart: bool = False
    binary: bool = False
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Objects:
    referral: Referral
    lesion: Lesion
    image: LesionImage
    service: Organisation

    def secrets(self) -> list[bytes]:
        p = self.referral.patient
        return [s.encode() for s in (p.family_name, p.nhs_number, p.email) if s]


def targets(objs: Objects, *, all_versions: bool = False) -> list[Target]:
    r, lesion, image = objs.referral, objs.lesion, objs.image
    values: dict[str, list[str]] = {
        "pk": [str(r.pk)],
        "lesion_pk": [str(lesion.pk)],
        "image_pk": [str(image.pk)],
        "reference": [r.reference],
        "number": [str(lesion.number)],
        "patient_id": [str(r.patient_id)],
        "image_id": [str(image.pk)],
        "key": [image.media_key],
        "version": list(VIEWABLE) if all_versions else ["viewer"],
    }
    out: list[Target] = []
    for route in walk(get_resolver().url_patterns):
        if route in NOT_OBJECT_ROUTES or route.startswith(OTHER_MATRIX_PREFIXES):
            continue
        names = [a or b for a, b in PARAM.findall(route)]
        kind = "api" if route.startswith("api/") else "fhir" if route.startswith("fhir") else "page"
        if not names:
            continue  # lists and pages with no object: see SCOPED_PAGES below
        owner = "patient" if names == ["patient_id"] else "referral"
        choices = []
        for name in names:
            if name == "action":
                choices.append(list(BUTTON_ACTIONS if "/act/" in route else FORM_ACTIONS))
            else:
                assert name in values, f"a new kind of route parameter to cover: {route}"
                choices.append(values[name])
        for combo in itertools.product(*choices):
            filled = route
            for value in combo:  # each parameter in order of appearance
                filled = PARAM.sub(value.replace("\\", "\\\\"), filled, count=1)
            assert "<" not in filled and "(?P" not in filled, route
            action = dict(zip(names, combo, strict=True)).get("action", "")
            last = filled.rstrip("/").rsplit("/", 1)[-1]
            if kind == "api" and last in ACTION_BODIES:
                action = last
            out.append(
                Target(
                    "/" + filled,
                    kind,
                    owner,
                    route=route,
                    action=action,
                    multipart=filled.endswith(("/images/", "/dicom/", "/photos/")),
                    binary="Binary/" in filled or filled.startswith("images/"),
                    body=ACTION_BODIES.get(action, {}),
                )
            )
    s = objs.service.pk
    out += [
        Target(f"/dashboard/?service={s}", "page", "service"),
        Target(f"/dashboard/referrals.csv?service={s}", "page", "service"),
        Target(f"/worklist/?service={s}", "page", "service"),
    ]
    return out


def scoped_pages(objs: Objects) -> list[tuple[str, str]]:
    """Lists and exports with no object in the address: a 2xx is fine, patient data is not."""
    nhs = objs.referral.patient.nhs_number
    return [
        ("page", "/referrals/"),
        ("page", "/worklist/"),
        ("page", "/dashboard/"),
        ("page", "/letters/"),
        ("page", "/letters/letters.pdf"),
        ("api", "/api/referrals/"),
        ("api", "/api/patients/"),
        ("fhir", f"/fhir/ServiceRequest?patient.identifier={nhs}"),
    ]


def test_the_matrix_covers_every_route_and_every_api_operation(world: World) -> None:
    objs = make_objects(world, State.IN_REVIEW)
    paths = {t.path.split("?")[0] for t in targets(objs)}
    assert len(paths) >= 50, len(paths)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for api_path, operations in schema["paths"].items():
        if "{" not in api_path or api_path.lstrip("/").startswith(OTHER_MATRIX_PREFIXES):
            continue  # lists and creation: scoped_pages and the own-side tests; clinics
        filled = (
            api_path.replace("{reference}", objs.referral.reference)
            .replace("{number}", str(objs.lesion.number))
            .replace("{patient_id}", str(objs.referral.patient_id))
            .replace("{image_id}", str(objs.image.pk))
        )
        assert filled in paths, f"{api_path} ({', '.join(operations)}) is not in the matrix"


# ------------------------------------------------------------------------------- fixtures


def make_objects(world: World, state: str) -> Objects:
    referral = make_referral(world, state=state)
    # Routed through the imaging hub, so the hub's photographer is on the owning side.
    Referral.objects.filter(pk=referral.pk).update(imaging_hub=world.hub)
    referral.refresh_from_db()
    lesion = referral.lesions.get()
    image = LesionImage.objects.filter(lesion=lesion).first()
    assert image is not None
    return Objects(referral, lesion, image, world.service)


def personas(world: World) -> dict[str, dict[str, User | None]]:
    """role -> {"own": user of the owning side, "other": user of another organisation}."""
    hub_b, _ = Organisation.objects.get_or_create(
        ods_code="Y09999",
        defaults={"kind": OrganisationKind.IMAGING_HUB, "name": "Southgate Photo Hub"},
    )
    return {
        Role.REFERRER: {"own": world.alice, "other": world.bob},
        Role.PHOTOGRAPHER: {"own": world.pat, "other": make_user("pia", hub_b, Role.PHOTOGRAPHER)},
        Role.DERMATOLOGIST: {"own": world.derek, "other": world.dora},
        Role.SERVICE_ADMIN: {
            "own": world.sam,
            "other": make_user("olive", world.service_b, Role.SERVICE_ADMIN),
        },
    }


class Caller:
    """One persona's clients: a session for pages, a token for the API and FHIR."""

    def __init__(self, user: User | None) -> None:
        self.user = user
        self.page = Client()
        self.api = APIClient()
        if user is not None:
            self.page.force_login(user)
            token, _ = Token.objects.get_or_create(user=user)
            self.api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    def send(self, target: Target, method: str) -> Any:
        client = self.page if target.kind == "page" else self.api
        if method == "get":
            return client.get(target.path)
        if target.multipart and method == "post":
            photo = SimpleUploadedFile(
                "p.jpg", lesion_photo(64, 48, seed=1, kind="close_up"), content_type="image/jpeg"
            )
            data = {"file": photo, "photos": photo, "image_type": "close_up"}
            if target.path.endswith("/dicom/"):
                data = {"file": io.BytesIO(b"DICM")}
            return client.post(target.path, data)
        if target.kind == "page":
            body = {"text": "hello", "reason": "x", "question": "x", **target.body}
            return getattr(client, method)(target.path, body)
        body = target.body or {"body": "Hello", "clinical_question": "Changed?"}
        return getattr(client, method)(target.path, body, format="json")


def snapshot(referral: Referral) -> tuple[Any, ...]:
    row = Referral.objects.filter(pk=referral.pk)
    return (
        row.values_list("state", "clinical_question", "claimed_by_id").first(),  # None: deleted
        Referral.objects.count(),
        Lesion.objects.count(),
        LesionImage.objects.count(),
        Message.objects.count(),
        Consent.objects.count(),
        Patient.objects.count(),
    )


def audited(response: Any, user: User) -> bool:
    return AuditEvent.objects.filter(
        action="access.denied", actor_id=user.pk, request_id=response["X-Request-ID"]
    ).exists()


def check_outsider(caller: Caller, target: Target, method: str, objs: Objects) -> None:
    """Another organisation or nobody: no 2xx, no patient data, refusals audited."""
    response = caller.send(target, method)
    where = (caller.user, method.upper(), target.path, response.status_code)
    code = response.status_code
    assert not 200 <= code < 300, where
    if caller.user is None:
        if 300 <= code < 400:
            assert response["Location"].startswith("/login/"), where
        else:
            assert code in {401, 403, 404, 405}, where
    else:
        assert code in {403, 404, 405}, where
        if code in DENIED:
            assert audited(response, caller.user), ("refusal not audited", *where)
    if not target.binary and not getattr(response, "streaming", False):
        assert not any(s in response.content for s in objs.secrets()), where


def owner_may(user: User, target: Target, objs: Objects) -> bool:
    if target.owner == "service":
        return objs.service.pk in user.organisation_ids()
    if target.owner == "patient":
        return patients_visible_to(user).filter(pk=objs.referral.patient_id).exists()
    return Referral.objects.visible_to(user).filter(pk=objs.referral.pk).exists()


ACTION_NAMES = {"advice": "give_advice"}


def action_open(user: User, target: Target, referral: Referral) -> bool:
    """A workflow action's success is authorised only when the workflow offers it to this user."""
    name = target.action.replace("-", "_")
    name = ACTION_NAMES.get(name, name)
    if name == "downgrade":
        return permissions.may(user, "downgrade", referral)
    if name not in TRANSITIONS:
        return True  # not a workflow transition (a message, an edit, an upload)
    return name in {t.action for t in available_actions(user, referral)}


def check_insider(caller: Caller, target: Target, method: str, objs: Objects) -> bool:
    """The owning side: a 2xx, or any change at all, only where the rules allow it.
    True when something changed (the caller then starts again on a fresh referral)."""
    assert caller.user is not None
    referral = Referral.objects.filter(pk=objs.referral.pk).first() or objs.referral
    allowed = owner_may(caller.user, target, objs) and (
        method == "get" or action_open(caller.user, target, referral)
    )
    before = snapshot(referral) if method != "get" else ()
    response = caller.send(target, method)
    changed = method != "get" and snapshot(referral) != before
    where = (caller.user, method.upper(), target.path, response.status_code)
    # A page answers PATCH and DELETE by showing itself; only a change counts as success there.
    succeeded = changed or (target.kind != "page" and 200 <= response.status_code < 300)
    if succeeded:
        assert allowed, ("unauthorised success", *where)
    if response.status_code in DENIED:
        assert audited(response, caller.user), ("refusal not audited", *where)
    return changed


# ---------------------------------------------------------------------------- fast version


def test_no_outsider_gets_anything_from_any_object_address(world: World) -> None:
    """Every address × every method, the other-organisation personas and anonymous in turn."""
    objs = make_objects(world, State.IN_REVIEW)
    roles = personas(world)
    callers = [Caller(p["other"]) for p in roles.values()] + [Caller(None)]
    turn = itertools.cycle(callers)
    before = snapshot(objs.referral)
    pairs = [(t, m) for t in targets(objs) for m in METHODS]
    for target, method in pairs:
        check_outsider(next(turn), target, method, objs)
    assert snapshot(objs.referral) == before
    for caller in callers:
        for kind, path in scoped_pages(objs):
            client = caller.page if kind == "page" else caller.api
            response = client.get(path)
            assert not any(s in response.content for s in objs.secrets()), (caller.user, path)


def owning_side_reads(world: World, state: str, *, every_role: bool) -> None:
    objs = make_objects(world, state)
    callers = [Caller(persona["own"]) for persona in personas(world).values()]
    turn = itertools.cycle(callers)
    for target in targets(objs):
        for caller in callers if every_role else [next(turn)]:
            check_insider(caller, target, "get", objs)


def test_the_owning_side_reads_only_what_its_role_may(world: World) -> None:
    """GET of every address by each role of the owning side, on a draft: the referrer and the
    hub read it, the dermatology service (not sent to it yet) gets nothing. The roles take the
    addresses in turn here; the slow version below gives every role every address."""
    owning_side_reads(world, State.DRAFT, every_role=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    "state", [State.DRAFT, State.AWAITING_REVIEW, State.IN_REVIEW, State.CLOSED]
)
def test_the_owning_side_reads_only_what_its_role_may_in_every_state(
    world: World, state: str
) -> None:
    owning_side_reads(world, state, every_role=True)


def test_ids_and_references_cannot_be_enumerated(world: World) -> None:
    """Walking sequential ids, or references next to a real one, finds nothing of another
    organisation: its objects answer exactly like ones that do not exist, and are audited."""
    objs = make_objects(world, State.IN_REVIEW)
    mine = make_referral(world, referrer=world.bob, state=State.DRAFT)
    bob = Caller(world.bob)
    # The ids around this test's objects, table by table (PostgreSQL's sequences are not rolled
    # back between tests and advance at different rates: walking from 1, or across the tables'
    # ranges, would walk every id the session ever used).
    tables = {
        "referral": Referral.objects.all(),
        "patient": Patient.objects.all(),
        "image": LesionImage.objects.all(),
    }
    walks = {
        name: range(max(1, rows.earliest("pk").pk - 3), rows.latest("pk").pk + 3)
        for name, rows in tables.items()
    }
    mine_ids = {
        "referral": {mine.pk},
        "patient": {mine.patient_id},
        "image": set(
            LesionImage.objects.filter(lesion__referral=mine).values_list("pk", flat=True)
        ),
    }
    shapes = {
        "referral": ("page", "/referrals/{}/"),
        "patient": ("api", "/api/patients/{}/"),
        "image": ("api", "/api/images/{}/"),
        "fhir-patient": ("fhir", "/fhir/Patient/{}"),
    }
    for name, (kind, shape) in shapes.items():
        own = mine_ids.get(name.replace("fhir-", ""), set())
        bodies: set[bytes] = set()
        for pk in walks[name.replace("fhir-", "")]:
            response = bob.send(Target(shape.format(pk), kind, "referral"), "get")
            if pk in own:
                assert response.status_code == 200, (name, pk)
                continue
            assert response.status_code == 404, (name, pk, response.status_code)
            assert audited(response, world.bob), (name, pk)
            bodies.add(response.content.replace(f"/{pk}".encode(), b"/ID"))
        assert len(bodies) == 1, (name, "a refusal says more than 'not found'", bodies)
    # References: the real one and its neighbours read the same.
    real = objs.referral.reference
    neighbours = [real[:-1] + c for c in "ABCDEFGHJK" if real[:-1] + c != real][:4]
    for shape, kind in (("/api/referrals/{}/", "api"), ("/fhir/ServiceRequest/{}", "fhir")):
        answers = set()
        for reference in [real, *neighbours]:
            response = bob.send(Target(shape.format(reference), kind, "referral"), "get")
            assert response.status_code == 404
            assert audited(response, world.bob)
            answers.add(response.content.replace(reference.encode(), b"REF"))
        assert len(answers) == 1, answers
    # Patient status links: a guessed token reads like any unknown one.
    guesses = {Client().get(f"/status/{token}/").content for token in ("x" * 43, "y" * 43, real)}
    assert len(guesses) == 1


# ---------------------------------------------------------------------------- full version


@pytest.mark.slow
@pytest.mark.parametrize("state", [State.DRAFT, State.IN_REVIEW, State.ADVICE_GIVEN])
def test_full_matrix_for_outsiders(world: World, state: str) -> None:
    objs = make_objects(world, state)
    callers = [Caller(p["other"]) for p in personas(world).values()] + [Caller(None)]
    before = snapshot(objs.referral)
    for target in targets(objs, all_versions=True):
        for method in METHODS:
            for caller in callers:
                check_outsider(caller, target, method, objs)
    assert snapshot(objs.referral) == before


@pytest.mark.slow
@pytest.mark.parametrize("state", [State.DRAFT, State.IN_REVIEW])
def test_full_matrix_for_the_owning_side_writes(world: World, state: str) -> None:
    """POST, PATCH and DELETE of every address by each owning role, on a referral in `state`
    (a fresh one after any write that succeeded, so each request meets `state`)."""
    callers = [Caller(persona["own"]) for persona in personas(world).values()]
    objs = make_objects(world, state)
    current = targets(objs)
    for index in range(len(current)):
        for caller in callers:
            for method in ("post", "patch", "delete"):
                if check_insider(caller, current[index], method, objs):
                    objs = make_objects(world, state)
                    current = targets(objs)
