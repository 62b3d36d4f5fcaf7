"""The REST API under /api/ (schema at /api/schema/): each app's own `api_urls`, then a JSON
404 for any other address.

Imports every app's API, so it sits above them all (docs/adr/0010-boundaries.md).
"""

from django.urls import include, path, re_path

from dermbridge.accounts import api_urls as accounts
from dermbridge.api.views import not_found
from dermbridge.clinics import api_urls as clinics
from dermbridge.imaging import api_urls as imaging
from dermbridge.interop import api_urls as interop
from dermbridge.lesions import api_urls as lesions
from dermbridge.patients import api_urls as patients
from dermbridge.referrals import api_urls as referrals

urlpatterns = [
    *(
        path("", include(app))
        for app in (accounts, patients, referrals, imaging, lesions, clinics, interop)
    ),
    # Last: anything the apps do not answer. [\s\S]: a newline too.
    re_path(r"^(?P<unmatched>[\s\S]*)$", not_found),
]
