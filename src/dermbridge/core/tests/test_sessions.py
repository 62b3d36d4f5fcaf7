"""The session engine (core.sessions) loads, expires and refuses sessions as Django's does."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from dermbridge.core.sessions import SessionStore


def test_it_is_the_engine_in_use() -> None:
    assert settings.SESSION_ENGINE == "dermbridge.core.sessions"


def test_it_loads_expires_and_refuses_as_djangos_store(db: None) -> None:
    store = SessionStore()
    store["who"] = "derek"
    store.save()
    key = store.session_key
    assert SessionStore(key).load() == {"who": "derek"} == DjangoStore(key).load()

    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - dt.timedelta(1))
    for cls in (SessionStore, DjangoStore):
        expired = cls(key)
        assert expired.load() == {}
        assert expired.session_key is None  # a new key is made on the next save

    unknown = SessionStore("x" * 32)
    assert unknown.load() == {} and unknown.session_key is None
