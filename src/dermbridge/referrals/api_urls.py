"""The REST API under /api/ (schema at /api/schema/)."""

from django.urls import path, re_path

from dermbridge.accounts.api import ObtainTokenView
from dermbridge.imaging.api import ImageDetailView, ImageKeepView, ImageUploadView
from dermbridge.interop.api import DicomUploadView
from dermbridge.patients.api import ConsentCreateView, PatientDetailView, PatientListView
from dermbridge.referrals.api import (
    LesionCreateView,
    LesionDetailView,
    MessageListView,
    OutcomeView,
    ReferralDetailView,
    ReferralListView,
    not_found,
)
from dermbridge.referrals.api_actions import ACTIONS

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("patients/", PatientListView.as_view(), name="api-patients"),
    path("patients/<int:patient_id>/", PatientDetailView.as_view(), name="api-patient"),
    path(
        "patients/<int:patient_id>/consents/",
        ConsentCreateView.as_view(),
        name="api-patient-consents",
    ),
    path("referrals/", ReferralListView.as_view(), name="api-referrals"),
    path("referrals/<str:reference>/", ReferralDetailView.as_view(), name="api-referral"),
    path(
        "referrals/<str:reference>/lesions/",
        LesionCreateView.as_view(),
        name="api-referral-lesions",
    ),
    path(
        "referrals/<str:reference>/lesions/<int:number>/",
        LesionDetailView.as_view(),
        name="api-referral-lesion",
    ),
    path(
        "referrals/<str:reference>/lesions/<int:number>/images/",
        ImageUploadView.as_view(),
        name="api-lesion-images",
    ),
    path(
        "referrals/<str:reference>/lesions/<int:number>/dicom/",
        DicomUploadView.as_view(),
        name="api-lesion-dicom",
    ),
    path(
        "referrals/<str:reference>/messages/",
        MessageListView.as_view(),
        name="api-referral-messages",
    ),
    path("referrals/<str:reference>/outcome/", OutcomeView.as_view(), name="api-referral-outcome"),
    *[
        path(f"referrals/<str:reference>/{name}/", view.as_view(), name=f"api-referral-{name}")
        for name, view in ACTIONS.items()
    ],
    path("images/<int:image_id>/", ImageDetailView.as_view(), name="api-image"),
    path("images/<int:image_id>/keep/", ImageKeepView.as_view(), name="api-image-keep"),
    re_path(r"^(?P<unmatched>[\s\S]*)$", not_found),  # [\s\S]: a newline too
]
