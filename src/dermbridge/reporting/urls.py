"""The service dashboard, mounted at /dashboard/."""

from django.urls import path

from dermbridge.reporting import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("referrals.csv", views.export_csv, name="dashboard-export"),
    path("concordance/", views.concordance, name="dashboard-concordance"),
    path(
        "missed-cancers/<int:pk>/reviewed/",
        views.missed_cancer_reviewed,
        name="missed-cancer-reviewed",
    ),
]
