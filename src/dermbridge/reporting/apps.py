from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "dermbridge.reporting"
    label = "reporting"

    def ready(self) -> None:
        # The missed-cancer check on each histology result (reporting/receivers.py).
        from dermbridge.reporting import receivers  # noqa: F401
