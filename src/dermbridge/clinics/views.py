"""The hub's pages: clinics and utilisation, the booking list, booking a referral, and the
photographer's day list. Thin: parse, call the services and reads (which audit), render.

Every page names its hub; someone who does not work there gets 404 (recorded as a refusal), so
another organisation learns nothing. A hub photographer asking for what only the hub's
administrators may do gets 403.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record_denial
from dermbridge.clinics import forms, reads, services
from dermbridge.clinics.access import is_hub_admin, staff_hub, staff_hubs
from dermbridge.clinics.models import Appointment, ClinicSession, Site, Slot
from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.referrals.models import Referral


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _refuse(request: HttpRequest, object_type: str, object_id: int) -> Http404:
    record_denial(_user(request), object_type, object_id, path=request.path, method=request.method)
    return Http404("Not found")


def _hub(request: HttpRequest, hub_pk: int) -> Organisation:
    hub = staff_hub(_user(request), hub_pk)
    if hub is None:
        raise _refuse(request, "accounts.organisation", hub_pk)
    return hub


def _admin_hub(request: HttpRequest, hub_pk: int) -> Organisation:
    """The hub, for a change only its service administrators may make: 404 for a stranger,
    403 for its photographers (asked before the form is read)."""
    hub = _hub(request, hub_pk)
    if not is_hub_admin(_user(request), hub):
        raise PermissionDenied(f"Only {hub.name}'s service administrators can change its clinics.")
    return hub


def _site(request: HttpRequest, hub: Organisation, site_pk: int | None) -> Site | None:
    if site_pk is None:
        return None
    site = Site.objects.filter(pk=site_pk, hub=hub).first()
    if site is None:
        raise _refuse(request, "clinics.site", site_pk)
    return site


def _slot(request: HttpRequest, hub: Organisation, slot_pk: int | None) -> Slot | None:
    if slot_pk is None:
        return None
    slot = Slot.objects.filter(pk=slot_pk, session__site__hub=hub).first()
    if slot is None:
        raise _refuse(request, "clinics.slot", slot_pk)
    return slot


def _appointment(request: HttpRequest, hub: Organisation, pk: int) -> Appointment:
    found = Appointment.objects.filter(pk=pk, slot__session__site__hub=hub).first()
    if found is None:
        raise _refuse(request, "clinics.appointment", pk)
    return found


def _done(
    request: HttpRequest, error: DomainError | None, ok: str, to: str, **kw: Any
) -> HttpResponse:
    if isinstance(error, NotPermitted):
        raise PermissionDenied(error.message)
    if error is not None:
        messages.error(request, error.message)
    else:
        messages.success(request, ok)
    return redirect(to, **kw)


def _form_problem(request: HttpRequest, form: Any, to: str, **kw: Any) -> HttpResponse:
    problems = [
        f"{name.replace('_', ' ').capitalize()}: {' '.join(errs)}"
        for name, errs in form.errors.items()
    ]
    messages.error(request, "Check the form. " + " ".join(problems))
    return redirect(to, **kw)


def _people(hub: Organisation) -> list[tuple[int, str]]:
    from dermbridge.accounts.models import Role

    staff = User.objects.filter(
        memberships__organisation=hub, memberships__role=Role.PHOTOGRAPHER
    ).distinct()
    return [(u.pk, str(u)) for u in staff.order_by("last_name", "first_name")]


@login_required
@require_GET
def hub_index(request: HttpRequest) -> HttpResponse:
    hubs = staff_hubs(_user(request))
    if not hubs:
        raise PermissionDenied("These pages are for imaging hub staff.")
    if len(hubs) == 1:
        return redirect("clinics-hub", hub_pk=hubs[0].pk)
    return render(request, "clinics/hubs.html", {"hubs": hubs})


@login_required
@require_GET
def hub_page(request: HttpRequest, hub_pk: int) -> HttpResponse:
    hub = _hub(request, hub_pk)
    user = _user(request)
    overview = reads.hub_overview(user, hub)
    return render(
        request,
        "clinics/hub.html",
        {
            "o": overview,
            "hub": hub,
            "is_admin": is_hub_admin(user, hub),
            "people": _people(hub),
            "weekdays": forms.Weekday.choices,
            "today": timezone.localdate(),
        },
    )


@login_required
@require_POST
def add_site(request: HttpRequest, hub_pk: int) -> HttpResponse:
    hub = _admin_hub(request, hub_pk)
    form = forms.SiteForm(request.POST)
    if not form.is_valid():
        return _form_problem(request, form, "clinics-hub", hub_pk=hub.pk)
    try:
        services.create_site(_user(request), hub, **form.cleaned_data)
    except DomainError as error:
        return _done(request, error, "", "clinics-hub", hub_pk=hub.pk)
    return _done(request, None, "Site added.", "clinics-hub", hub_pk=hub.pk)


def _add_clinic(request: HttpRequest, hub_pk: int, weekly: bool) -> HttpResponse:
    """A one-off clinic (a day) or a weekly one (a weekday): the same form but for that field,
    the site one of this hub's (else 404, recorded)."""
    hub = _admin_hub(request, hub_pk)
    form_class = forms.TemplateForm if weekly else forms.SessionForm
    form = form_class(request.POST, people=_people(hub))
    if not form.is_valid():
        return _form_problem(request, form, "clinics-hub", hub_pk=hub.pk)
    data = form.cleaned_data
    site = Site.objects.filter(pk=data["site"], hub=hub).first()
    if site is None:
        raise _refuse(request, "clinics.site", data["site"])
    times = {
        "start": data["start"],
        "end": data["end"],
        "slot_minutes": data["slot_minutes"],
        "capacity": data["capacity"],
        "photographers": User.objects.filter(pk__in=data["photographers"]),
    }
    try:
        if weekly:
            services.create_template(_user(request), site, weekday=data["weekday"], **times)
        else:
            services.create_session(_user(request), site, day=data["day"], **times)
    except DomainError as error:
        return _done(request, error, "", "clinics-hub", hub_pk=hub.pk)
    text = "Weekly clinic added." if weekly else "Clinic added."
    return _done(request, None, text, "clinics-hub", hub_pk=hub.pk)


