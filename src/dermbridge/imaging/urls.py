from django.urls import re_path

from dermbridge.imaging import views

urlpatterns = [
    re_path(
        r"^(?P<key>[A-Za-z0-9_-]{16,32})/(?P<version>[a-z_]+)/$",
        views.image_version,
        name="image-version",
    ),
]
