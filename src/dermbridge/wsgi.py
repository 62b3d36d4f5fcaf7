"""WSGI entry point for production servers."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dermbridge.settings")
application = get_wsgi_application()

# A server may load this module without `dermbridge serve`'s system checks: refuse here too when
# this process would use a secret key or blob keys only this host has (dermbridge.E101, E102).
from dermbridge.core.checks import refuse_unsafe_start  # noqa: E402

refuse_unsafe_start()
