"""Typed readers for DERMBRIDGE_* environment settings that fail loudly on bad values.

Every setting the deployment can change is read here, through one of these helpers, so that a
misconfigured server refuses to start with a message naming the variable and how to fix it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

PREFIX = "DERMBRIDGE_"


class ConfigurationError(Exception):
    """A DERMBRIDGE_* environment variable holds a value the service cannot run with."""


def _raw(name: str) -> str | None:
    value = os.environ.get(PREFIX + name)
    return value if value not in (None, "") else None


def env_str(name: str, default: str) -> str:
    return _raw(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{PREFIX}{name}={raw!r} is not a boolean: use true or false.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{PREFIX}{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = _raw(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = _raw(name)
    return Path(raw).expanduser().resolve() if raw else default


def database_from_url(url: str) -> dict[str, object]:
    """Turn postgres://user:pass@host:port/name or sqlite:///path into a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "dermbridge",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "TEST": {"NAME": (unquote(parsed.path.lstrip("/")) or "dermbridge") + "_test"},
        }
    if parsed.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parsed.path) or ":memory:",
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    raise ConfigurationError(
        f"{PREFIX}DATABASE_URL scheme {parsed.scheme!r} is not supported: "
        "use postgres://user:password@host:5432/name or sqlite:////absolute/path.db"
    )
