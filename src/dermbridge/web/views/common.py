"""What every page view shares: finding a referral the user may see, and listing form errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django import forms
from django.http import Http404, HttpRequest

from dermbridge.audit.services import record_denial
from dermbridge.referrals.models import Referral

if TYPE_CHECKING:
    from dermbridge.accounts.models import User


@dataclass(frozen=True)
class ErrorItem:
    """One line of an error summary; `anchor` is the id of the field it links to."""

    message: str
    anchor: str = ""


def acting_user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def record_access_denied(request: HttpRequest, object_type: str, object_id: int) -> None:
    """Every failed access-control check is logged (OWASP ASVS 7.2.2): who asked for what."""
    record_denial(
        acting_user(request), object_type, object_id, path=request.path, method=request.method
    )


def visible_referral(request: HttpRequest, pk: int) -> Referral:
    """The referral if this user may see it; 404 otherwise (never reveal that it exists).

    One query by primary key, then the visibility rule asked of the row read
    (`Referral.is_visible_to`, the rule of `visible_to`): a third of the CPU of nesting the
    rule in the query (docs/benchmarks/view-cost.json)."""
    queryset = Referral.objects.select_related(
        "patient", "service", "referring_org", "imaging_hub", "referrer", "claimed_by"
    )
    referral = queryset.filter(pk=pk).order_by().first()
    if referral is not None and not referral.is_visible_to(acting_user(request)):
        referral = None
    if referral is None:
        record_access_denied(request, "referrals.referral", pk)
        raise Http404("No such referral.")
    return referral


def error_items(
    *forms_: forms.BaseForm, extra: list[str] | tuple[str, ...] = ()
) -> list[ErrorItem]:
    """Every error of the forms, in field order, each linked to its field."""
    items: list[ErrorItem] = [ErrorItem(m) for m in extra]
    for form in forms_:
        if not form.is_bound:
            continue
        items.extend(ErrorItem(str(m)) for m in form.non_field_errors())
        for name, field in form.fields.items():
            if name not in form.errors:
                continue
            bound = form[name]
            anchor = bound.id_for_label or bound.auto_id
            if isinstance(field.widget, forms.RadioSelect):
                anchor = f"{bound.auto_id}_0"
            items.extend(ErrorItem(str(m), anchor) for m in form.errors[name])
    # Each problem once: the same words from two checks (the form's and the service's) are
    # one line; the linked one is kept.
    unique: list[ErrorItem] = []
    for item in items:
        same = next((u for u in unique if u.message == item.message), None)
        if same is None:
            unique.append(item)
        elif item.anchor and not same.anchor:
            unique[unique.index(same)] = item
    return unique
