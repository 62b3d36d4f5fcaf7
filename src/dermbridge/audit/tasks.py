"""Periodic audit work for the task worker (queued by `dermbridge scheduler`)."""

from __future__ import annotations

from django_tasks import task

from dermbridge.audit.services import seal_chain


@task()
def seal_audit_chain() -> str:
    """Append a signed seal of the chain's tip (nothing when no event was added since the last)."""
    return "sealed" if seal_chain() else "unchanged"
