"""The clinics app's part of the /api/ URL map (assembled in dermbridge.api.urls)."""

from django.urls import path

from dermbridge.clinics.api import (
    AppointmentCancelView,
    AppointmentDetailView,
    AppointmentListView,
    AppointmentMoveView,
    AppointmentVisitView,
    SlotListView,
)

HUB = "clinics/hubs/<int:hub_id>/"
ONE = HUB + "appointments/<int:appointment_id>/"

urlpatterns = [
    path(HUB + "slots/", SlotListView.as_view(), name="api-clinics-slots"),
    path(HUB + "appointments/", AppointmentListView.as_view(), name="api-clinics-appointments"),
    path(ONE, AppointmentDetailView.as_view(), name="api-clinics-appointment"),
    path(ONE + "move/", AppointmentMoveView.as_view(), name="api-clinics-appointment-move"),
    path(ONE + "cancel/", AppointmentCancelView.as_view(), name="api-clinics-appointment-cancel"),
    path(ONE + "visit/", AppointmentVisitView.as_view(), name="api-clinics-appointment-visit"),
]
