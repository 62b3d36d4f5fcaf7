from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "dermbridge.notifications"
    label = "notifications"

    def ready(self) -> None:
        # Reactions to the apps below (ADR 0012): connected here, once.
        from dermbridge.notifications import receivers  # noqa: F401
