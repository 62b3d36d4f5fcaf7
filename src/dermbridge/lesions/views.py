"""The patient's lesions (body map, each lesion's visits, linking) and the comparison of one
lesion over time. Thin: find what the user may see (404 recorded as a refusal otherwise), call
the services, render. Every page that shows a patient is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dermbridge.accounts.models import User
from dermbridge.audit.services import record_denial
from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.lesions import access, bodymap, comparison, reads, services
from dermbridge.lesions.forms import NEW, LinkForm, MonitorForm
from dermbridge.lesions.models import LinkChange, PatientLesion
from dermbridge.patients.models import Patient
from dermbridge.referrals.models import Lesion


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _refuse(request: HttpRequest, object_type: str, object_id: int) -> Http404:
    record_denial(_user(request), object_type, object_id, path=request.path, method=request.method)
    return Http404("Not found")


def _patient(request: HttpRequest, pk: int) -> Patient:
    patient = Patient.objects.filter(pk=pk).first()
    if patient is None or not access.may_see_patient(_user(request), pk):
        raise _refuse(request, "patients.patient", pk)
    return patient


def _patient_lesion(request: HttpRequest, pk: int) -> PatientLesion:
    found = PatientLesion.objects.select_related("patient").filter(pk=pk).first()
    if found is None or not services.may_open(_user(request), found):
        raise _refuse(request, "lesions.patientlesion", pk)
    return found


def _link_form(lesion: Lesion, data: Any = None) -> tuple[LinkForm, list[services.Suggestion]]:
    ranked = services.suggestions(lesion)
    choices = [
        (
            str(s.patient_lesion.pk),
            f"{s.patient_lesion.site_and_side}, first seen {s.patient_lesion.first_seen:%d %b %Y}"
            f" (match {round(s.score.total * 100)}%)",
        )
        for s in ranked
    ]
    initial = {}
    if ranked and ranked[0].score.confident:
        initial["patient_lesion"] = str(ranked[0].patient_lesion.pk)
    form = LinkForm(data, choices=choices, prefix=f"l{lesion.pk}", initial=initial)
    return form, ranked


@dataclass
class Waiting:
    lesion: Lesion
    form: LinkForm
    suggestions: list[services.Suggestion]
    may_link: bool


def _patient_page(
    request: HttpRequest,
    patient: Patient,
    *,
    bound: dict[int, LinkForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    overview = reads.patient_overview(user, patient)
    tracked = overview.tracked
    waiting: list[Waiting] = []
    for lesion in overview.waiting:
        form = (bound or {}).get(lesion.pk)
        if form is None:
            form, ranked = _link_form(lesion)
        else:
            ranked = services.suggestions(lesion)
        waiting.append(Waiting(lesion, form, ranked, access.may_link(user, lesion)))
    drawn = bodymap.draw(
        [
            (t.number, t.lesion.body_site_code, t.lesion.laterality, t.lesion.site_and_side)
            for t in tracked
        ]
    )
    on_map = {m.number for d in drawn for m in d.markers}
    errors = [(w.lesion, w.form) for w in waiting if w.form.is_bound and w.form.errors]
    return render(
        request,
        "lesions/patient.html",
        {
            "patient": patient,
            "tracked": tracked,
            "waiting": waiting,
            "history": overview.history,
            "drawn": drawn,
            "on_map": on_map,
            "width": bodymap.WIDTH,
            "errors": errors,
        },
        status=status,
    )


@login_required
@require_GET
def patient_lesions(request: HttpRequest, patient_pk: int) -> HttpResponse:
    return _patient_page(request, _patient(request, patient_pk))


@login_required
@require_POST
def link(request: HttpRequest, referral_lesion_pk: int) -> HttpResponse:
    lesion_pk = referral_lesion_pk
    user = _user(request)
    lesion = Lesion.objects.select_related("referral").filter(pk=lesion_pk).first()
    if (
        lesion is None
        or lesion.referral_id not in access.visible_referral_ids(user, lesion.referral.patient_id)
        or not access.may_see_patient(user, lesion.referral.patient_id)
    ):
        raise _refuse(request, "referrals.lesion", lesion_pk)
    if not access.may_link(user, lesion):
        raise PermissionDenied(
            "Only a dermatologist of the service this referral was sent to can link its lesions."
        )
    patient = lesion.referral.patient
    form, _ = _link_form(lesion, request.POST)
    if form.is_valid():
        choice = form.cleaned_data["patient_lesion"]
        reason = form.cleaned_data["reason"]
        try:
            if choice == NEW:
                services.start_new(lesion, user=user, reason=reason)
            else:
                target = PatientLesion.objects.filter(pk=int(choice)).first()
                if target is None:
                    raise _refuse(request, "lesions.patientlesion", int(choice))
                services.link(lesion, target, user=user, reason=reason)
        except NotPermitted as exc:
            raise PermissionDenied(exc.message) from None
        except DomainError as exc:
            form.add_error("patient_lesion", exc.message)
        else:
            messages.success(
                request,
                f"Lesion {lesion.number} of referral {lesion.referral.reference} is linked.",
            )
            return redirect("lesions-patient", patient.pk)
    return _patient_page(request, patient, bound={lesion.pk: form}, status=400)


def _compare_context(
    request: HttpRequest, pl: PatientLesion, form: MonitorForm | None
) -> dict[str, Any]:
    user = _user(request)
    visits = reads.lesion_visits(user, pl)
    # Only the links made in referrals this user may see (another service's would name its
    # referrals, its clinicians and their reasons).
    visible = access.visible_referral_ids(user, pl.patient_id)
    changes = LinkChange.objects.filter(
        to_lesion=pl, lesion__referral_id__in=visible
    ).select_related("by", "lesion__referral", "from_lesion")
    return {
        "pl": pl,
        "patient": pl.patient,
        "visits": visits,
        "calibrated": comparison.calibrated(visits),
        "growth": comparison.growth_mm_per_year(visits),
        "chart": comparison.chart(visits),
        "crop": comparison.CROP_PIXELS,
        "fov_mm": comparison.fov_mm(),
        "changes": changes,
        "form": form or MonitorForm(initial={"monitor_until": pl.monitor_until}),
        "may_monitor": bool(access.reviewing_service_ids(user)),
    }


@login_required
@require_GET
def compare(request: HttpRequest, lesion_pk: int) -> HttpResponse:
    pl = _patient_lesion(request, lesion_pk)
    context = _compare_context(request, pl, None)
    return render(request, "lesions/compare.html", context)


@login_required
@require_POST
def monitor(request: HttpRequest, lesion_pk: int) -> HttpResponse:
    pl = _patient_lesion(request, lesion_pk)
    form = MonitorForm(request.POST)
    if form.is_valid():
        try:
            services.set_monitoring(pl, form.cleaned_data["monitor_until"], user=_user(request))
        except NotPermitted as exc:
            raise PermissionDenied(exc.message) from None
        except DomainError as exc:
            form.add_error("monitor_until", exc.message)
        else:
            until = form.cleaned_data["monitor_until"]
            messages.success(
                request,
                f"Review date set: photograph again by {until:%d %B %Y}."
                if until
                else "Monitoring stopped.",
            )
            return redirect("lesions-compare", pl.pk)
    context = _compare_context(request, pl, form)
    return render(request, "lesions/compare.html", context, status=400)


@login_required
@require_GET
def aligned(request: HttpRequest, lesion_pk: int, encounter_pk: int) -> HttpResponse:
    pl = _patient_lesion(request, lesion_pk)
    visit = next(
        (v for v in comparison.visits(pl, user=_user(request)) if v.encounter.pk == encounter_pk),
        None,
    )
    if visit is None or visit.image is None:
        raise _refuse(request, "lesions.lesionencounter", encounter_pk)
    response = HttpResponse(
        comparison.aligned_image(visit, user=_user(request)), content_type="image/jpeg"
    )
    response["Cache-Control"] = "no-store"
    return response
