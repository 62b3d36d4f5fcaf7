from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dermbridge.core"
    label = "core"
    verbose_name = "DermBridge core"
