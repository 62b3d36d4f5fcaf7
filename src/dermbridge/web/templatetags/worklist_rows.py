"""`{% worklist_rows rows %}`: the worklist's table rows, built in Python.

Rendered through the template engine, the rows were half the worklist's server time (a variable
lookup, an escape, a URL reversal, an include per cell; docs/benchmarks/view-cost.json). This
writes the same HTML, byte for byte (web/tests/test_worklist_rows.py holds it to the template
it replaced), escaping every value as the template did.
"""

from __future__ import annotations

import functools
from html import escape as html_escape
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from dermbridge.core.templatetags.once import once_token

register = template.Library()

_PK = 987654321  # stands for a referral's id in the reversed addresses (URL patterns: <int:pk>)
_STATE_TAG = {
    "draft": "yellow",
    "more_info_requested": "yellow",
    "advice_given": "green",
    "triaged": "green",
    "closed": "grey",
    "withdrawn": "grey",
}


def esc(value: Any) -> str:
    """{{ value }} escaped as the template escaped it (Django's escape is html.escape of str)."""
    return html_escape(str(value))


@functools.cache
def _labels(meta: Any, name: str) -> dict[Any, str]:
    return {value: str(label) for value, label in meta.get_field(name).flatchoices}


def _display(r: Any, name: str) -> str:
    """r.get_<name>_display(), from the field's choices read once."""
    value = getattr(r, name)
    return str(_labels(r._meta, name).get(value, value))


@functools.cache
def _address(name: str, *rest: str) -> tuple[str, str]:
    """The address of `name` for any referral, as the text before and after its id."""
    before, _, after = reverse(name, args=[_PK, *rest]).partition(str(_PK))
    return before, after


def _url(name: str, pk: int, *rest: str) -> str:
    before, after = _address(name, *rest)
    return f"{before}{int(pk)}{after}"


def _state_tags(r: Any, breach: str, labels: dict[str, str]) -> str:
    """web/includes/state_tags.html for one row."""
    html = (
        f'<strong class="nhsuk-tag nhsuk-tag--{_STATE_TAG.get(r.state, "blue")}">'
        f"{esc(_display(r, 'state'))}</strong>\n"
    )
    if r.is_usc:
        html += f'<strong class="nhsuk-tag nhsuk-tag--red">{esc(_display(r, "kind"))}</strong>'
    html += "\n"
    if breach == "breached":
        html += (
            f'<strong class="nhsuk-tag nhsuk-tag--red">{esc(labels.get("breached", ""))}</strong>'
        )
    elif breach == "near":
        html += (
            f'<strong class="nhsuk-tag nhsuk-tag--orange">{esc(labels.get("near", ""))}</strong>'
        )
    return html + "\n"


def _risk(r: Any, band: Any) -> str:
    if r.ai_risk is None:
        return ""
    declined = band.key == "declined"
    percent = str(round(float(r.ai_risk) / 1.0 * 100))  # {% widthratio r.ai_risk 1 100 %}
    return (
        ' <span class="nhsuk-body-s">'
        + ("(another photo: " if declined else "")
        + f"{percent}% chance of cancer or pre-cancer"
        + (")" if declined else "")
        + "</span>"
    )


def _csrf_field(csrf_token: Any) -> str:
    """{% csrf_token %}: the hidden field, or nothing without a token."""
    if not csrf_token or csrf_token == "NOTPROVIDED":  # noqa: S105 - Django's "no token" marker
        return ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', csrf_token)


def _quick_form(r: Any, quick: str, csrf: str) -> str:
    if not quick:
        return ""
    label = "Start review" if quick == "claim" else "Return to worklist"
    return (
        f'<form method="post" action="{esc(_url("referral-act", r.pk, quick))}">{csrf}'
        f'{once_token()}<button class="nhsuk-button nhsuk-button--secondary nhsuk-button--small"'
        f' type="submit">{label}<span class="nhsuk-u-visually-hidden"> {esc(r.reference)}'
        "</span></button></form>"
    )


@functools.lru_cache(maxsize=4096)
def _due(due_at: Any, zone: str) -> str:
    """{{ due_at|date:"j M H:i" }} in the current time zone (`zone`), kept per value: the same
    cases come back on every worklist, and Django's date formatting is not cheap."""
    return str(date_format(timezone.template_localtime(due_at), "j M H:i"))  # type: ignore[attr-defined]


def _hub_result(r: Any) -> str:
    """A case photographed at a hub: when its result is due (clinics.results.ResultClock, set
    on the row by the worklist view), with near or past target."""
    clock = getattr(r, "hub_result", None)
    if clock is None:
        return ""
    tag = {"breached": "red", "near": "orange"}.get(clock.status, "green")
    label = clock.label
    return format_html(
        '<br><span class="nhsuk-body-s">Result to the patient by {}</span>{}',
        date_format(timezone.template_localtime(clock.due_at), "j M"),  # type: ignore[attr-defined]
        format_html(' <strong class="nhsuk-tag nhsuk-tag--{}">{}</strong>', tag, label)
        if label
        else "",
    )


def _cell(heading: str) -> str:
    return (
        '<td class="nhsuk-table__cell" role="cell">'
        f'<span class="nhsuk-table-responsive__heading" aria-hidden="true">{heading} </span>'
    )


_REFERENCE, _PATIENT, _PATHWAY = _cell("Reference"), _cell("Patient"), _cell("Pathway and status")
_AI, _DUE, _REVIEWER = _cell("AI risk"), _cell("Due"), _cell("Reviewer")


def _row(r: Any, breach: str, quick: str, band: Any, csrf: str, labels: Any) -> str:
    exclusions = ""
    if r.exclusion_reasons:
        n = len(r.exclusion_reasons)
        exclusions = (
            f' <strong class="nhsuk-tag nhsuk-tag--yellow">{n} exclusion'
            f"{'' if n == 1 else 's'}</strong>"
        )
    due = _due(r.due_at, timezone.get_current_timezone_name()) if r.due_at else ""
    patient = r.patient
    return (
        '\n  <tr class="nhsuk-table__row" role="row">\n    '
        f'{_REFERENCE}<a href="{esc(_url("referral-detail", r.pk))}">{esc(r.reference)}</a>'
        "</td>\n    "
        f"{_PATIENT}{esc(patient)}<br>"
        f'<span class="nhsuk-body-s">NHS {esc(patient.formatted_nhs_number)}</span></td>\n    '
        f"{_PATHWAY}{esc(_display(r, 'kind'))}<br>{_state_tags(r, breach, labels)}{exclusions}"
        "</td>\n    "
        f'{_AI}<strong class="nhsuk-tag nhsuk-tag--{esc(band.tag)}">{esc(band.label)}</strong>'
        f"{_risk(r, band)}</td>\n    "
        f"{_DUE}{esc(due)}{_hub_result(r)}</td>\n    "
        f"{_REVIEWER}{esc(r.claimed_by or '–')}\n      {_quick_form(r, quick, csrf)}"
        "</td>\n  </tr>\n  "
    )


@register.simple_tag(takes_context=True)
def worklist_rows(context: template.Context, rows: list[tuple[Any, str, str, Any]]) -> SafeString:
    """Every row of the worklist table: (referral, breach status, quick action, AI band)."""
    csrf = _csrf_field(context.get("csrf_token")) if any(q for _, _, q, _ in rows) else ""
    labels = context.get("target_labels") or {}
    html = "".join(_row(r, b, q, band, csrf, labels) for r, b, q, band in rows)
    return mark_safe(html)  # noqa: S308 - every value above is escaped (esc, format_html)
