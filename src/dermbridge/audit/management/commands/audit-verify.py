"""`dermbridge audit-verify`: exit 0 on an intact audit chain, 1 naming the first bad event.

An intact chain is sealed afterwards (a signed checkpoint appended outside the database)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.audit import seal_copies
from dermbridge.audit.seals import seal_path
from dermbridge.audit.services import seal_chain, verify_chain


class Command(BaseCommand):
    help = "Verify the keyed hash chain of the audit trail against its seals, then seal it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-seal", action="store_true", help="Verify only; append no seal afterwards."
        )

    def handle(self, *args: Any, no_seal: bool = False, **options: Any) -> None:
        result = verify_chain()
        if not result.ok:
            raise CommandError(f"Audit chain broken: {result.problem}.")
        self.stdout.write(
            f"Audit chain intact: {result.checked} events verified against {result.seals} seals."
        )
        if result.seals == 0 and result.checked:
            self.stderr.write(
                f"Warning: no seals in {seal_path()}: events removed from the end of the chain "
                "could not be noticed before this run's seal."
            )
        if seal_copies.enabled():
            problem = seal_copies.lock_problem()
            if problem:
                self.stderr.write(f"Warning: {problem}.")
        if not no_seal and seal_chain():
            self.stdout.write(f"Sealed at #{result.checked} in {seal_path()}.")
