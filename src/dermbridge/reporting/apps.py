from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "dermbridge.reporting"
    label = "reporting"
