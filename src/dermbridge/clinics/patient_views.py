"""The patient's answer to a photography appointment from their status page (no login: the link
is the key): confirm it, or ask to rebook it. Thin: the work and its audit are in
`clinics.patient`. Mounted under /status/<token>/appointment/ (patient_urls.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from dermbridge.clinics import patient


def _answer_page(request: HttpRequest, answer: patient.Answer) -> HttpResponse:
    response = render(
        request, "clinics/status_answer.html", {"answer": answer}, status=answer.status
    )
    # As the status page: the URL is the secret.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_POST
def confirm(request: HttpRequest, token: str, appointment_pk: int) -> HttpResponse:
    return _answer_page(request, patient.confirm(token, appointment_pk))


@require_POST
def rebook(request: HttpRequest, token: str, appointment_pk: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _answer_page(request, patient.ask_to_rebook(token, appointment_pk, note))
