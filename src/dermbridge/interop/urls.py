"""FHIR R4 REST endpoints, mounted at /fhir/."""

from django.urls import path, re_path

from dermbridge.interop import views

app_name = "fhir"

urlpatterns = [
    path("", views.Transaction.as_view(), name="transaction"),
    path("metadata", views.Metadata.as_view(), name="metadata"),
    path("ServiceRequest", views.ServiceRequestSearch.as_view(), name="service-request-search"),
    re_path(
        r"^ServiceRequest/(?P<reference>[A-Za-z0-9\-]{1,20})/\$send-to-pacs$",
        views.SendToPacs.as_view(),
        name="send-to-pacs",
    ),
    re_path(
        r"^ServiceRequest/(?P<reference>[A-Za-z0-9\-]{1,20})$",
        views.ServiceRequestRead.as_view(),
        name="service-request",
    ),
    path("Patient/<int:patient_id>", views.PatientRead.as_view(), name="patient"),
    path("Binary/<int:image_id>-<slug:version>", views.BinaryRead.as_view(), name="binary"),
    # Histology from a laboratory, matched by the biopsy request identifier (issue #14)
    path(
        "DiagnosticReport", views.DiagnosticReportCreate.as_view(), name="diagnostic-report-create"
    ),
    path(
        "DiagnosticReport/<int:pk>", views.DiagnosticReportRead.as_view(), name="diagnostic-report"
    ),
    # A hub's clinics, read-only (interop/fhir_scheduling.py)
    path("Schedule", views.ScheduleSearch.as_view(), name="schedule-search"),
    path("Schedule/<int:pk>", views.ScheduleRead.as_view(), name="schedule"),
    path("Slot", views.SlotSearch.as_view(), name="slot-search"),
    path("Slot/<int:pk>", views.SlotRead.as_view(), name="slot"),
    path("Appointment", views.AppointmentSearch.as_view(), name="appointment-search"),
    path("Appointment/<int:pk>", views.AppointmentRead.as_view(), name="appointment"),
]
