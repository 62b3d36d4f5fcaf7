from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "dermbridge.referrals"
    label = "referrals"
