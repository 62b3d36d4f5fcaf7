from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "dermbridge.interop"
    label = "interop"
