"""REST API workflow actions: POST /api/referrals/{reference}/{action}/.

Each action parses its body, finds the referral among those the user can see (404 otherwise),
calls the one matching service, and answers with the referral as it now stands. The services
decide who may do what (403) and from which state (409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from dermbridge.accounts.api import acting_user
from dermbridge.api.schema import error_responses
from dermbridge.api.views import JsonView
from dermbridge.referrals import services
from dermbridge.referrals.api_helpers import render_referral, visible_referral
from dermbridge.referrals.models import Referral
from dermbridge.referrals.serializers import (
    AdviceSerializer,
    ConvertSerializer,
    DowngradeSerializer,
    PatientToldSerializer,
    ReferralSerializer,
    ReplyInfoSerializer,
    RequestInfoSerializer,
    TriageSerializer,
    WithdrawSerializer,
)

Perform = Callable[[Referral, Any, dict[str, Any]], object]


class ReferralActionView(JsonView):
    """One workflow action; subclasses name the service call and the body it takes."""

    body_serializer: ClassVar[type[serializers.Serializer] | None] = None
    perform: ClassVar[Perform]

    def post(self, request: Request, reference: str) -> Response:
        referral = visible_referral(request, reference)
        data: dict[str, Any] = {}
        if self.body_serializer is not None:
            body = self.body_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = dict(body.validated_data)
        type(self).perform(referral, acting_user(request), data)
        return render_referral(request, reference)


def action_view(
    name: str, summary: str, perform: Perform, body: type[serializers.Serializer] | None = None
) -> type[ReferralActionView]:
    """A documented view class for one action (distinct class: distinct OpenAPI operation)."""

    # A function of its own: extend_schema annotates the function object it is given.
    def post(self: ReferralActionView, request: Request, reference: str) -> Response:
        return ReferralActionView.post(self, request, reference)

    schema = extend_schema(
        operation_id=f"referrals_{name}",
        summary=summary,
        request=body,
        responses={
            200: ReferralSerializer,
            **error_responses(400, 403, 404, 409, *((415,) if body else ())),
        },
        tags=["workflow"],
    )
    return type(
        f"{name.title().replace('_', '')}ActionView",
        (ReferralActionView,),
        {"body_serializer": body, "perform": staticmethod(perform), "post": schema(post)},
    )


ACTIONS: dict[str, type[ReferralActionView]] = {
    "submit": action_view(
        "submit",
        "Send a complete draft to the dermatology service",
        lambda r, u, d: services.submit_referral(r, user=u),
    ),
    "claim": action_view(
        "claim",
        "Start reviewing a case from the worklist",
        lambda r, u, d: services.claim(r, user=u),
    ),
    "release": action_view(
        "release",
        "Return a case to the worklist",
        lambda r, u, d: services.release(r, user=u),
    ),
    "request-info": action_view(
        "request_info",
        "Ask the referrer for more information",
        lambda r, u, d: services.request_more_information(r, user=u, question=d["question"]),
        RequestInfoSerializer,
    ),
    "reply-info": action_view(
        "reply_info",
        "Send the information the dermatologist asked for",
        lambda r, u, d: services.reply_with_information(r, user=u, body=d["body"]),
        ReplyInfoSerializer,
    ),
    "advice": action_view(
        "advice",
        "Answer an Advice & Guidance request",
        lambda r, u, d: services.record_outcome(r, user=u, action="give_advice", **d),
        AdviceSerializer,
    ),
    "triage": action_view(
        "triage",
        "Record the triage decision for a referral",
        lambda r, u, d: services.record_outcome(r, user=u, action="triage", **d),
        TriageSerializer,
    ),
    "convert": action_view(
        "convert",
        "Convert an Advice & Guidance request into a referral",
        lambda r, u, d: services.convert_advice_request(r, user=u, **d),
        ConvertSerializer,
    ),
    "withdraw": action_view(
        "withdraw",
        "Withdraw a sent referral (the referrer only)",
        lambda r, u, d: services.withdraw(r, user=u, reason=d["reason"]),
        WithdrawSerializer,
    ),
    "close": action_view(
        "close",
        "Close an answered, triaged or withdrawn referral",
        lambda r, u, d: services.close(r, user=u),
    ),
    "downgrade": action_view(
        "downgrade",
        "Downgrade an urgent suspected cancer referral (the referrer only)",
        lambda r, u, d: services.downgrade_usc(r, user=u, **d),
        DowngradeSerializer,
    ),
    "patient-told": action_view(
        "patient_told",
        "Record when the patient was told cancer is diagnosed or ruled out",
        lambda r, u, d: services.record_patient_told(r, user=u, **d),
        PatientToldSerializer,
    ),
}
