"""Patient status links: /status/<token>/ (mounted at status/ in dermbridge.urls)."""

from django.urls import path

from dermbridge.notifications import views

urlpatterns = [
    path("<str:token>/", views.patient_status, name="patient-status"),
]
