"""`dermbridge audit-verify`: exit 0 on an intact audit chain, 1 naming the first bad event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dermbridge.audit.services import verify_chain


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail."

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_chain()
        if not result.ok:
            raise CommandError(f"Audit chain broken: {result.problem}.")
        self.stdout.write(f"Audit chain intact: {result.checked} events verified.")
