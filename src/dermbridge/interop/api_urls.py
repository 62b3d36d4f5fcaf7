"""The interop app's part of the /api/ URL map (assembled in dermbridge.api.urls)."""

from django.urls import path

from dermbridge.interop.api import DicomUploadView

urlpatterns = [
    path(
        "referrals/<str:reference>/lesions/<int:number>/dicom/",
        DicomUploadView.as_view(),
        name="api-lesion-dicom",
    ),
]
