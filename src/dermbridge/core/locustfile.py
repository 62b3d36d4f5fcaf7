"""The load benchmark's simulated users (Locust); run by ``python -m dermbridge.core.loadbench``.

GPs create referrals through the API and upload a 3 MB photo to each; dermatologists sign in
(a session cookie, through whichever web process the balancer picks) and read the worklist,
review pages and images; patients open their status pages; API clients read referral lists and
details. Every request is written to ``DERMBRIDGE_LOAD_EVENTS`` (JSON lines) for the analysis.
Configuration: ``DERMBRIDGE_LOAD_SETUP``, a JSON file made by the runner (tokens, status links,
photo files). Loopback only.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

SETUP: dict[str, Any] = json.loads(Path(os.environ["DERMBRIDGE_LOAD_SETUP"]).read_text())
_events = Path(os.environ["DERMBRIDGE_LOAD_EVENTS"]).open("a", buffering=1)  # noqa: SIM115
_photos = [Path(p).read_bytes() for p in SETUP["photos"]]
_seeds = itertools.count(int(SETUP.get("seed_base", 500_000)))
READS = {
    "worklist", "review page", "image thumbnail", "image viewer", "image other", "status page",
    "api referral list", "api referral detail", "api patient list",
}  # fmt: skip
REFERRAL_LINK = re.compile(r'href="/referrals/(\d+)/"')
IMAGE_LINK = re.compile(r"/images/([A-Za-z0-9_-]{16,32})/([a-z_]+)/")


@events.request.add_listener
def _record(
    request_type: str, name: str, response_time: float, response_length: int,
    exception: Any = None, response: Any = None, **kwargs: Any,
) -> None:  # fmt: skip
    upstream = ""
    if response is not None:
        upstream = response.headers.get("X-DermBridge-Upstream", "") if response.headers else ""
    _events.write(
        json.dumps(
            {
                "t": round(time.time(), 3),
                "name": name,
                "ms": round(response_time, 1),
                "ok": exception is None,
                "read": name in READS,
                "up": upstream,
                # What went wrong (the status and the start of the answer), for the record.
                **({"error": str(exception)[:300]} if exception is not None else {}),
            }
        )
        + "\n"
    )


class GP(HttpUser):
    """A GP: a new referral through the API, then one 3 MB photo."""

    weight = 2
    wait_time = between(10, 30)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Token {SETUP['gp_token']}"
        self.client.headers["Accept"] = "application/json"

    @task
    def refer_with_photo(self) -> None:
        seed = next(_seeds)
        body = json.loads(json.dumps(SETUP["referral_template"]))
        body["patient_details"]["nhs_number"] = next(_nhs_numbers)
        body["patient_details"]["family_name"] = f"Load{seed}"
        with self.client.post(
            "/api/referrals/", json=body, name="create referral", catch_response=True
        ) as made:
            if made.status_code != 201:
                made.failure(f"{made.status_code}: {made.text[:200]}")
                return
            reference = made.json()["reference"]
        with self.client.post(
            f"/api/referrals/{reference}/lesions/1/images/",
            files={"file": ("lesion.jpg", random.choice(_photos), "image/jpeg")},
            data={"image_type": "dermoscopic"},
            name="upload photo 3 MB",
            catch_response=True,
        ) as sent:
            if sent.status_code != 202:
                sent.failure(f"{sent.status_code}: {sent.text[:200]}")


class Dermatologist(HttpUser):
    """A dermatologist reading the worklist, review pages and the photos on them."""

    weight = 5
    wait_time = between(1, 4)

    def on_start(self) -> None:
        self.referrals: list[str] = []
        self.images: list[str] = []
        page = self.client.get("/login/", name="login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        self.client.post(
            "/login/",
            data={
                "username": SETUP["dermatologist"],
                "password": SETUP["password"],
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            headers={"Referer": f"{self.host}/login/"},
            name="login",
        )
        self.worklist()

    @task(3)
    def worklist(self) -> None:
        with self.client.get("/worklist/", name="worklist", catch_response=True) as page:
            found = REFERRAL_LINK.findall(page.text) if page.status_code == 200 else []
            if page.status_code != 200 or "/login/" in page.url:
                page.failure(f"worklist: {page.status_code} at {page.url}")
            elif found:
                self.referrals = found[:25]

    @task(3)
    def review(self) -> None:
        if not self.referrals:
            return
        pk = random.choice(self.referrals)
        with self.client.get(f"/referrals/{pk}/", name="review page", catch_response=True) as p:
            if p.status_code != 200 or "/login/" in p.url:
                p.failure(f"review page: {p.status_code} at {p.url}")
                return
            images = [
                f"/images/{k}/{v}/"
                for k, v in IMAGE_LINK.findall(p.text)
                if v in {"thumbnail", "viewer"}  # not the full-resolution master
            ]
            if images:
                self.images = images[:12]

    @task(5)
    def image(self) -> None:
        if not self.images:
            return
        url = random.choice(self.images)
        version = url.rstrip("/").rsplit("/", 1)[-1]
        name = f"image {version}" if version in {"thumbnail", "viewer"} else "image other"
        self.client.get(url, name=name)


class Patient(HttpUser):
    """A patient opening the status link from their text or email."""

    weight = 2
    wait_time = between(5, 15)

    @task
    def status(self) -> None:
        self.client.get(random.choice(SETUP["status_paths"]), name="status page")


class ApiClient(HttpUser):
    """A GP system or the trust's integration engine reading through the REST API."""

    weight = 1
    wait_time = between(2, 6)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Token {SETUP['api_token']}"
        self.client.headers["Accept"] = "application/json"
        self.references: list[str] = []

    @task(3)
    def referral_list(self) -> None:
        answer = self.client.get("/api/referrals/", name="api referral list")
        if answer.status_code == 200:
            body = answer.json()
            rows = body.get("results", body) if isinstance(body, dict) else body
            self.references = [r["reference"] for r in rows if "reference" in r][:20]

    @task(3)
    def referral_detail(self) -> None:
        if self.references:
            ref = random.choice(self.references)
            self.client.get(f"/api/referrals/{ref}/", name="api referral detail")

    @task(1)
    def patient_list(self) -> None:
        self.client.get("/api/patients/", name="api patient list")


def _valid_nhs_numbers(start: int) -> Iterator[str]:
    """Valid (mod-11) NHS numbers from the 999 test range, each once, from `start` on. (Skipping
    a number whose check digit would be 10 must not hand its neighbour out twice: one run's
    "create referral" failed when two simulated patients got the same number and names.)"""
    n = start
    while True:
        digits = [int(c) for c in f"999{n % 1_000_000:06d}"]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        n += 1
        if check == 10:
            continue
        yield "".join(map(str, digits)) + str(0 if check == 11 else check)


_nhs_numbers = _valid_nhs_numbers(int(SETUP.get("seed_base", 500_000)))
