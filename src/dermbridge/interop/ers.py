"""The NHS e-Referral Service attachment pack: a referral letter PDF and the images.

e-RS takes attachments of at most 5 MB each; the pipeline's ``ers`` derivative is made to fit,
and this module refuses to write one that does not. The letter is real text (ReportLab), so
e-RS users can search and copy from it and screen readers can read it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.utils.text import capfirst
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from dermbridge.interop.fhir import AI_CAVEAT, ReferralRecord
from dermbridge.vocabulary import HISTORY_QUESTIONS

ERS_MAX_BYTES = 5_000_000
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class AttachmentTooLarge(ValueError):
    """An image over the e-RS 5 MB attachment limit (the pipeline should never make one)."""


def _p(text: str, style: Any) -> Paragraph:
    from xml.sax.saxutils import escape

    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _table(rows: list[list[Any]]) -> Table:
    table = Table(rows, colWidths=[55 * mm, 115 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
            ]
        )
    )
    return table


def letter_pdf(record: ReferralRecord, thumbnails: Mapping[int, bytes]) -> bytes:
    """The referral letter: patient, question, history, lesions, AI summary, thumbnails."""
    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]
    referral = record.referral
    patient = referral.patient
    story: list[Flowable] = [
        _p(f"Teledermatology referral {referral.reference}", h1),
        _p(
            f"{referral.get_kind_display()} from {referral.referring_org.name} "
            f"({referral.referring_org.ods_code}) to {referral.service.name} "
            f"({referral.service.ods_code}).",
            body,
        ),
        _p("Patient", h2),
        _table(
            [
                [_p("Name", body), _p(f"{patient.given_name} {patient.family_name}", body)],
                [_p("NHS number", body), _p(patient.formatted_nhs_number, body)],
                [_p("Date of birth", body), _p(patient.date_of_birth.strftime("%d %B %Y"), body)],
                [_p("Sex", body), _p(patient.get_sex_display(), body)],
                [
                    _p(str(capfirst(patient._meta.get_field("fitzpatrick").verbose_name)), body),
                    _p(patient.get_fitzpatrick_display() or "Not recorded", body),
                ],
            ]
        ),
        _p("Referrer", h2),
        _p(
            f"{referral.referrer} at {referral.referring_org.name}. "
            f"Sent {referral.submitted_at:%d %B %Y %H:%M}."
            if referral.submitted_at
            else f"{referral.referrer} at {referral.referring_org.name}.",
            body,
        ),
        _p("Question for the dermatologist", h2),
        _p(referral.clinical_question or "None given.", body),
    ]
    history = getattr(referral, "history", None)
    if history is not None:
        rows = []
        for name, text in HISTORY_QUESTIONS.items():
            value = getattr(history, name, "")
            if value in ("", None):
                continue
            display = getattr(history, f"get_{name}_display", lambda v=value: v)()
            rows.append([_p(text, body), _p(str(display), body)])
        story += [_p("Clinical history", h2), _table(rows) if rows else _p("Not recorded.", body)]
    if referral.exclusion_reasons:
        story += [
            _p("Service exclusions flagged", h2),
            _p("; ".join(referral.exclusion_reasons), body),
        ]

    story.append(_p("Lesions", h2))
    for lesion in record.lesions:
        site = lesion.body_site_label
        side = f" ({lesion.get_laterality_display().lower()})" if lesion.laterality else ""
        size = f", {lesion.size_mm} mm" if lesion.size_mm is not None else ""
        block: list[Flowable] = [
            _p(
                f"Lesion {lesion.number}: {site}{side}{size}. "
                f"{'Pigmented. ' if lesion.pigmented else ''}{lesion.description}",
                body,
            )
        ]
        shown = [
            image
            for image, _, _ in record.images
            if image.lesion_id == lesion.pk and image.pk in thumbnails
        ]
        if shown:
            thumbs = [
                Image(
                    io.BytesIO(thumbnails[i.pk]), width=40 * mm, height=30 * mm, kind="proportional"
                )
                for i in shown
            ]
            block.append(Table([thumbs, [_p(i.get_image_type_display(), body) for i in shown]]))
        # A lesion's description and its photos stay on one page.
        story += [KeepTogether(block), Spacer(1, 3 * mm)]

    story.append(_p("AI assessment (decision support)", h2))
    if record.assessments:
        for a in record.assessments:
            lesion_no = a.image.lesion.number
            if a.abstained:
                text = f"Lesion {lesion_no}: the model abstained ({a.abstention_reason or 'no reason given'})."
            else:
                prob = (
                    ""
                    if a.malignant_probability is None
                    else f", malignant probability {a.malignant_probability:.2f}"
                )
                text = f"Lesion {lesion_no}: {a.get_band_display() or 'no band'}{prob} (model {a.model_version})."
            story.append(_p(text, body))
    else:
        story.append(_p("No AI assessment was made for this referral.", body))
    story.append(_p(AI_CAVEAT, body))

    if record.outcome is not None:
        outcome = record.outcome
        story += [
            _p("Dermatologist's outcome", h2),
            _p(
                f"Diagnosis: {outcome.diagnosis_label}. Pathway: {outcome.get_pathway_decision_display()}.",
                body,
            ),
            _p(f"Plan: {outcome.management_plan}", body),
            _p(f"Advice to the referrer: {outcome.advice_to_referrer}", body),
        ]
    names = [
        attachment_name(referral.reference, i.lesion.number, i.image_type, i.pk, media_type)
        for i, _, media_type in record.images
    ]
    story += [
        Spacer(1, 5 * mm),
        _p(
            f"Images attached ({len(names)}, e-RS versions, each at most 5 MB): "
            + (", ".join(names) or "none")
            + ".",
            body,
        ),
    ]

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"Referral {referral.reference}",
        author="DermBridge",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
    )

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(
            18 * mm,
            10 * mm,
            f"Referral {referral.reference} - NHS number {patient.formatted_nhs_number} - "
            f"page {document.page}",
        )
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def attachment_name(
    reference: str, lesion_number: int, image_type: str, pk: int, media_type: str
) -> str:
    return (
        f"{reference}-lesion{lesion_number}-{image_type}-{pk}.{EXTENSIONS.get(media_type, 'bin')}"
    )


def write_pack(
    record: ReferralRecord, out_dir: Path, thumbnails: Mapping[int, bytes]
) -> list[Path]:
    """Write the letter and every image's e-RS version; refuse any attachment over 5 MB."""
    for image, data, _ in record.images:
        if len(data) > ERS_MAX_BYTES:
            raise AttachmentTooLarge(
                f"Image {image.pk} is {len(data):,} bytes, over the e-RS limit of 5,000,000."
            )
    pdf = letter_pdf(record, thumbnails)
    if len(pdf) > ERS_MAX_BYTES:  # the letter is an attachment too
        raise AttachmentTooLarge(
            f"The referral letter is {len(pdf):,} bytes, over the e-RS limit of 5,000,000."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    letter = out_dir / f"{record.referral.reference}-letter.pdf"
    letter.write_bytes(pdf)
    written = [letter]
    for image, data, media_type in record.images:
        path = out_dir / attachment_name(
            record.referral.reference, image.lesion.number, image.image_type, image.pk, media_type
        )
        path.write_bytes(data)
        written.append(path)
    return written
