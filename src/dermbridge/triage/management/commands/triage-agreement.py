"""`dermbridge triage-agreement`: AI vs dermatologist vs histology, per model version (JSON)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from dermbridge.triage.services import agreement_report


class Command(BaseCommand):
    help = "Report agreement between the AI, dermatologists and histology per model version."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(agreement_report(), indent=2))
