from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from dermbridge.web.views import (
    account,
    check_answers,
    draft,
    histology,
    lesions,
    new_referral,
    photos,
    referral,
    referral_steps,
    referring,
    review,
)

urlpatterns = [
    path("", account.home, name="home"),
    path("login/", account.sign_in, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/two-factor/", account.two_factor, name="two-factor"),
    # The compiled NHS.UK stylesheet refers to its icons at /assets/...
    path(
        "assets/<path:path>",
        RedirectView.as_view(url="/static/nhsuk/assets/%(path)s", permanent=True),
    ),
    path("referrals/", referring.my_referrals, name="my-referrals"),
    path("referrals/new/", new_referral.new_referral, name="referral-new"),
    path("referrals/<int:pk>/", referral.referral_detail, name="referral-detail"),
    path("referrals/<int:pk>/edit/", draft.edit_referral, name="referral-edit"),
    path("referrals/<int:pk>/consent/", draft.record_direct_care_consent, name="referral-consent"),
    path("referrals/<int:pk>/lesions/", draft.add_lesion, name="lesion-add"),
    path(
        "referrals/<int:pk>/lesions/<int:lesion_pk>/change/",
        lesions.edit_lesion,
        name="lesion-edit",
    ),
    path(
        "referrals/<int:pk>/lesions/<int:lesion_pk>/remove/",
        lesions.remove_lesion,
        name="lesion-remove",
    ),
    path(
        "referrals/<int:pk>/lesions/<int:lesion_pk>/photos/",
        photos.lesion_photos,
        name="lesion-photos",
    ),
    path(
        "referrals/<int:pk>/photos/<int:image_pk>/delete/",
        photos.delete_photo,
        name="photo-delete",
    ),
    path(
        "referrals/<int:pk>/photos/<int:image_pk>/keep/",
        photos.keep_photo,
        name="photo-keep",
    ),
    path("referrals/<int:pk>/submit/", draft.submit_referral, name="referral-submit"),
    path("referrals/<int:pk>/check/", check_answers.check_referral, name="referral-check"),
    path("referrals/<int:pk>/delete/", draft.delete_draft, name="referral-delete"),
    path("referrals/<int:pk>/act/<slug:action>/", referral_steps.referral_act, name="referral-act"),
    path(
        "referrals/<int:pk>/do/<slug:action>/",
        referral_steps.referral_form_action,
        name="referral-form",
    ),
    path("referrals/<int:pk>/outcome/", referral_steps.record_outcome, name="referral-outcome"),
    path("referrals/<int:pk>/messages/", referral_steps.post_message, name="referral-message"),
    path("referrals/<int:pk>/pacs/", referral_steps.send_to_pacs, name="referral-pacs"),
    path("worklist/", review.worklist, name="worklist"),
    path("service/explanations/", review.explanation_templates, name="explanation-templates"),
    # The histology loop (issue #14): lesions awaiting a result, and recording one.
    path("service/histology/", histology.awaiting_histology, name="histology-awaiting"),
    path(
        "referrals/<int:pk>/lesions/<int:number>/histology/",
        histology.record_histology,
        name="histology-record",
    ),
    path(
        "service/explanations/<int:pk>/",
        review.explanation_templates,
        name="explanation-template-edit",
    ),
    path(
        "service/explanations/<int:pk>/remove/",
        review.retire_explanation_template,
        name="explanation-template-retire",
    ),
]
