"""The lesions pages, mounted at /lesions/ (dermbridge.urls)."""

from django.urls import path

from dermbridge.lesions import views

urlpatterns = [
    path("patients/<int:patient_pk>/", views.patient_lesions, name="lesions-patient"),
    path("link/<int:referral_lesion_pk>/", views.link, name="lesions-link"),
    path("<int:lesion_pk>/compare/", views.compare, name="lesions-compare"),
    path("<int:lesion_pk>/monitor/", views.monitor, name="lesions-monitor"),
    path(
        "<int:lesion_pk>/visits/<int:encounter_pk>/aligned.jpg",
        views.aligned,
        name="lesions-aligned",
    ),
]
