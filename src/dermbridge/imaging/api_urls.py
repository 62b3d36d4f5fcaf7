"""The imaging app's part of the /api/ URL map (assembled in dermbridge.api.urls)."""

from django.urls import path

from dermbridge.imaging.api import ImageDetailView, ImageKeepView, ImageUploadView

urlpatterns = [
    path(
        "referrals/<str:reference>/lesions/<int:number>/images/",
        ImageUploadView.as_view(),
        name="api-lesion-images",
    ),
    path("images/<int:image_id>/", ImageDetailView.as_view(), name="api-image"),
    path("images/<int:image_id>/keep/", ImageKeepView.as_view(), name="api-image-keep"),
]
