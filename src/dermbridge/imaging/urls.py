from django.urls import path

from dermbridge.imaging import views

urlpatterns = [
    path("<int:image_id>/<slug:version>/", views.image_version, name="image-version"),
]
