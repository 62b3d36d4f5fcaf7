"""The lesions app's part of the /api/ URL map (assembled in dermbridge.api.urls)."""

from django.urls import path

from dermbridge.lesions.api import LinkView, PatientLesionDetailView, PatientLesionListView

urlpatterns = [
    path(
        "patients/<int:patient_id>/lesions/",
        PatientLesionListView.as_view(),
        name="api-patient-lesions",
    ),
    path("lesions/<int:lesion_id>/", PatientLesionDetailView.as_view(), name="api-lesion"),
    path(
        "referral-lesions/<int:referral_lesion_id>/link/",
        LinkView.as_view(),
        name="api-lesion-link",
    ),
]
