from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "dermbridge.triage"
    label = "triage"
