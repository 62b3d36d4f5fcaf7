"""The imaging hub's pages, mounted at /hubs/ (dermbridge.urls)."""

from django.urls import path

from dermbridge.clinics import views, views_dashboard, views_visit

urlpatterns = [
    path("", views.hub_index, name="clinics-hubs"),
    path("<int:hub_pk>/", views.hub_page, name="clinics-hub"),
    path("<int:hub_pk>/sites/", views.add_site, name="clinics-site-add"),
    path("<int:hub_pk>/sessions/", views.add_session, name="clinics-session-add"),
    path("<int:hub_pk>/templates/", views.add_template, name="clinics-template-add"),
    path("<int:hub_pk>/generate/", views.generate, name="clinics-generate"),
    path("<int:hub_pk>/closures/", views.add_closure, name="clinics-closure-add"),
    path("<int:hub_pk>/bookings/", views.booking_list, name="clinics-bookings"),
    path("<int:hub_pk>/bookings/<int:referral_pk>/", views.book, name="clinics-book"),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/move/",
        views.move_appointment,
        name="clinics-move",
    ),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/cancel/",
        views.cancel_appointment,
        name="clinics-cancel",
    ),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/visit/",
        views.record_visit,
        name="clinics-visit",
    ),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/",
        views_visit.visit_page,
        name="clinics-visit-page",
    ),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/identity/",
        views_visit.check_identity,
        name="clinics-visit-identity",
    ),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/consent/",
        views_visit.record_consent,
        name="clinics-visit-consent",
    ),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/lesions/",
        views_visit.add_extra_lesion,
        name="clinics-visit-lesion",
    ),
    path(
        "<int:hub_pk>/appointments/<int:appointment_pk>/outcome/",
        views_visit.record_outcome,
        name="clinics-visit-outcome",
    ),
    path("<int:hub_pk>/day/", views.day_list, name="clinics-day"),
    path("<int:hub_pk>/dashboard/", views_dashboard.hub_dashboard, name="clinics-dashboard"),
    path(
        "<int:hub_pk>/dashboard.csv",
        views_dashboard.hub_dashboard_csv,
        name="clinics-dashboard-csv",
    ),
]
