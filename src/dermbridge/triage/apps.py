from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "dermbridge.triage"
    label = "triage"

    def ready(self) -> None:
        # Reactions to the apps below (ADR 0012): connected here, once.
        from dermbridge.triage import receivers  # noqa: F401
