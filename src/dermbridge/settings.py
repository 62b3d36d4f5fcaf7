"""Django settings for DermBridge.

Every deployment setting comes from a DERMBRIDGE_* environment variable read through
`dermbridge.config`; see docs/configuration.md for the full list. All state of the embedded
default (SQLite database, encrypted file store, keys) lives under DERMBRIDGE_DATA_DIR.

Longer than ~400 lines on purpose: Django reads one settings module, and keeping every setting
in it (each with the reason for its value) is easier to audit than settings split across files.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from dermbridge.config import (
    ConfigurationError,
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_path,
    env_secret,
    env_str,
)

REPO_DIR = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent

DATA_DIR = env_path("DATA_DIR", REPO_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)
SHARED_DIR = env_path("SHARED_DIR", REPO_DIR.parent / "shared")


def _persistent_secret(
    filename: str, nbytes: int = 48, *, generate: bool = True
) -> tuple[str, str]:
    """A secret generated once and kept in DATA_DIR, so a fresh checkout needs no setup.

    Returns (value, source): "data-dir" (read from an earlier run), "generated" (written now), or
    "ephemeral" (not allowed to generate here: a throw-away value, never written, so the system
    check dermbridge.E101 can say what to set; dermbridge.core.checks)."""
    path = DATA_DIR / filename
    if path.exists():
        return path.read_text().strip(), "data-dir"
    if not generate:
        return secrets.token_urlsafe(nbytes), "ephemeral"
    path.write_text(secrets.token_urlsafe(nbytes))
    path.chmod(0o600)
    return path.read_text().strip(), "generated"


DEBUG = env_bool("DEBUG", False)
DEMO_MODE = env_bool("DEMO_MODE", False)
# Per-host secrets (generated into DATA_DIR) only for the embedded default — SQLite and encrypted
# files on this host — or a demo. With PostgreSQL or S3 several hosts share the data, so every host
# must be given the same secret key and blob master keys (system checks E101, E102).
DATABASE_URL, _DATABASE_URL_SOURCE = env_secret(
    "DATABASE_URL", f"sqlite:///{DATA_DIR / 'dermbridge.sqlite3'}"
)
SHARED_DEPLOYMENT = not DATABASE_URL.startswith("sqlite:") or env_str("BLOB_BACKEND", "") == "s3"
PER_HOST_SECRETS_ALLOWED = DEMO_MODE or not SHARED_DEPLOYMENT
SECRET_KEY, SECRET_KEY_SOURCE = env_secret("SECRET_KEY")
if not SECRET_KEY:
    SECRET_KEY, SECRET_KEY_SOURCE = _persistent_secret(
        "secret_key", generate=PER_HOST_SECRETS_ALLOWED
    )
# Old keys still accepted for signed links and sessions while a new SECRET_KEY is rolled out.
SECRET_KEY_FALLBACKS = [k for k in env_secret("SECRET_KEY_FALLBACKS")[0].split(",") if k.strip()]
if len(SECRET_KEY) < 32:
    raise ConfigurationError("DERMBRIDGE_SECRET_KEY must be at least 32 characters long.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_tasks",
    "django_tasks_db",
    "dermbridge.core",
    "dermbridge.accounts",
    "dermbridge.audit",
    "dermbridge.patients",
    "dermbridge.referrals",
    "dermbridge.imaging",
    "dermbridge.triage",
    "dermbridge.notifications",
    "dermbridge.lesions",
    "dermbridge.clinics",
    "dermbridge.interop",
    "dermbridge.reporting",
    "dermbridge.web",
]

MIDDLEWARE = [
    # First: forwarded headers from peers not in TRUSTED_PROXIES are dropped.
    "dermbridge.core.proxy.TrustedProxyMiddleware",
    # /healthz, /readyz and /metrics before the rest; request latency by route; access log.
    "dermbridge.core.observability.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "dermbridge.audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "dermbridge.accounts.middleware.SessionLimitsMiddleware",
    "dermbridge.accounts.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    # Audits a refused request (403/404) that its view did not record itself.
    "dermbridge.core.middleware.DenialAuditMiddleware",
    # After authentication and messages: Idempotency-Key (API, FHIR) and one-time form tokens.
    "dermbridge.core.middleware.IdempotencyMiddleware",
]

ROOT_URLCONF = "dermbridge.urls"
WSGI_APPLICATION = "dermbridge.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dermbridge.web.context.navigation",
                "dermbridge.web.context.labels",
            ],
            # {% once_token %} in any template without {% load %} (double-submission guard).
            "builtins": ["dermbridge.core.templatetags.once"],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        DATABASE_URL,
        # PgBouncer in transaction pooling: DB_CONN_MAX_AGE=0, DB_DISABLE_SERVER_SIDE_CURSORS=true.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
        disable_server_side_cursors=env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# OWASP ASVS 3.3: idle timeout <= 30 minutes (rolling cookie), absolute lifetime <= 12 hours.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30, minimum=1) * 60
# The 30 minutes restart with activity: SessionLimitsMiddleware touches the session when its
# last touch is SESSION_TOUCH_SECONDS old, rather than writing it on every request (one
# database write per page, serialised on SQLite). A session may thus end up to a minute before
# 30 minutes of idleness, never after.
SESSION_SAVE_EVERY_REQUEST = False
# Database sessions, the session row read by a statement prepared once per process.
SESSION_ENGINE = "dermbridge.core.sessions"
SESSION_TOUCH_SECONDS = 60
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_ABSOLUTE_HOURS", 12, minimum=1) * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Lock the account, not the address: a GP practice shares one NAT address, and locking it
# would lock out every clinician there.
AXES_LOCKOUT_PARAMETERS = ["username"]
# dermbridge.W001 (unreviewed SNOMED CT codes, hazard H-07) is silenced only by a deployment
# whose clinical safety officer has checked them.
SILENCED_SYSTEM_CHECKS = ["axes.W006", *env_list("SILENCED_CHECKS", [])]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"

OTP_TOTP_ISSUER = "DermBridge"
# Clinical roles must use TOTP two-factor unless the server runs in demo mode.
REQUIRE_TWO_FACTOR = env_bool("REQUIRE_TWO_FACTOR", not DEMO_MODE)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "script-src": [SELF],
        "style-src": [SELF],
        # The NHS.UK stylesheet's Frutiger web font, licensed to the NHS and served only by NHS
        # England from assets.nhs.uk (it may not be copied here); nothing else leaves the site.
        "font-src": [SELF, "https://assets.nhs.uk"],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
    }
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "static")
# Content-hashed names (app.3f9c2a.js) served by whitenoise with a ten-year immutable
# Cache-Control, gzip and brotli copies; `dermbridge serve` collects them before it starts. The
# NHS.UK design system and @panzoom/panzoom (npm, package-lock.json) are copied into the package
# (dermbridge/core/static/, scripts/vendor_static.py, run by make install), so an installed wheel
# needs no node_modules. An asset not collected yet falls back to its plain name.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "dermbridge.core.staticfiles.HashedStaticFilesStorage"},
}
# Production serves only what collectstatic wrote; the demo (and the tests) also find files in place.
WHITENOISE_USE_FINDERS = DEBUG or DEMO_MODE

# Behind a reverse proxy: the peers (addresses, networks, or "unix" for a Unix socket) whose
# X-Forwarded-For, X-Forwarded-Proto and X-Request-ID are believed (dermbridge.core.proxy);
# these headers from anyone else are dropped before any other middleware sees them.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
# HSTS on HTTPS responses once the site is served over TLS (DERMBRIDGE_SECURE_COOKIES=true).
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000 if SECURE_COOKIES else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = False
# `dermbridge serve` (gunicorn, threaded workers; docs/adr/0009-production-server.md).
WEB_BIND = env_list("BIND", ["127.0.0.1:8000"])
# Default: one process per CPU this process may use (at least 2), four threads each.
WEB_WORKERS = env_int("WEB_WORKERS", max(2, len(os.sched_getaffinity(0))), minimum=1)
WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)
WEB_TIMEOUT_SECONDS = env_int("WEB_TIMEOUT_SECONDS", 120, minimum=10)

# Community imaging hubs: the patient's result is due this many working days after their
# photography visit (issue #13; the result clock in dermbridge.clinics.results).
HUB_RESULT_WORKING_DAYS = env_int("HUB_RESULT_WORKING_DAYS", 21, minimum=1)

# Uploads: never spool an image to disk unencrypted (see dermbridge.imaging.upload).
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_MB", 40, minimum=1) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES
FILE_UPLOAD_HANDLERS = ["dermbridge.imaging.upload.InMemoryPhotoUploadHandler"]
BLOB_ROOT = env_path("BLOB_ROOT", DATA_DIR / "blobs")
BLOB_BACKEND = env_str("BLOB_BACKEND", "filesystem")
if BLOB_BACKEND not in {"filesystem", "s3"}:
    raise ConfigurationError("DERMBRIDGE_BLOB_BACKEND must be 'filesystem' or 's3'.")
# The master keys: DERMBRIDGE_BLOB_KEYS, or DERMBRIDGE_BLOB_KEYS_FILE (re-read when the file
# changes: dermbridge.imaging.storage), or generated under DATA_DIR/keys (embedded default only).
BLOB_KEYS, BLOB_KEYS_SOURCE = env_secret("BLOB_KEYS")
BLOB_KEYS_FILE = env_str("BLOB_KEYS_FILE", "")
BLOB_ACTIVE_KEY = env_str("BLOB_ACTIVE_KEY", "")
S3_BUCKET = env_str("S3_BUCKET", "")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL", "")
S3_REGION = env_str("S3_REGION", "")
S3_PREFIX = env_str("S3_PREFIX", "")
S3_ADDRESSING_STYLE = env_str("S3_ADDRESSING_STYLE", "auto")
if S3_ADDRESSING_STYLE not in {"auto", "virtual", "path"}:
    raise ConfigurationError(
        "DERMBRIDGE_S3_ADDRESSING_STYLE must be 'auto', 'virtual' or 'path' "
        "(path for most on-premises S3-compatible stores: MinIO, SeaweedFS, Ceph RGW)."
    )
# The audit chain's HMAC key, held outside the database (dermbridge.audit.keys; ADR 0008), and
# where signed seals of the chain are appended (one JSON line each; make the file append-only).
AUDIT_KEY = env_str("AUDIT_KEY", "")
AUDIT_KEY_FILE = env_str("AUDIT_KEY_FILE", "")
# Where it comes from, for the start-up check dermbridge.E103 (a key only this host has cannot
# verify a chain other hosts append to).
AUDIT_KEY_SOURCE = "env" if AUDIT_KEY else "file" if AUDIT_KEY_FILE else "data-dir"
AUDIT_SEAL_DIR = env_path("AUDIT_SEAL_DIR", DATA_DIR / "audit-seals")
# Key rotation: the keys the chain was written with before the current one (base64, one per line
# or comma-separated), kept so that older events and seals still verify. A key file is re-read
# when it changes, so a rotation needs no restart (dermbridge.audit.keys; docs/deploy.md).
AUDIT_PREVIOUS_KEYS = env_str("AUDIT_PREVIOUS_KEYS", "")
AUDIT_PREVIOUS_KEYS_FILE = env_str("AUDIT_PREVIOUS_KEYS_FILE", "")
# A copy of every seal in an S3 bucket with Object Lock (compliance mode), which not even the
# bucket's owner can delete or overwrite before the retention ends (dermbridge.audit.seals).
AUDIT_SEAL_BUCKET = env_str("AUDIT_SEAL_BUCKET", "")
AUDIT_SEAL_PREFIX = env_str("AUDIT_SEAL_PREFIX", "audit-seals/")
# 8 years: the NHS records-management code's minimum for adult health records.
AUDIT_SEAL_RETENTION_DAYS = env_int("AUDIT_SEAL_RETENTION_DAYS", 2922, minimum=1)
# Independent chains appended in parallel (PostgreSQL); each seal covers them all.
AUDIT_SHARDS = env_int("AUDIT_SHARDS", 16, minimum=1)
# Health and metrics (dermbridge.core.health, dermbridge.core.metrics; docs/deploy.md).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", [])
READY_MAX_TASK_AGE_SECONDS = env_int("READY_MAX_TASK_AGE_SECONDS", 900, minimum=1)
READY_REQUIRE_WORKER = env_bool("READY_REQUIRE_WORKER", True)

TASK_BACKEND = env_str("TASK_BACKEND", "database")
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if TASK_BACKEND not in _TASK_BACKENDS:
    raise ConfigurationError("DERMBRIDGE_TASK_BACKEND must be 'database' or 'immediate'.")
TASKS = {
    "default": {
        "BACKEND": _TASK_BACKENDS[TASK_BACKEND],
        "QUEUES": ["default", "imaging", "triage", "notifications", "interop"],
        "ENQUEUE_ON_COMMIT": True,
    }
}
# A running task whose worker stopped renewing its lease this long ago is run again by another
# worker (dermbridge.core.worker; `dermbridge worker`). Longer than any task's longest pause.
# 60 s: a killed worker's task runs again within about 80 s (a lease, plus up to a third of one
# for another worker's heartbeat to notice); renewals are every 20 s from their own thread.
TASK_LEASE_SECONDS = env_int("TASK_LEASE_SECONDS", 60, minimum=1)
# Idempotency-Key answers (and one-time form tokens) are kept this long, at least 24 hours (the
# IETF draft's advice). A claim nobody holds the row lock of is a dead request's: taken over.
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24, minimum=24)
# A double-clicked form's second POST waits this long for the first one to finish.
IDEMPOTENCY_FORM_WAIT_SECONDS = 10
# How often `dermbridge scheduler` queues the periodic tasks (near-breach scan, message retries).
SCHEDULER_SECONDS = env_int("SCHEDULER_SECONDS", 300, minimum=1)

# The dermatoscope's field of view, in whole mm across (0: not known). With it, a lesion's
# diameter is measured from a dermoscopic photo's aperture (lesions/analysis.py, docs/lesions.md).
DERMATOSCOPE_FOV_MM = env_int("DERMATOSCOPE_FOV_MM", 25, minimum=0)

EMAIL_CHANNEL = env_str("EMAIL_CHANNEL", "smtp")
if EMAIL_CHANNEL not in {"smtp", "file"}:
    raise ConfigurationError("DERMBRIDGE_EMAIL_CHANNEL must be 'smtp' or 'file'.")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_CHANNEL == "smtp"
    else "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = DATA_DIR / "mail"
EMAIL_HOST = env_str("SMTP_HOST", "127.0.0.1")
EMAIL_PORT = env_int("SMTP_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_secret("SMTP_PASSWORD")[0]
EMAIL_USE_TLS = env_bool("SMTP_STARTTLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("FROM_EMAIL", "DermBridge <no-reply@dermbridge.invalid>")
SMS_CHANNEL = env_str("SMS_CHANNEL", "file")
if SMS_CHANNEL not in {"file"}:
    raise ConfigurationError(
        "DERMBRIDGE_SMS_CHANNEL must be 'file' (the local channel); "
        "a gateway plugs in behind dermbridge.notifications.channels.SmsChannel."
    )
SMS_FILE_PATH = DATA_DIR / "sms.log"
PATIENT_LINK_DAYS = env_int("PATIENT_LINK_DAYS", 60, minimum=1)
# Lifetime of a REST API token; an expired one is refused and replaced on the next sign-in.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90, minimum=1)

# PACS (interop.pacs): C-STORE when PACS_HOST is set, STOW-RS when PACS_STOW_URL is set.
PACS_HOST = env_str("PACS_HOST", "")
PACS_PORT = env_int("PACS_PORT", 104, minimum=1)
PACS_AE_TITLE = env_str("PACS_AE_TITLE", "PACS")
PACS_CALLING_AE_TITLE = env_str("PACS_CALLING_AE_TITLE", "DERMBRIDGE")
PACS_STOW_URL = env_str("PACS_STOW_URL", "").rstrip("/")
PACS_TIMEOUT_SECONDS = env_int("PACS_TIMEOUT_SECONDS", 30, minimum=1)
for _ae in (PACS_AE_TITLE, PACS_CALLING_AE_TITLE):
    if not 0 < len(_ae) <= 16:
        raise ConfigurationError("DERMBRIDGE_PACS_*AE_TITLE must be 1 to 16 characters.")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dermbridge.accounts.authentication.ExpiringTokenAuthentication",
        # A session counts only after two-factor (the middleware skips requests with a header).
        "dermbridge.accounts.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "dermbridge.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DermBridge API",
    "DESCRIPTION": "Referrals with lesion images for capture apps and GP systems.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One named enum per choice set shared by several fields.
    "ENUM_NAME_OVERRIDES": {
        "PresenceEnum": "dermbridge.referrals.models.Presence",
        "ReferralKindEnum": "dermbridge.referrals.models.ReferralKind",
        "MessageKindEnum": "dermbridge.referrals.models.MessageKind",
    },
}

LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ConfigurationError("DERMBRIDGE_LOG_FORMAT must be 'json' or 'plain'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object a line, with the request id; NHS-number-shaped digits masked.
        "json": {"()": "dermbridge.core.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
