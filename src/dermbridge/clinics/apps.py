from django.apps import AppConfig


class ClinicsConfig(AppConfig):
    name = "dermbridge.clinics"
    label = "clinics"
    verbose_name = "Imaging hub clinics"
