"""The patients app's part of the /api/ URL map (assembled in dermbridge.api.urls)."""

from django.urls import path

from dermbridge.patients.api import ConsentCreateView, PatientDetailView, PatientListView

urlpatterns = [
    path("patients/", PatientListView.as_view(), name="api-patients"),
    path("patients/<int:patient_id>/", PatientDetailView.as_view(), name="api-patient"),
    path(
        "patients/<int:patient_id>/consents/",
        ConsentCreateView.as_view(),
        name="api-patient-consents",
    ),
]
