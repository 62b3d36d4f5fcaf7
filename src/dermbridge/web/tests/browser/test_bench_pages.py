"""make bench: server time and page weight of the main pages, as ratios to the sign-in page.

Server time is measured through Django's test client (no network, no browser): p50 and p95 of
REPEATS requests per page. Page weight is what a first visit in Chromium transfers (a fresh
browser context per page, so nothing is cached). Both are reported against the sign-in page
measured in the same run, so the numbers compare across machines. Writes
docs/benchmarks/pages.json.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from dermbridge.notifications.services import issue_status_link
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral
from dermbridge.web.tests.browser.conftest import DESKTOP, PHONE, page_weight

pytestmark = [pytest.mark.bench, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
REPEATS = 30
BASELINE = "login"


def _pages(world: World) -> dict[str, tuple[Any, str]]:
    draft = make_referral(world, state=State.DRAFT)
    lesion = draft.lesions.get()
    in_review = make_referral(world, state=State.IN_REVIEW)
    answered = make_referral(world, state=State.ADVICE_GIVEN, kind="ag")
    status = issue_status_link(answered)
    return {
        "login": (None, "/login/"),
        "my_referrals": (world.alice, "/referrals/"),
        "new_referral": (world.alice, "/referrals/new/"),
        "lesion_photos": (world.alice, f"/referrals/{draft.pk}/lesions/{lesion.pk}/photos/"),
        "worklist": (world.derek, "/worklist/"),
        "review": (world.derek, f"/referrals/{in_review.pk}/"),
        "gp_reads_advice": (world.alice, f"/referrals/{answered.pk}/"),
        "patient_status": (None, status[status.index("/status/") :]),
        "dashboard": (world.sam, "/dashboard/"),
    }


def _server_times(user: Any, path: str) -> dict[str, float]:
    client = Client()
    if user is not None:
        client.force_login(user)
    assert client.get(path).status_code == 200, path  # warm up, and check it works
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2),
    }


def _browser_weight(
    chromium: Any, base: str, user: Any, path: str, viewport: dict[str, int]
) -> dict[str, int]:
    context = chromium.new_context(viewport=viewport)
    try:
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}]
            )
        page = context.new_page()
        errors: list[str] = []
        page.on("response", lambda r: errors.append(r.url) if r.status >= 500 else None)
        page.goto(base + path, wait_until="load")
        # server_errors: responses >= 500, from parallel thumbnail reads on the in-memory test
        # database (see docs/ui.md); reported so a weight is never silently short.
        return {**page_weight(page), "server_errors": len(errors)}
    finally:
        context.close()


def test_it_measures_server_time_and_page_weight_of_the_main_pages(
    live_server: Any, world: World, chromium: Any
) -> None:
    """GIVEN the personas and one referral per page state WHEN each main page is requested
    THEN its server time and first-visit weight are written to docs/benchmarks/pages.json,
    each also as a ratio to the sign-in page."""
    pages = _pages(world)
    results: dict[str, dict[str, Any]] = {}
    for name, (user, path) in pages.items():
        viewport = PHONE if name in ("patient_status", "lesion_photos") else DESKTOP
        results[name] = {
            **_server_times(user, path),
            **_browser_weight(chromium, live_server.url, user, path, viewport),
        }
    base = results[BASELINE]
    for row in results.values():
        row["p50_ratio"] = round(row["p50_ms"] / base["p50_ms"], 2)
        row["p95_ratio"] = round(row["p95_ms"] / base["p95_ms"], 2)
        row["transfer_ratio"] = round(row["transfer"] / base["transfer"], 2)
    out = settings.REPO_DIR / "docs" / "benchmarks" / "pages.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "baseline": BASELINE,
                "repeats": REPEATS,
                "note": "server time via Django's test client (SQLite, no network); transfer = "
                "bytes a first visit moves in Chromium (page, CSS, JS, images), nothing cached",
                "pages": results,
            },
            indent=2,
        )
        + "\n"
    )
    assert all(row["transfer"] > 0 for row in results.values())
    assert results["review"]["requests"] >= results["login"]["requests"]
