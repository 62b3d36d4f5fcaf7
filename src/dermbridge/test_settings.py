"""Settings for the test suite: the real settings with a throw-away data directory."""

import os
import tempfile

os.environ.setdefault("DERMBRIDGE_DATA_DIR", tempfile.mkdtemp(prefix="dermbridge-test-"))
os.environ.setdefault("DERMBRIDGE_TASK_BACKEND", "immediate")
os.environ.setdefault("DERMBRIDGE_REQUIRE_TWO_FACTOR", "false")

from dermbridge.settings import *  # noqa: F403

# Argon2 is deliberately slow; tests that check hashing override this.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns when it is missing
# Static files are not collected for the tests: whitenoise finds them in place (as in the demo).
WHITENOISE_USE_FINDERS = True
# The suite's throw-away data directory is one host by construction, also when the suite runs
# against PostgreSQL (make test-pg): keys generated into it are not the per-host secrets that
# dermbridge.E101-E103 refuse in a deployment (their own tests call the checks directly).
SILENCED_SYSTEM_CHECKS = [
    *SILENCED_SYSTEM_CHECKS,  # noqa: F405
    "dermbridge.E101",
    "dermbridge.E102",
    "dermbridge.E103",
]
