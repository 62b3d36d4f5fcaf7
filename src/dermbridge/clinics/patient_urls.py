"""The patient's answers to a photography appointment, under their status link (mounted at
status/ in dermbridge.urls, beside notifications' /status/<token>/)."""

from django.urls import path

from dermbridge.clinics import patient_views

urlpatterns = [
    path(
        "<str:token>/appointment/<int:appointment_pk>/confirm/",
        patient_views.confirm,
        name="patient-appointment-confirm",
    ),
    path(
        "<str:token>/appointment/<int:appointment_pk>/rebook/",
        patient_views.rebook,
        name="patient-appointment-rebook",
    ),
]
