from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "dermbridge.imaging"
    label = "imaging"
