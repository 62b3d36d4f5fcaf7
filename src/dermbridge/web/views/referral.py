"""One referral: the review page both sides share, its workflow actions and its messages."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils.safestring import SafeString

from dermbridge.accounts.models import User
from dermbridge.core.rows import read_prepared
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.interop import services as interop_services
from dermbridge.lesions.earlier import Earlier, earlier_photos
from dermbridge.referrals import outcomes, permissions, reads, services, workflow
from dermbridge.referrals.models import Lesion, LesionOutcome, Referral, ReferralKind, State
from dermbridge.triage import display as ai_display
from dermbridge.triage.models import Assessment
from dermbridge.web.forms import (
    ConvertForm,
    DowngradeForm,
    LesionOutcomeForm,
    OutcomeForm,
    PatientToldForm,
    TextForm,
)
from dermbridge.web.views.common import (
    acting_user,
    error_items,
    record_access_denied,
)

_URL_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]{16,32}")

# Workflow actions done with one button press (no further input).
BUTTON_ACTIONS: dict[str, Callable[..., Any]] = {
    "claim": services.claim,
    "release": services.release,
    "close": services.close,
}


@dataclass(frozen=True)
class FormAction:
    """A workflow step that needs words from the user (a reason, a question, a date)."""

    title: str
    make_form: Callable[[Any], forms.Form]
    perform: Callable[[Referral, User, dict[str, Any]], Any]
    done: str
    button: str = "Send"


FORM_ACTIONS: dict[str, FormAction] = {
    "request_info": FormAction(
        "Ask the referrer for more information",
        lambda data: TextForm(data, label="What do you need to know?"),
        lambda r, u, d: services.request_more_information(r, user=u, question=d["text"]),
        "Your question was sent to the referrer.",
    ),
    "reply_info": FormAction(
        "Send the information the dermatologist asked for",
        lambda data: TextForm(data, label="Your reply"),
        lambda r, u, d: services.reply_with_information(r, user=u, body=d["text"]),
        "Your reply was sent; the referral is back on the dermatology worklist.",
    ),
    "convert": FormAction(
        "Convert this advice request to a referral",
        ConvertForm,
        lambda r, u, d: services.convert_advice_request(
            r, user=u, to_kind=d["to_kind"], note=d["text"]
        ),
        "Converted: the new pathway's clock has started.",
        "Convert",
    ),
    "withdraw": FormAction(
        "Withdraw this referral",
        lambda data: TextForm(data, label="Reason for withdrawing"),
        lambda r, u, d: services.withdraw(r, user=u, reason=d["text"]),
        "Referral withdrawn.",
        "Withdraw referral",
    ),
    "downgrade": FormAction(
        "Downgrade this urgent suspected cancer referral",
        DowngradeForm,
        lambda r, u, d: services.downgrade_usc(r, user=u, to_kind=d["to_kind"], reason=d["text"]),
        "Referral downgraded.",
        "Downgrade",
    ),
    "patient_told": FormAction(
        "Record when the patient was told",
        PatientToldForm,
        lambda r, u, d: services.record_patient_told(
            r, user=u, told_at=d["told_at"], method=d["method"]
        ),
        "Recorded when the patient was told.",
        "Save",
    ),
}


LEAD_ORDER = {"outcome": 0, "claim": 1, "edit": 1, "reply_info": 1, "release": 8}


def _action_links(
    user: User, referral: Referral, can: dict[str, bool] | None = None
) -> list[dict[str, str]]:
    """Buttons for what this user may do now, from the rule table (never decided here);
    ``can`` is `permissions.can(user, referral)` when the caller has it already."""
    links = []
    can = permissions.can(user, referral) if can is None else can
    for transition in workflow.TRANSITIONS.values():
        action = transition.action
        if not can[action]:
            continue
        if action in BUTTON_ACTIONS:
            url = reverse("referral-act", args=[referral.pk, action])
            links.append({"label": transition.label, "url": url, "method": "post"})
        elif action in ("give_advice", "triage"):
            url = reverse("referral-outcome", args=[referral.pk])
            links.append({"label": transition.label, "url": url, "method": "get"})
        elif action in FORM_ACTIONS:
            url = reverse("referral-form", args=[referral.pk, action])
            links.append({"label": transition.label, "url": url, "method": "get"})
        elif action == "submit":
            url = reverse("referral-edit", args=[referral.pk])
            links.append({"label": "Continue the draft", "url": url, "method": "get"})
    if not can["submit"] and not can["reply_info"] and (can["add_photo"] or can["record_consent"]):
        # A photographer: the draft's page shows the photos still needed.
        url = reverse("referral-edit", args=[referral.pk])
        label = "Add photos" if referral.state == State.DRAFT else "Add the photos asked for"
        links.append({"label": label, "url": url, "method": "get"})
    # One obvious primary action (the first button): answering the case comes before
    # anything else; returning it to the worklist never leads.
    links.sort(key=lambda link: LEAD_ORDER.get(link["url"].rstrip("/").rsplit("/", 1)[-1], 9))
    if can["downgrade"]:
        url = reverse("referral-form", args=[referral.pk, "downgrade"])
        links.append({"label": "Downgrade referral", "url": url, "method": "get"})
    if can["record_patient_told"] and referral.patient_told_at is None:
        url = reverse("referral-form", args=[referral.pk, "patient_told"])
        links.append({"label": "Record when the patient was told", "url": url, "method": "get"})
    return links


def _answer_action(
    user: User, referral: Referral, can: dict[str, bool] | None = None
) -> str | None:
    """'give_advice' or 'triage' when this user may record the answer now, else None."""
    action = "give_advice" if referral.kind == ReferralKind.ADVICE else "triage"
    allowed = permissions.may(user, action, referral) if can is None else can[action]
    return action if allowed else None


@functools.lru_cache(maxsize=2)
def _blank_outcome_html(advice_only: bool) -> dict[str, SafeString]:
    """The outcome form's fields unfilled, as HTML: the same for every case and every
    dermatologist (the choices are the terminology lists in the code), so rendered once per
    process rather than through Django's widget templates on every review page. A form with
    data or errors is rendered as it is (outcome_form.html)."""
    form = OutcomeForm(advice_only=advice_only)
    form.mark_errors()
    context = {"outcome_form": form}
    return {
        "decision": render_to_string("web/includes/outcome_decision.html", context),
        "texts": render_to_string("web/includes/outcome_texts.html", context),
    }


@functools.lru_cache(maxsize=256)
def _blank_lesion_html(advice_only: bool, number: int, site: str, laterality: str) -> SafeString:
    """One lesion's unfilled fieldset as HTML (about 6 ms to render through the widget
    templates): it depends only on the lesion's number, body site and side and the pathway,
    none of which identifies a patient, so it is rendered once per process per combination."""
    lesion = Lesion(number=number, body_site_code=site, laterality=laterality)
    form = LesionOutcomeForm(lesion=lesion, advice_only=advice_only)
    form.mark_errors()
    return render_to_string("web/includes/outcome_lesions.html", {"lesion_forms": [form]})


def _ready_images(referral: Referral) -> dict[int, list[LesionImage]]:
    """The referral's ready photos by lesion id, in upload order, from a prepared statement
    (nothing of the images is read from the blob store: the page links to them)."""
    by_lesion: dict[int, list[LesionImage]] = {}
    for image in read_prepared(
        ("web.review.ready_images",),
        lambda key, status: (
            LesionImage.objects.filter(lesion__referral_id=key).filter(status=status).order_by("id")
        ),
        args=(referral.pk, ImageStatus.READY.value),
    ):
        image.urls = image_urls(image.media_key)  # type: ignore[attr-defined]
        by_lesion.setdefault(image.lesion_id, []).append(image)
    return by_lesion


def _assessments_of(referral: Referral) -> list[Assessment]:
    """`triage.services.assessments_for(referral)` (the same query: by lesion number, then
    photo) from a statement prepared once per process; web/tests/test_review_reads.py holds
    the two equal."""
    return read_prepared(
        ("web.review.assessments",),
        lambda key: (
            Assessment.objects.filter(image__lesion__referral_id=key)
            .select_related("image__lesion")
            .order_by("image__lesion__number", "image_id")
        ),
        args=(referral.pk,),
    )


IMAGE_VERSIONS = ("viewer", "master", "thumbnail")


@functools.lru_cache(maxsize=8)
def _image_url_head(script_prefix: str) -> str | None:
    """What every photo version's address starts with under this script prefix (the part
    before the key), from `reverse` once; None if the route is not ``<head><key>/<version>/``."""
    probe = "K" * 16
    url = reverse("image-version", args=[probe, "viewer"])
    head, found, tail = url.partition(probe)
    return head if found and tail == "/viewer/" else None


def image_urls(media_key: str) -> dict[str, str]:
    """A photo's viewer, full-resolution and thumbnail addresses: what ``{% url 'image-version'
    key version %}`` gives (a key is URL-safe: [A-Za-z0-9_-], never quoted), without a reversal
    per address (15 of them for a lesion's three photos)."""
    head = _image_url_head(get_script_prefix())
    if head is None or not _URL_SAFE_KEY.fullmatch(media_key):
        return {v: reverse("image-version", args=[media_key, v]) for v in IMAGE_VERSIONS}
    return {v: f"{head}{media_key}/{v}/" for v in IMAGE_VERSIONS}


def lesion_outcomes_of(lesions: list[Any]) -> list[Any]:
    """Each lesion's recorded answer, in lesion order (the page reads them with the lesions)."""
    return list(
        LesionOutcome.objects.filter(lesion__in=lesions)
        .select_related("lesion")
        .prefetch_related("lesion__histology_results")
        .order_by("lesion__number")
    )


@functools.lru_cache(maxsize=1)
def _blank_message_html() -> SafeString:
    """The review page's empty message box, rendered once per process (as the outcome form)."""
    return render_to_string("web/includes/field.html", {"field": TextForm(label="Message")["text"]})


def _review_context(
    request: HttpRequest,
    referral: Referral,
    user: User,
    outcome_form: OutcomeForm | None = None,
    extra_errors: list[str] | None = None,
    lesion_forms: list[LesionOutcomeForm] | None = None,
) -> dict[str, Any]:
    """The review page: the case, its photos with the AI's reading, and (for the reviewing
    dermatologist) the outcome form beside the photos."""
    services.view_referral(referral, user=user)
    lesions = reads.lesions_of(referral)
    images = _ready_images(referral)
    service_side = workflow.is_service_staff(user, referral)
    assessments = _assessments_of(referral) if service_side else []
    ai_by_lesion: dict[int, list[Any]] = {}
    for assessment in assessments:
        ai_by_lesion.setdefault(assessment.image.lesion_id, []).append(ai_display.view(assessment))
    # Earlier photos from the lesion's linked history, or a labelled same-site guess (lesions).
    earlier = earlier_photos(user, referral, lesions) if service_side else {}
    for shown in earlier.values():
        for image in shown.images:
            image.urls = image_urls(image.media_key)  # type: ignore[attr-defined]
    can = permissions.can(user, referral)
    answer = _answer_action(user, referral, can)
    actions = _action_links(user, referral, can)
    outcome_blank = None
    if answer and outcome_form is None:
        outcome_form = OutcomeForm(advice_only=answer == "give_advice")
        outcome_blank = _blank_outcome_html(answer == "give_advice")
    if answer:
        # The form is on this page, beside the photos: no button leads away to it.
        outcome_url = reverse("referral-outcome", args=[referral.pk])
        actions = [a for a in actions if a["url"] != outcome_url]
    if outcome_form is not None and hasattr(outcome_form, "mark_errors"):
        outcome_form.mark_errors()
    lesion_blank = None
    if answer and lesion_forms is None:
        # One fieldset per lesion, labelled with its body site: unfilled, from the per-process
        # cache (_blank_lesion_html); the forms are kept for the error summary (unbound: none).
        lesion_forms = [
            LesionOutcomeForm(lesion=lesion, advice_only=answer == "give_advice")
            for lesion in lesions
        ]
        lesion_blank = SafeString(
            "".join(
                _blank_lesion_html(
                    answer == "give_advice", lesion.number, lesion.body_site_code, lesion.laterality
                )
                for lesion in lesions
            )
        )
    for lesion_form in lesion_forms or []:
        lesion_form.mark_errors()
    outcome = getattr(referral, "outcome", None)
    return {
        "referral": referral,
        "patient": referral.patient,
        "history": getattr(referral, "history", None),
        "outcome": outcome,
        # Read only once there is an answer (no extra query on a case still being reviewed).
        "lesion_outcomes": lesion_outcomes_of(lesions) if outcome is not None else [],
        "lesions": [
            (
                lesion,
                images.get(lesion.pk, []),
                ai_by_lesion.get(lesion.pk, []),
                earlier.get(lesion.pk, Earlier()),
                any(i.image_type == ImageType.DERMOSCOPIC for i in images.get(lesion.pk, [])),
            )
            for lesion in lesions
        ],
        "ai_bands": ai_display.BANDS,
        "state_changes": reads.state_changes_of(referral),
        "thread": reads.messages_of(referral),
        "actions": actions,
        "service_side": service_side,
        "breach": referral.breach_status(),
        "message_form": TextForm(label="Message") if can["send_message"] else None,
        "message_blank": _blank_message_html() if can["send_message"] else None,
        "is_capturer": workflow.is_capturer(user, referral),
        "can": can,
        # Service staff archive a sent referral's images to the hospital PACS.
        # (Its last send is read only when a PACS is configured: the page shows nothing else.)
        "pacs": interop_services.pacs_status(referral)
        if can["send_to_pacs"] and interop_services.pacs_target().configured
        else None,
        "outcome_form": outcome_form if answer else None,
        "lesion_forms": lesion_forms if answer else [],
        "lesion_blank": lesion_blank,
        "outcome_blank": outcome_blank,
        "answer_action": answer,
        "explanation_templates": outcomes.templates_for(referral) if answer else [],
        "error_list": error_items(outcome_form, *(lesion_forms or []), extra=extra_errors or [])
        if answer and outcome_form is not None
        else [],
    }


@login_required
def referral_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything about one referral for whoever may see it; actions for what they may do."""
    user = acting_user(request)
    # One prepared read of the referral with its history and answer (visible_referral's rule
    # and refusal, as every referral page).
    referral = reads.referral_for_review(user, pk)
    if referral is None:
        record_access_denied(request, "referrals.referral", pk)
        raise Http404("No such referral.")
    return render(request, "web/referral_detail.html", _review_context(request, referral, user))
