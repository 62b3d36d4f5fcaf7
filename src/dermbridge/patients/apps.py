from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "dermbridge.patients"
    label = "patients"
