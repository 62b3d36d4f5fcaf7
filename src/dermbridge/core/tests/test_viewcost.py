"""The view-cost benchmark's measuring code (`make bench` runs it side by side with a baseline
commit; dermbridge/core/viewcost.py), run here on a few requests: no timing is asserted, only
that every view answers, is timed and has its SQL statements counted."""

from __future__ import annotations

import pytest

from dermbridge.audit.models import AuditEvent
from dermbridge.core import viewcost
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral


@pytest.mark.django_db
def test_it_measures_each_view_and_counts_its_queries(world: World) -> None:
    for _ in range(2):
        make_referral(world, state=State.AWAITING_REVIEW)
    targets = viewcost.discover(world.derek.username)
    assert len(targets["referrals"]) == 2 and targets["images"]
    viewed = AuditEvent.objects.filter(action="image.view").count()

    first = viewcost.measure(targets, requests=2)
    second = viewcost.measure(targets, requests=3)

    assert set(first["views"]) == set(viewcost.VIEWS)
    for view in first["views"].values():
        assert len(view["cpu_ms"]) == 2 and all(ms > 0 for ms in view["cpu_ms"])
        assert view["queries"] > 0 and view["bytes"] > 0
    # Image views stay audited: warm-up, counted and timed requests of both versions, twice.
    images = len(targets["images"])
    assert AuditEvent.objects.filter(action="image.view").count() - viewed == 2 * (
        2 * images + 2
    ) + 2 * (2 + 3)
    summary = viewcost.summarise({"baseline": [first], "current": [first, second]})
    for name in viewcost.VIEWS:
        entry = summary[name]
        assert entry["current"]["requests"] == 5 and entry["baseline"]["requests"] == 2
        assert entry["current"]["queries"] == second["views"][name]["queries"]
        assert entry["ratio"] > 0


def test_each_sides_copy_starts_in_sqlites_default_journal_mode(tmp_path: object) -> None:
    import sqlite3
    from pathlib import Path

    database = Path(str(tmp_path)) / "dermbridge.sqlite3"
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=WAL")  # as the current code leaves a database it made
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    viewcost._default_journal(database)
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
