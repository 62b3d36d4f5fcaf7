"""Letters to post: patient messages for people who asked for post, or gave no email or number.

The outbox holds them as `letter` messages that no worker sends. The dermatology service's staff
print them (one PDF, a page per letter, real text), post them through their usual mail room with
the address from their patient administration system, and mark them posted. Printing and
posting are audited against each referral.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table

from dermbridge.audit.services import record
from dermbridge.notifications.models import Channel, OutboxMessage, OutboxStatus

if TYPE_CHECKING:
    from dermbridge.accounts.models import User


def letters_to_post(service_ids: Iterable[int]) -> QuerySet[OutboxMessage]:
    """Letters still to post for referrals addressed to these services, oldest first."""
    return (
        OutboxMessage.objects.filter(
            channel=Channel.LETTER,
            status=OutboxStatus.PENDING,
            referral__service_id__in=list(service_ids),
        )
        .select_related("referral__patient", "referral__service")
        .order_by("created_at", "id")
    )


def _paragraphs(text: str, style: object) -> list[Paragraph]:
    return [
        Paragraph(escape(chunk).replace("\n", "<br/>"), style)
        for chunk in text.strip().split("\n\n")
        if chunk.strip()
    ]


def letters_pdf(letters: Sequence[OutboxMessage]) -> bytes:
    """One A4 page per letter: the service, the patient's name and NHS number above a space
    for the address (window envelope), the date, the subject and the message."""
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    body.fontSize, body.leading = 12, 16  # large enough to read without glasses
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title="Letters to post",
        author="DermBridge",
    )
    story: list[object] = []
    for n, letter in enumerate(letters):
        referral = letter.referral
        assert referral is not None  # letters_to_post only returns referral letters
        patient = referral.patient
        if n:
            story.append(PageBreak())
        story.append(Paragraph(escape(referral.service.name), styles["Heading2"]))
        story.append(Spacer(1, 8 * mm))
        address = Table(
            [
                [Paragraph(escape(f"{patient.given_name} {patient.family_name}"), body)],
                [Paragraph(f"NHS number {escape(patient.formatted_nhs_number)}", body)],
                [Paragraph("<i>Address from the patient administration system</i>", body)],
            ],
            colWidths=[90 * mm],
            rowHeights=[7 * mm, 7 * mm, 20 * mm],
            hAlign="LEFT",
        )
        story.append(address)
        story.append(Spacer(1, 8 * mm))
        story.append(Paragraph(f"{timezone.localdate():%-d %B %Y}", body))
        story.append(Paragraph(f"Our reference: {escape(referral.reference)}", body))
        story.append(Spacer(1, 6 * mm))
        story.append(Paragraph(escape(letter.subject), styles["Heading3"]))
        story.extend(_paragraphs(letter.body, body))
    doc.build(story)
    return buffer.getvalue()


def print_letters(user: User, letters: Sequence[OutboxMessage]) -> bytes:
    """The PDF of these letters, with a print recorded against each referral."""
    pdf = letters_pdf(letters)
    with transaction.atomic():
        for letter in letters:
            record(
                user,
                "letter.printed",
                letter.referral,
                organisation_id=letter.referral.service_id if letter.referral else None,
                detail={"message": letter.pk},
            )
    return pdf


@transaction.atomic
def mark_posted(user: User, service_ids: Iterable[int], message_ids: Iterable[int]) -> int:
    """Mark these letters posted; only pending letters of the user's services count."""
    letters = list(
        letters_to_post(service_ids)
        .filter(pk__in=list(message_ids))
        .select_for_update(of=("self",))
    )
    now = timezone.now()
    for letter in letters:
        letter.status, letter.sent_at = OutboxStatus.SENT, now
        letter.save(update_fields=["status", "sent_at"])
        record(
            user,
            "letter.posted",
            letter.referral,
            organisation_id=letter.referral.service_id if letter.referral else None,
            detail={"message": letter.pk, "event": letter.event},
        )
    return len(letters)
