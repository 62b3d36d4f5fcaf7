"""`{% once_token %}`: the one-time hidden field that protects a form from double submission.

Registered as a template builtin (settings.TEMPLATES), so no `{% load %}` is needed. Put it
next to `{% csrf_token %}` in every form that creates something or changes state; the
idempotency middleware (dermbridge.core.middleware) consumes the token on POST.
"""

from __future__ import annotations

import secrets

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from dermbridge.core.idempotency import FORM_FIELD

register = template.Library()


@register.simple_tag
def once_token() -> SafeString:
    """A fresh random token per form on each page view (no state is kept until it is used)."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">', FORM_FIELD, secrets.token_urlsafe(18)
    )
