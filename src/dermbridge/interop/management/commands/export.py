"""`dermbridge export --format fhir|ers|dicom --referral DB-XXXXXXX --out DIR [--user NAME]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.accounts.models import User
from dermbridge.core.errors import DomainError
from dermbridge.interop.services import FORMATS, export_referral


class Command(BaseCommand):
    help = (
        "Export a referral as a FHIR R4 Bundle (fhir), an NHS e-RS attachment pack (ers: letter "
        "PDF and images of at most 5 MB) or DICOM objects (dicom). Every export is audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument(
            "--referral", required=True, help="Referral reference, e.g. DB-ABC2345."
        )
        parser.add_argument("--out", required=True, type=Path, help="Folder to write into.")
        parser.add_argument(
            "--user",
            default="",
            help="Export as this user (only referrals they may see); default: the operator (system).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"], is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {options['user']!r}.")
        try:
            written = export_referral(
                options["referral"], fmt=options["fmt"], out_dir=options["out"], user=user
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for path in written:
            self.stdout.write(str(path))
        self.stdout.write(
            f"Exported {options['referral'].upper()} as {options['fmt']}: {len(written)} file(s)."
        )
