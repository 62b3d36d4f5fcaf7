"""What the imaging app tells the apps above it, without importing them (ADR 0012; see
referrals/signals.py for the rules every such signal follows)."""

from __future__ import annotations

from django.dispatch import Signal

# An image finished processing: its derivatives are stored and it is READY. kwargs: image.
# Sent inside the transaction that marks it ready (the AI's pre-read is enqueued with it).
image_ready = Signal()
