"""The referral app's signals (referrals/signals.py, ADR 0012): every one is received, the
receivers run in the sender's transaction, and the system check refuses to start without them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dermbridge.referrals import checks, signals
from dermbridge.testing import World, make_referral

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parents[2]


def test_every_referral_signal_has_its_receiver() -> None:
    """GIVEN the installed apps THEN each required signal has the receiver of the app that owns
    the reaction, and the start-up check finds nothing wrong."""
    owners = {
        "referral_event": {"notifications.referral_event"},
        "outcome_recorded": {"imaging.outcome_recorded", "triage.outcome_recorded"},
        "histology_recorded": {"triage.histology_recorded"},
        "image_set_problems": {"imaging.image_set_problems"},
        "lesion_removing": {"imaging.lesion_removing"},
        "draft_discarding": {"imaging.draft_discarding"},
    }
    assert set(owners) == set(signals.REQUIRED)
    for name, signal in signals.REQUIRED.items():
        uids = {entry[0][0] for entry in signal.receivers}
        assert owners[name] <= uids, name
    assert checks.referral_signals_received() == []


def test_the_start_up_check_names_a_signal_nobody_receives(monkeypatch) -> None:
    from django.dispatch import Signal

    monkeypatch.setitem(signals.REQUIRED, "image_set_problems", Signal())
    errors = checks.referral_signals_received()
    assert [e.id for e in errors] == ["dermbridge.E110"]
    assert "image_set_problems" in errors[0].msg


def test_a_failing_receiver_rolls_the_referral_change_back(world: World, monkeypatch) -> None:
    """GIVEN the notifications receiver fails WHEN the GP withdraws a referral THEN the
    withdrawal is not saved: the reaction is part of the same transaction, as the direct call
    it replaced was."""
    from dermbridge.notifications import services as notifications
    from dermbridge.referrals.models import State
    from dermbridge.referrals.services import withdraw

    referral = make_referral(world, state=State.AWAITING_REVIEW)

    def broken(*args, **kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(notifications, "notify_referral_event", broken)
    with pytest.raises(RuntimeError):
        withdraw(referral, user=world.alice, reason="Patient seen privately.")
    referral.refresh_from_db()
    assert referral.state == State.AWAITING_REVIEW


def _writes_to_other_apps_tables(path: Path, app: str) -> list[str]:
    """`Model.objects...create/update/delete` on a model imported from another app's models."""
    tree = ast.parse(path.read_text())
    foreign: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(".models"):
            parts = node.module.split(".")
            if parts[0] == "dermbridge" and len(parts) == 3 and parts[1] != app:
                foreign.update(alias.asname or alias.name for alias in node.names)
    writes = {"create", "update", "delete", "bulk_create", "get_or_create", "update_or_create"}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in writes:
            continue
        base = node.func.value
        while isinstance(base, ast.Call | ast.Attribute):
            base = base.func if isinstance(base, ast.Call) else base.value
        if isinstance(base, ast.Name) and base.id in foreign:
            found.append(f"{path.relative_to(SRC)}:{node.lineno} {base.id}.….{node.func.attr}")
    return found


def test_each_table_is_written_only_by_its_own_app() -> None:
    """No production module writes (create/update/delete through the manager) to a model of
    another app: it asks that app's services (ADR 0010, 0012). Tests, test builders, the demo
    and benchmarks build worlds and are left out."""
    offenders = []
    for path in sorted((SRC / "dermbridge").rglob("*.py")):
        rel = path.relative_to(SRC / "dermbridge").parts
        if "tests" in rel or "migrations" in rel or len(rel) < 2:
            continue
        if rel[-1] in {"bench.py", "capture_bench.py", "synthetic.py"} or rel[1] == "training":
            continue
        offenders += _writes_to_other_apps_tables(path, rel[0])
    assert offenders == []