@login_required
@require_POST
def add_session(request: HttpRequest, hub_pk: int) -> HttpResponse:
    return _add_clinic(request, hub_pk, weekly=False)


@login_required
@require_POST
def add_template(request: HttpRequest, hub_pk: int) -> HttpResponse:
    return _add_clinic(request, hub_pk, weekly=True)


@login_required
@require_POST
def generate(request: HttpRequest, hub_pk: int) -> HttpResponse:
    hub = _admin_hub(request, hub_pk)
    form = forms.GenerateForm(request.POST)
    if not form.is_valid():
        return _form_problem(request, form, "clinics-hub", hub_pk=hub.pk)
    try:
        made = services.generate_sessions(_user(request), hub, weeks=form.cleaned_data["weeks"])
    except DomainError as error:
        return _done(request, error, "", "clinics-hub", hub_pk=hub.pk)
    skipped = "; ".join(f"{d:%-d %b}: {why}" for d, why in made.skipped if "already" not in why)
    text = f"{len(made.created)} clinic(s) added." + (f" Not added: {skipped}." if skipped else "")
    return _done(request, None, text, "clinics-hub", hub_pk=hub.pk)


@login_required
@require_POST
def add_closure(request: HttpRequest, hub_pk: int) -> HttpResponse:
    hub = _admin_hub(request, hub_pk)
    form = forms.ClosureForm(request.POST)
    if not form.is_valid():
        return _form_problem(request, form, "clinics-hub", hub_pk=hub.pk)
    data = form.cleaned_data
    try:
        services.add_closure(
            _user(request),
            hub,
            day=data["day"],
            reason=data["reason"],
            site=_site(request, hub, data["site"]),
        )
    except DomainError as error:
        return _done(request, error, "", "clinics-hub", hub_pk=hub.pk)
    return _done(request, None, "Closure added.", "clinics-hub", hub_pk=hub.pk)


