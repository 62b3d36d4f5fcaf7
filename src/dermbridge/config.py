"""Typed readers for DERMBRIDGE_* environment settings that fail loudly on bad values.

Every setting the deployment can change is read here, through one of these helpers, so that a
misconfigured server refuses to start with a message naming the variable and how to fix it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url

PREFIX = "DERMBRIDGE_"


class ConfigurationError(Exception):
    """A DERMBRIDGE_* environment variable holds a value the service cannot run with."""


def _raw(name: str) -> str | None:
    value = os.environ.get(PREFIX + name)
    return value if value not in (None, "") else None


def env_str(name: str, default: str) -> str:
    return _raw(name) or default


def env_secret(name: str, default: str = "") -> tuple[str, str]:
    """A secret from ``DERMBRIDGE_<NAME>`` or from the file ``DERMBRIDGE_<NAME>_FILE`` names.

    The ``_FILE`` form suits systemd credentials (``LoadCredential=`` and
    ``$CREDENTIALS_DIRECTORY``) and Kubernetes secrets mounted as files: the value never sits in
    the process environment. Returns ``(value, source)`` where source is ``"env"``, ``"file"`` or
    ``""`` (neither set: ``default`` is returned). Surrounding whitespace is stripped.
    """
    direct, file_name = _raw(name), _raw(name + "_FILE")
    if direct is not None and file_name is not None:
        raise ConfigurationError(
            f"Both {PREFIX}{name} and {PREFIX}{name}_FILE are set: keep only one of them."
        )
    if file_name is not None:
        path = Path(file_name).expanduser()
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"{PREFIX}{name}_FILE={file_name!r} cannot be read ({exc.strerror}): point it at "
                "a file the service user can read, or set the value itself in "
                f"{PREFIX}{name}."
            ) from None
        if not value:
            raise ConfigurationError(f"{PREFIX}{name}_FILE={file_name!r} is empty.")
        return value, "file"
    if direct is not None:
        return direct, "env"
    return default, ""


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


def database_from_url(
    url: str,
    *,
    conn_max_age: int = 60,
    conn_health_checks: bool = True,
    disable_server_side_cursors: bool = False,
) -> dict[str, object]:
    """A Django DATABASES entry from ``postgres://user:pass@host:port/name?sslmode=require`` or
    ``sqlite:////absolute/path.db`` (dj-database-url: query options such as ``sslmode``,
    ``sslrootcert``, ``connect_timeout``, ``application_name`` or ``options`` are kept in
    OPTIONS)."""
    scheme = urlparse(url).scheme
    if scheme in {"postgres", "postgresql", "pgsql"}:
        config: dict[str, object] = dict(
            dj_database_url.parse(
                url,
                conn_max_age=conn_max_age,
                conn_health_checks=conn_health_checks,
                disable_server_side_cursors=disable_server_side_cursors,
            )
        )
        config["NAME"] = config.get("NAME") or "dermbridge"
        config["TEST"] = {"NAME": f"{config['NAME']}_test"}
        return config
    if scheme == "sqlite":
        config = dict(dj_database_url.parse(url))
        config["NAME"] = config.get("NAME") or ":memory:"
        # One writer at a time, taken at BEGIN (no upgrade deadlocks); wait up to 20 s for it.
        # Write-ahead log: a commit appends to the log and syncs it once (FULL: as durable as
        # before) instead of writing, syncing and deleting a rollback journal, which cost every
        # audited page view about 0.6 ms of CPU (docs/benchmarks/view-cost.json); readers no
        # longer wait for a writer. Backups use SQLite's backup API, which reads the log too.
        options = dict(config.get("OPTIONS") or {})  # type: ignore[call-overload]
        options.update(
            {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
            }
        )
        config["OPTIONS"] = options
        return config
    raise ConfigurationError(
        f"{PREFIX}DATABASE_URL scheme {scheme!r} is not supported: "
        "use postgres://user:password@host:5432/name?sslmode=require or "
        "sqlite:////absolute/path.db"
    )
