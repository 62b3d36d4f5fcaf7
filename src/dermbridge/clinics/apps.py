from django.apps import AppConfig


class ClinicsConfig(AppConfig):
    name = "dermbridge.clinics"
    label = "clinics"
    verbose_name = "Imaging hub clinics"

    def ready(self) -> None:
        # Reactions to the apps below (ADR 0012): connected here, once.
        from dermbridge.clinics import receivers  # noqa: F401
