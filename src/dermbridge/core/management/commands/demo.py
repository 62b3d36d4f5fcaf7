"""`dermbridge demo`: load the demo organisations, logins and referrals (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dermbridge.demo import DEMO_LOGINS, DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = "Load demo data (safe to run again) and/or print the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--print-logins", action="store_true", help="Only print the logins.")
        parser.add_argument(
            "--no-referrals", action="store_true", help="Logins and organisations only."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["print_logins"]:
            count, created = load_demo(with_referrals=not options["no_referrals"])
            verb = "Loaded" if created else "Demo data already present:"
            self.stdout.write(f"{verb} {count} demo referrals.")
            return
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.username:<14} {login.role:<28} {login.organisation}")
        self.stdout.write("")
