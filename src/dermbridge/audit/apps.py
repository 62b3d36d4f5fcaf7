from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "dermbridge.audit"
    label = "audit"
