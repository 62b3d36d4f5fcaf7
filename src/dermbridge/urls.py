"""URL map: pages, the REST API and its schema, FHIR, patient status links, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from dermbridge.interop.views import Transaction

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("dermbridge.api.urls")),
    path("status/", include("dermbridge.notifications.urls")),
    # The patient's answer to a photography appointment, under the same link.
    path("status/", include("dermbridge.clinics.patient_urls")),
    path("images/", include("dermbridge.imaging.urls")),
    # The FHIR base is /fhir (CapabilityStatement): a transaction is POSTed to the base itself.
    path("fhir", Transaction.as_view(), name="fhir-base"),
    path("fhir/", include("dermbridge.interop.urls")),
    path("dashboard/", include("dermbridge.reporting.urls")),
    path("letters/", include("dermbridge.web.letter_urls")),
    # The reviewing dermatologist sends a referral to a hub for photographs (clinics).
    path("hubs/photography/", include("dermbridge.clinics.service_urls")),
    path("hubs/", include("dermbridge.clinics.urls")),
    path("lesions/", include("dermbridge.lesions.urls")),
    path("", include("dermbridge.web.urls")),
]

# A database, blob store or disk that is down answers 503 (styled page, or JSON for the API and
# FHIR, with Retry-After), never Django's bare "Server Error (500)".
handler500 = "dermbridge.core.availability.server_error"
