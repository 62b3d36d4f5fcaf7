"""`dermbridge issue-token USERNAME [--rotate]`: print the API token of a system account."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.accounts.models import User
from dermbridge.accounts.tokens import issue_api_token


class Command(BaseCommand):
    help = (
        "Print the REST API token of a user (for a GP system or capture app integration), "
        "creating it if needed. Send it as 'Authorization: Token <key>'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="Revoke the current token and issue a new one."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"User {user.username!r} is deactivated: no token issued.")
        token = issue_api_token(user, issued_by=None, rotate=options["rotate"])
        self.stdout.write(token.key)
