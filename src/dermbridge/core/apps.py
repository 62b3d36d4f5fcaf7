from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dermbridge.core"
    label = "core"
    verbose_name = "DermBridge core"

    def ready(self) -> None:
        # checks: the system checks; metrics: task metrics from django-tasks' signals.
        from dermbridge.core import checks, metrics  # noqa: F401
