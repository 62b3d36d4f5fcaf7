"""The session engine: Django's database sessions, the session row read by a prepared statement.

Every signed-in request reads its session first. Django's `SessionStore` builds that query
through the ORM on each request (`objects.get(session_key=..., expire_date__gt=now)`); this reads
the same row by its key with `core.rows.read_one` (compiled once per process) and applies the
same expiry rule, so a session expires, is refused and is cycled exactly as before. Same table,
same data: switching engines keeps everyone signed in.
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.base_session import AbstractBaseSession
from django.utils import timezone

from dermbridge.core.rows import read_one


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> AbstractBaseSession | None:
        session = read_one(self.model, (), "session_key", self.session_key)
        if session is None or session.expire_date <= timezone.now():
            self._session_key = None
            return None
        return session
