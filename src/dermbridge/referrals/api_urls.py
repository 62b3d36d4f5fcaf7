"""The referrals app's part of the /api/ URL map (assembled in dermbridge.api.urls)."""

from django.urls import path

from dermbridge.referrals.api import (
    LesionCreateView,
    LesionDetailView,
    MessageListView,
    OutcomeView,
    ReferralDetailView,
    ReferralListView,
)
from dermbridge.referrals.api_actions import ACTIONS

urlpatterns = [
    path("referrals/", ReferralListView.as_view(), name="api-referrals"),
    path("referrals/<str:reference>/", ReferralDetailView.as_view(), name="api-referral"),
    path(
        "referrals/<str:reference>/lesions/",
        LesionCreateView.as_view(),
        name="api-referral-lesions",
    ),
    path(
        "referrals/<str:reference>/lesions/<int:number>/",
        LesionDetailView.as_view(),
        name="api-referral-lesion",
    ),
    path(
        "referrals/<str:reference>/messages/",
        MessageListView.as_view(),
        name="api-referral-messages",
    ),
    path("referrals/<str:reference>/outcome/", OutcomeView.as_view(), name="api-referral-outcome"),
    *[
        path(f"referrals/<str:reference>/{name}/", view.as_view(), name=f"api-referral-{name}")
        for name, view in ACTIONS.items()
    ],
]
