"""The accounts app's part of the /api/ URL map (assembled in dermbridge.api.urls)."""

from django.urls import path

from dermbridge.accounts.api import ObtainTokenView

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
]
