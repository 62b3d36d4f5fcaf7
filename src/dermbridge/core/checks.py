"""System checks for a deployment: no per-host secrets where hosts share data; static files.

They run at every start (`dermbridge serve`, `runserver`, `worker`, `scheduler`, `migrate`,
`check`) and, for the secrets, in every gunicorn worker too (dermbridge.wsgi), so a web, worker or
scheduler process that would sign or encrypt with a key only this host has refuses to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.checks import CheckMessage, Error, Warning, register

_KEYGEN = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def _shared_by(database_engine: str, blob_backend: str) -> str:
    parts = []
    if "postgresql" in database_engine:
        parts.append("the database is PostgreSQL")
    if blob_backend == "s3":
        parts.append("the blob store is S3")
    return " and ".join(parts)


def secret_problems(
    *,
    demo_mode: bool,
    database_engine: str,
    blob_backend: str,
    secret_key_source: str,
    blob_keys_source: str,
    data_dir: Path,
    audit_key_source: str = "env",
) -> list[CheckMessage]:
    """What is wrong with where the secrets come from (pure: the tests call it with each case).

    Sources: "env" and "file" are given to the service; "data-dir" (read from this host's data
    directory), "generated" or "ephemeral" (would be made on this host), "" (blob keys: none given).
    """
    shared = _shared_by(database_engine, blob_backend)
    if demo_mode or not shared:
        return []  # the embedded default (SQLite and files on this host) or a demo
    problems: list[CheckMessage] = []
    if secret_key_source not in {"env", "file"}:
        where = (
            f"only in this host's {data_dir / 'secret_key'}"
            if secret_key_source == "data-dir"  # noqa: S105 (a source, not a password)
            else "would be generated on this host"
        )
        problems.append(
            Error(
                f"DERMBRIDGE_SECRET_KEY is not set and the secret key {where}, but {shared}: "
                "every web, worker and scheduler process must sign sessions, CSRF tokens and "
                "patient links with the same key.",
                hint="Set DERMBRIDGE_SECRET_KEY_FILE to a file holding the key (systemd "
                "LoadCredential=, a Kubernetes secret) or DERMBRIDGE_SECRET_KEY, with the same "
                "value on every host. Keep an existing key (signed links stay valid): use the "
                f"contents of {data_dir / 'secret_key'} if it exists; else make one with {_KEYGEN}.",
                id="dermbridge.E101",
            )
        )
    if blob_keys_source not in {"env", "file"}:
        generated = data_dir / "keys" / "blob-keys.json"
        problems.append(
            Error(
                "DERMBRIDGE_BLOB_KEYS is not set, so the blob master keys would be generated on "
                f"this host or read only from its {generated}, but {shared}: a photo encrypted "
                "by one host could not be read by another, and losing this host loses them all.",
                hint=f"If {generated} exists, move it to the service's secret store and set "
                "DERMBRIDGE_BLOB_KEYS_FILE to it (the file may hold that JSON, or "
                "'k1:<base64 32 bytes>,...'); else set DERMBRIDGE_BLOB_KEYS_FILE or "
                "DERMBRIDGE_BLOB_KEYS to 'k1:<base64 of 32 random bytes>' (python -c 'import os,"
                'base64; print("k1:" + base64.b64encode(os.urandom(32)).decode())\'), the same '
                "on every host, and escrow it (docs/operations.md).",
                id="dermbridge.E102",
            )
        )
    if audit_key_source not in {"env", "file"}:
        generated = data_dir / "keys" / "audit-key"
        problems.append(
            Error(
                "DERMBRIDGE_AUDIT_KEY is not set, so the audit chain's key would be generated on "
                f"this host or read only from its {generated}, but {shared}: events appended by "
                "another host would not verify, and losing this host loses the proof that the "
                "audit trail was not rewritten.",
                hint=f"If {generated} exists, move it to the service's secret store and set "
                "DERMBRIDGE_AUDIT_KEY_FILE to it; else set DERMBRIDGE_AUDIT_KEY_FILE or "
                "DERMBRIDGE_AUDIT_KEY to base64 of 32 random bytes (python -c 'import os,base64;"
                " print(base64.b64encode(os.urandom(32)).decode())'), the same on every host, "
                "and escrow it (docs/operations.md).",
                id="dermbridge.E103",
            )
        )
    return problems


@register(deploy=False)
def per_host_secrets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return secret_problems(
        demo_mode=settings.DEMO_MODE,
        database_engine=str(settings.DATABASES["default"]["ENGINE"]),
        blob_backend=settings.BLOB_BACKEND,
        secret_key_source=settings.SECRET_KEY_SOURCE,
        blob_keys_source=settings.BLOB_KEYS_SOURCE,
        data_dir=Path(settings.DATA_DIR),
        audit_key_source=settings.AUDIT_KEY_SOURCE,
    )


def refuse_unsafe_start() -> None:
    """Raise (naming the variables) if a per-host secret check fails: for the WSGI entry point,
    which a server may load without running `dermbridge serve`'s checks."""
    from django.core.exceptions import ImproperlyConfigured

    errors = [
        m
        for m in per_host_secrets()
        if m.is_serious() and m.id not in settings.SILENCED_SYSTEM_CHECKS
    ]
    if errors:
        raise ImproperlyConfigured("\n".join(f"{m.id}: {m.msg} Fix: {m.hint}" for m in errors))


@register()
def static_files(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if not finders.find("nhsuk/nhsuk-frontend.min.css"):
        problems.append(
            Warning(
                "The NHS.UK design system is missing from the package (dermbridge/core/static/"
                "nhsuk): pages will have no styles.",
                hint="In the checkout run `make install` (npm ci, then python "
                "scripts/vendor_static.py); or install a wheel built after it.",
                id="dermbridge.W104",
            )
        )
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not settings.WHITENOISE_USE_FINDERS and not manifest.exists():
        problems.append(
            Warning(
                f"Static files have not been collected into {settings.STATIC_ROOT}: pages will "
                "load without styles or scripts.",
                hint="Start the web server with `dermbridge serve` (it collects them), or run "
                "`dermbridge collectstatic --noinput` after each install or upgrade.",
                id="dermbridge.W103",
            )
        )
    return problems
