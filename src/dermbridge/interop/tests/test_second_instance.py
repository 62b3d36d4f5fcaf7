"""The FHIR round trip to a second DermBridge: another process, its own data directory, its own
SQLite database and key store, its own task worker. Referral -> Bundle -> POST /fhir over HTTP
-> the same referral content read back through the second instance's own FHIR API and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dermbridge.core.scaled import free_port
from dermbridge.core.tests.harness import subprocess_env
from dermbridge.interop.services import fhir_bundle
from dermbridge.referrals.models import Referral
from dermbridge.testing import World

pytestmark = pytest.mark.django_db(transaction=True)


class Instance:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.base = env, f"http://127.0.0.1:{port}"
        self.token = ""

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dermbridge.manage", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"dermbridge {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 - loopback, our own server
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Token {self.token}",
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def second(tmp_path: Path) -> Iterator[Instance]:
    """A fresh DermBridge that knows the same organisations (by ODS code) and people."""
    env = subprocess_env(tmp_path / "second")
    port = free_port()
    instance = Instance(env, port)
    instance.cli("migrate", "--noinput", "-v0")
    instance.cli("shell", "-c", "from dermbridge.testing import make_world; make_world()")
    instance.token = instance.cli("issue-token", "alice").strip().split()[-1]
    log = (tmp_path / "second.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "dermbridge.manage", "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{instance.base}/fhir/metadata", timeout=5):  # noqa: S310
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"the second instance did not start: {(tmp_path / 'second.log').read_text()[-1500:]}"
                    )
                time.sleep(0.3)
        yield instance
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


# A second server instance (its own database and migrations, ~1.5 minutes): make bench. Fast
# sibling in make test: test_fhir_api.py's round trip through a transaction bundle.
@pytest.mark.slow
def test_a_referral_round_trips_to_a_second_instance(
    world: World, photographed: Referral, second: Instance
) -> None:
    """GIVEN a referral with three processed photos here
    WHEN its Bundle is POSTed to /fhir on another DermBridge, whose worker then processes the images
    THEN that instance holds a draft with the same kind, question, history, lesion site and
    side, and three ready images, read back through its own FHIR API and `referrals --json`."""
    bundle = fhir_bundle(photographed, user=world.alice)
    status, answer = second.call("POST", "/fhir", bundle)
    assert status == 200, answer
    reference = answer["entry"][0]["response"]["location"].split("/")[1]

    second.cli("worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--skip-checks")
    listed = {r["reference"]: r for r in json.loads(second.cli("referrals", "--json"))}
    assert listed[reference]["state"] == "draft" and listed[reference]["kind"] == photographed.kind
    assert listed[reference]["image_count"] == 3

    status, remote = second.call("GET", f"/fhir/ServiceRequest/{reference}")
    assert status == 200, remote
    here = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"
    )
    for field in ("priority", "category", "reasonCode", "bodySite"):
        assert remote[field] == here[field], field
    status, patient = second.call("GET", f"/fhir/{remote['subject']['reference']}")
    assert status == 200
    assert patient["identifier"][0]["value"] == photographed.patient.nhs_number
    assert patient["birthDate"] == photographed.patient.date_of_birth.isoformat()

    # The history and the images' processing, from the second instance's own database.
    check = second.cli(
        "shell",
        "-c",
        "import json; from dermbridge.referrals.models import Referral; "
        f"r = Referral.objects.get(reference='{reference}'); h = r.history; "
        "print(json.dumps({'history': {f.name: str(getattr(h, f.name)) for f in "
        "type(h)._meta.concrete_fields if f.name not in ('id', 'referral')}, "
        "'images': sorted([i.image_type, i.status] for i in "
        "r.lesions.get().images.all())}))",
    )
    there = json.loads(check.strip().splitlines()[-1])
    history = photographed.history
    assert there["history"] == {
        f.name: str(getattr(history, f.name))
        for f in type(history)._meta.concrete_fields
        if f.name not in ("id", "referral")
    }
    assert there["images"] == [
        ["close_up", "ready"],
        ["dermoscopic", "ready"],
        ["overview", "ready"],
    ]