@login_required
@require_GET
def booking_list(request: HttpRequest, hub_pk: int) -> HttpResponse:
    hub = _hub(request, hub_pk)
    rows = reads.booking_list(_user(request), hub)
    return render(request, "clinics/bookings.html", {"hub": hub, "rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def book(request: HttpRequest, hub_pk: int, referral_pk: int) -> HttpResponse:
    hub = _hub(request, hub_pk)
    user = _user(request)
    if request.method == "POST":
        referral = Referral.objects.filter(pk=referral_pk, imaging_hub=hub).first()
        if referral is None:
            raise _refuse(request, "referrals.referral", referral_pk)
        form = forms.BookForm(request.POST)
        if not form.is_valid():
            return _form_problem(
                request, form, "clinics-book", hub_pk=hub.pk, referral_pk=referral_pk
            )
        data = form.cleaned_data
        try:
            appointment = services.book(
                user,
                referral,
                hub=hub,
                slot=_slot(request, hub, data["slot"]),
                site=_site(request, hub, data["site"]),
            )
        except DomainError as error:
            return _done(request, error, "", "clinics-book", hub_pk=hub.pk, referral_pk=referral_pk)
        when = timezone.localtime(appointment.slot.starts_at)
        text = f"Booked for {when:%A %-d %B at %H:%M}. The patient has been sent the details."
        return _done(request, None, text, "clinics-book", hub_pk=hub.pk, referral_pk=referral_pk)
    choice = reads.referral_for_booking(user, hub, referral_pk)
    if choice is None:
        raise _refuse(request, "referrals.referral", referral_pk)
    return render(
        request,
        "clinics/book.html",
        {"hub": hub, "c": choice, "now": timezone.now()},
    )


def _change(request: HttpRequest, hub_pk: int, appointment_pk: int, what: str) -> HttpResponse:
    hub = _hub(request, hub_pk)
    appointment = _appointment(request, hub, appointment_pk)
    user = _user(request)
    back = request.POST.get("next", "")
    to, kw = ("clinics-book", {"hub_pk": hub.pk, "referral_pk": appointment.referral_id})
    if back == "day":
        to, kw = "clinics-day", {"hub_pk": hub.pk}
    try:
        if what == "move":
            form: Any = forms.BookForm(request.POST)
            if not form.is_valid():
                return _form_problem(request, form, to, **kw)
            services.move(
                user,
                appointment,
                hub=hub,
                slot=_slot(request, hub, form.cleaned_data["slot"]),
                site=_site(request, hub, form.cleaned_data["site"]),
            )
            text = "Appointment moved. The patient has been sent the new details."
        elif what == "cancel":
            form = forms.CancelForm(request.POST)
            if not form.is_valid():
                return _form_problem(request, form, to, **kw)
            services.cancel(user, appointment, hub=hub, reason=form.cleaned_data["reason"])
            text = "Appointment cancelled. The patient has been told; the referral is back on the booking list."
        else:
            form = forms.VisitForm(request.POST)
            if not form.is_valid():
                return _form_problem(request, form, to, **kw)
            done = services.record_visit(user, appointment, hub=hub, **form.cleaned_data)
            text = f"Recorded: {done.get_status_display().lower()}."
    except DomainError as error:
        return _done(request, error, "", to, **kw)
    return _done(request, None, text, to, **kw)


@login_required
@require_POST
def move_appointment(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _change(request, hub_pk, appointment_pk, "move")


@login_required
@require_POST
def cancel_appointment(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _change(request, hub_pk, appointment_pk, "cancel")


@login_required
@require_POST
def record_visit(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _change(request, hub_pk, appointment_pk, "visit")


@login_required
@require_GET
def day_list(request: HttpRequest, hub_pk: int) -> HttpResponse:
    """The photographer's day: by default today's appointments in the signed-in
    photographer's clinics (or every clinic, for an administrator who takes none)."""
    hub = _hub(request, hub_pk)
    user = _user(request)
    form = forms.DayForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    day: date = data.get("date") or timezone.localdate()
    site = _site(request, hub, data.get("site"))
    people = _people(hub)
    photographer: User | None = None
    if data.get("photographer"):
        if data["photographer"] not in {pk for pk, _ in people}:
            raise _refuse(request, "accounts.user", data["photographer"])
        photographer = User.objects.get(pk=data["photographer"])
    elif "photographer" not in request.GET and user.pk in {pk for pk, _ in people}:
        photographer = user
    listing = reads.day_list(user, hub, day=day, site=site, photographer=photographer)
    return render(
        request,
        "clinics/day.html",
        {
            "hub": hub,
            "d": listing,
            "sites": Site.objects.filter(hub=hub),
            "people": people,
            "sessions": ClinicSession.objects.filter(site__hub=hub, date=day).count(),
        },
    )
