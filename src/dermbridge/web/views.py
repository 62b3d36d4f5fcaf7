"""Pages. Views parse the request, check permission, call one service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    return render(request, "web/home.html")


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")
