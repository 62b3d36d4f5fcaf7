"""Shared pytest fixtures: the personas world and referral builders (see dermbridge.testing)."""

from __future__ import annotations

import pytest
from hypothesis import settings as hypothesis_settings

from dermbridge.testing import World, make_world

# Property tests are judged on what they find, never on how long one example took: the
# default 200 ms per-example deadline failed a display property on a loaded machine (its
# 30,000-example rerun passed). Each test keeps its own example count.
hypothesis_settings.register_profile("dermbridge", deadline=None)
hypothesis_settings.load_profile("dermbridge")


@pytest.fixture
def world(db: None) -> World:
    return make_world()


@pytest.fixture(autouse=True)
def _own_audit_seals(settings: object, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test seals its own audit chain: a seal left by another test's database would name
    events this one never had (docs/adr/0008-audit-chain.md)."""
    settings.AUDIT_SEAL_DIR = tmp_path_factory.mktemp("audit-seals")  # type: ignore[attr-defined]
