"""A hub's sites, clinic sessions and their slots, and the appointments booked into them.

A session is cut into slots when it is made: `capacity` places at each start time (one per
photographer working in parallel), so a slot holds at most one patient. That is the double
booking guarantee: a partial unique index (`one_appointment_per_slot`) lets a slot carry one
appointment that is not cancelled or moved away, whatever two members of staff do at once
(docs/adr/0013-clinics.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Site(models.Model):
    """A place where a hub photographs patients: a health centre, a pharmacy, a hospital room."""

    hub = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="clinic_sites"
    )
    name = models.CharField(max_length=120)
    address = models.TextField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["hub", "name"], name="unique_site_name_per_hub")
        ]

    def __str__(self) -> str:
        return self.name


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class SessionTemplate(models.Model):
    """A clinic that recurs every week ("every Tuesday morning"): generates sessions."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="templates")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()
    slot_minutes = models.PositiveSmallIntegerField(default=15)
    capacity = models.PositiveSmallIntegerField(default=1, help_text="Patients seen at once.")
    photographers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M} at {self.site}"


class Closure(models.Model):
    """A day a hub (or one of its sites) runs no clinics: no session is generated for it."""

    hub = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True)
    date = models.DateField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"Closed {self.date}: {self.reason}"


class ClinicSession(models.Model):
    """One clinic on one day at one site, cut into slots."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="sessions")
    template = models.ForeignKey(
        SessionTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    date = models.DateField()
    start = models.TimeField()
    end = models.TimeField()
    slot_minutes = models.PositiveSmallIntegerField()
    capacity = models.PositiveSmallIntegerField()
    photographers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="clinic_sessions"
    )
    # Set when the day is closed after the session was made: its slots are no longer offered
    # (the rows stay, with any cancelled appointments that pointed at them).
    closed_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "start"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "date", "start"], name="one_session_per_site_start"
            )
        ]
        indexes = [models.Index(fields=["date", "site"], name="clinic_session_day_idx")]

    def __str__(self) -> str:
        return f"{self.site} {self.date} {self.start:%H:%M}-{self.end:%H:%M}"


class Slot(models.Model):
    """One place at one time in a session: holds at most one appointment."""

    session = models.ForeignKey(ClinicSession, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    place = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["starts_at", "place"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "starts_at", "place"], name="unique_slot_place"
            )
        ]
        indexes = [models.Index(fields=["starts_at"], name="clinic_slot_start_idx")]

    def __str__(self) -> str:
        return f"{self.session.site} {self.starts_at:%Y-%m-%d %H:%M} #{self.place + 1}"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    ATTENDED = "attended", "Attended"
    DID_NOT_ATTEND = "did_not_attend", "Did not attend"
    NOT_PHOTOGRAPHED = "not_photographed", "Could not be photographed"
    MOVED = "moved", "Moved to another slot"
    CANCELLED = "cancelled", "Cancelled"


# An appointment in these states holds its slot: nobody else may be booked into it.
HOLDS_SLOT = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.ATTENDED,
    AppointmentStatus.DID_NOT_ATTEND,
    AppointmentStatus.NOT_PHOTOGRAPHED,
)
# What a photographer records at (or after) the visit.
VISIT_OUTCOMES = (
    AppointmentStatus.ATTENDED,
    AppointmentStatus.DID_NOT_ATTEND,
    AppointmentStatus.NOT_PHOTOGRAPHED,
)


class Appointment(models.Model):
    """A patient's photography appointment for one referral, in one slot."""

    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    referral = models.ForeignKey(
        "referrals.Referral", on_delete=models.PROTECT, related_name="appointments"
    )
    status = models.CharField(
        max_length=20, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    booked_at = models.DateTimeField(auto_now_add=True)
    moved_from = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="moved_to"
    )
    outcome_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    # The patient's answer through their status link (no login): confirmed, or asked to rebook
    # (the appointment is then cancelled and the referral waits again, with the patient's note).
    # A moved appointment is a new row, so it needs confirming again.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    rebook_requested_at = models.DateTimeField(null=True, blank=True)
    patient_note = models.CharField(max_length=300, blank=True)
    # When the reminder two working days before was queued (the outbox's dedupe key makes it once).
    reminded_at = models.DateTimeField(null=True, blank=True)
    # At the visit (clinics/visit.py): the photographer checked the patient's name, date of
    # birth and NHS number against the referral, and recorded consent per scope (the decisions
    # themselves are the patients app's Consent rows; these say what was asked at this visit).
    identity_checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    identity_checked_at = models.DateTimeField(null=True, blank=True)
    consent_care = models.BooleanField(null=True, blank=True)
    consent_teaching = models.BooleanField(null=True, blank=True)
    consent_research = models.BooleanField(null=True, blank=True)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    # The result clock (clinics/results.py): set when the visit is recorded as attended, the
    # patient's result is due within HUB_RESULT_WORKING_DAYS working days; the service is warned
    # once near it (result_warned_at), as referrals' near-breach warning.
    result_due_at = models.DateTimeField(null=True, blank=True)
    result_warn_at = models.DateTimeField(null=True, blank=True)
    result_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slot__starts_at", "slot__place"]
        constraints = [
            # The double-booking guarantee (ADR 0013): one live appointment per slot.
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(status__in=[s.value for s in HOLDS_SLOT]),
                name="one_appointment_per_slot",
            ),
            # A referral waits for one appointment at a time.
            models.UniqueConstraint(
                fields=["referral"],
                condition=Q(status=AppointmentStatus.BOOKED.value),
                name="one_booked_appointment_per_referral",
            ),
        ]
        indexes = [
            models.Index(
                fields=["result_warn_at"],
                name="appointment_result_warn_idx",
                condition=Q(result_warned_at__isnull=True, result_warn_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.referral} at {self.slot} ({self.get_status_display()})"

    @property
    def identity_checked(self) -> bool:
        return self.identity_checked_at is not None

    @property
    def consent_recorded(self) -> bool:
        return self.consent_recorded_at is not None


class ExtraLesion(models.Model):
    """A lesion the photographer photographed that the referral did not name: added only with a
    reason, flagged to the dermatologist (the review page) and audited. The lesion itself is
    the referrals app's row (`referrals.services.add_lesion_at_hub`)."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="extra_lesions"
    )
    lesion = models.OneToOneField(
        "referrals.Lesion", on_delete=models.CASCADE, related_name="added_at_hub"
    )
    reason = models.CharField(max_length=300)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]

    def __str__(self) -> str:
        return f"Extra {self.lesion} at {self.appointment_id}"
