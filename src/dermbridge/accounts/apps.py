from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "dermbridge.accounts"
    label = "accounts"
