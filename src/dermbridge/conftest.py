"""Shared pytest fixtures: the personas world and referral builders (see dermbridge.testing)."""

from __future__ import annotations

import pytest

from dermbridge.testing import World, make_world


@pytest.fixture
def world(db: None) -> World:
    return make_world()


@pytest.fixture(autouse=True)
def _own_audit_seals(settings: object, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test seals its own audit chain: a seal left by another test's database would name
    events this one never had (docs/adr/0008-audit-chain.md)."""
    settings.AUDIT_SEAL_DIR = tmp_path_factory.mktemp("audit-seals")  # type: ignore[attr-defined]
