from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "dermbridge.referrals"
    label = "referrals"

    def ready(self) -> None:
        from dermbridge.referrals import checks  # noqa: F401  (registers the system checks)
