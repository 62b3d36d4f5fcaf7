from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "dermbridge.imaging"
    label = "imaging"

    def ready(self) -> None:
        # Reactions to the apps below (ADR 0012): connected here, once.
        from dermbridge.imaging import receivers  # noqa: F401
