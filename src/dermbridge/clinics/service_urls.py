"""The dermatology service's hub page, mounted at /hubs/photography/ (dermbridge.urls)."""

from django.urls import path

from dermbridge.clinics import views_service

urlpatterns = [
    path(
        "<int:referral_pk>/",
        views_service.send_for_photography,
        name="clinics-send-for-photography",
    ),
]
