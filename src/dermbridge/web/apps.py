from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "dermbridge.web"
    label = "web"
