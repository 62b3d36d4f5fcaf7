from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dermbridge.core"
    label = "core"
    verbose_name = "DermBridge core"

    def ready(self) -> None:
        from dermbridge.core import checks  # noqa: F401  (registers the system checks)
        from dermbridge.core import metrics  # noqa: F401  (task metrics from django-tasks' signals)
