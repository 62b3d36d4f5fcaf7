"""Shared pytest fixtures: the personas world and referral builders (see dermbridge.testing)."""

from __future__ import annotations

import pytest

from dermbridge.testing import World, make_world


@pytest.fixture
def world(db: None) -> World:
    return make_world()
