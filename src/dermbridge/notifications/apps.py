from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "dermbridge.notifications"
    label = "notifications"
