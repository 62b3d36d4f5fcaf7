"""Signing in, the landing page by role, and two-factor set-up and verification."""

from __future__ import annotations

import base64
from typing import Any

import django_otp
import qrcode
import qrcode.image.svg
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from dermbridge.accounts import services as account_services
from dermbridge.accounts.models import Role
from dermbridge.web.forms import NhsFormMixin, TwoFactorForm
from dermbridge.web.views.common import acting_user, error_items


class SignInForm(NhsFormMixin, AuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Username"
        self.style_widgets()


class SignInView(LoginView):
    template_name = "web/login.html"
    form_class = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        if form.is_bound and form.errors:
            form.mark_errors()
        context["error_list"] = error_items(form)
        return context


sign_in = SignInView.as_view()


def home(request: HttpRequest) -> HttpResponse:
    """Signed out: the sign-in form. Signed in: the user's main page for their role."""
    if not request.user.is_authenticated:
        return sign_in(request)  # type: ignore[return-value]
    roles = acting_user(request).roles
    if roles & {Role.DERMATOLOGIST, Role.SERVICE_ADMIN}:
        return redirect("worklist")
    if roles & {Role.REFERRER, Role.PHOTOGRAPHER}:
        return redirect("my-referrals")
    return render(request, "web/home.html")


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    return image.to_string(encoding="unicode")  # type: ignore[no-any-return]


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return "/"


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app (first time) or enter its code (every sign-in)."""
    user = acting_user(request)
    if user.is_verified():  # type: ignore[attr-defined]
        return redirect(_next_url(request))
    form = TwoFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = account_services.verify_second_factor(user, form.cleaned_data["token"])
        if device is not None:
            django_otp.login(request, device)
            return redirect(_next_url(request))
        form.add_error(
            "token",
            "That code is not right. Check the time on your phone is correct and enter the "
            "newest code.",
        )
    form.mark_errors()
    context: dict[str, Any] = {
        "form": form,
        "error_list": error_items(form),
        "next": _next_url(request),
    }
    if not account_services.has_confirmed_device(user):
        device = account_services.device_for_setup(user)
        context["setup"] = True
        context["otpauth_uri"] = device.config_url
        context["secret"] = base64.b32encode(device.bin_key).decode("ascii")
        context["qr_svg"] = mark_safe(_qr_svg(device.config_url))  # noqa: S308 - generated SVG
    return render(request, "web/two_factor.html", context)
