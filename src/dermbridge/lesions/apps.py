from django.apps import AppConfig


class LesionsConfig(AppConfig):
    name = "dermbridge.lesions"
    label = "lesions"
    verbose_name = "The patient's lesions over time"

    def ready(self) -> None:
        # Reactions to the apps below (ADR 0012): connected here, once.
        from dermbridge.lesions import receivers  # noqa: F401
