"""Schemathesis against the published OpenAPI schema: no server errors, no undocumented answers.

The schema is loaded from the running Django app through WSGI, and every operation is called
with generated data as alice (a referrer) and derek (a dermatologist), with path parameters
drawn both from real objects in the database and from the generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dermbridge.imaging.models import LesionImage
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral
from dermbridge.wsgi import application

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Let WSGI requests share the test's transaction, as Django's own test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(world: World, wsgi_in_test_transaction: None) -> Any:
    return schemathesis.openapi.from_wsgi("/api/schema/", application)


def real_ids(world: World) -> dict[str, list[Any]]:
    """Objects the generated requests may name, in every state the API answers about."""
    referrals = [
        make_referral(world),
        make_referral(world, state=State.AWAITING_REVIEW, kind="usc"),
        make_referral(world, state=State.IN_REVIEW, kind="ag"),
        make_referral(world, state=State.TRIAGED),
    ]
    return {
        "reference": [r.reference for r in referrals],
        "patient_id": [r.patient_id for r in referrals],
        "image_id": list(
            LesionImage.objects.filter(lesion__referral__in=referrals).values_list("pk", flat=True)
        ),
        "number": [1, 2],
    }


def fuzz_operation(
    operation: Any,
    headers: dict[str, str],
    ids: dict[str, list[Any]],
    max_examples: int,
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> None:
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def check(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            if name in ids and data.draw(st.booleans()):
                case.path_parameters[name] = data.draw(st.sampled_from(ids[name]))
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:
        # An operation with no parameters and no body has nothing to make invalid.
        if mode != GenerationMode.NEGATIVE:
            raise


def fuzz(
    api_schema: Any,
    world: World,
    max_examples: int,
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> int:
    """Call every /api/ operation with generated cases; returns how many were run."""
    ids = real_ids(world)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith("/api/")]
    assert len(operations) >= 20
    for persona in (world.alice, world.derek):
        token, _ = Token.objects.get_or_create(user=persona)
        headers = {"Authorization": f"Token {token.key}"}
        for operation in operations:
            fuzz_operation(operation, headers, ids, max_examples, mode)
    return len(operations)


def test_the_api_answers_generated_requests_as_its_schema_says(api_schema, world):
    """GIVEN the published OpenAPI schema WHEN schemathesis calls every operation with
    generated data THEN no answer is a server error or differs from what the schema says."""
    assert fuzz(api_schema, world, max_examples=3) >= 20  # 30 in make bench (below)


@pytest.mark.slow
def test_the_api_survives_a_longer_fuzzing_run(api_schema, world):
    assert fuzz(api_schema, world, max_examples=30) >= 20


@pytest.mark.slow
def test_the_api_refuses_invalid_requests_as_documented(api_schema, world):
    """Requests that break the schema (wrong types, missing fields) get documented 4xx answers."""
    assert fuzz(api_schema, world, max_examples=15, mode=GenerationMode.NEGATIVE) >= 20


def test_the_schema_describes_uploads_actions_and_errors(client):
    schema = client.get("/api/schema/?format=json").json()
    upload = schema["paths"]["/api/referrals/{reference}/lesions/{number}/images/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert set(upload["responses"]) >= {"202", "400", "401", "403", "404", "409"}
    triage = schema["paths"]["/api/referrals/{reference}/triage/"]["post"]
    body = triage["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/TriageRequest")
    assert triage["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Error"
    )
    assert "tokenAuth" in schema["components"]["securitySchemes"]
