"""At the visit (issue #13 item 4): the photographer confirms the patient's identity, records
consent per scope, photographs exactly the lesions the referral names (overview, close-up and
dermoscopic each), and may add a lesion the referral did not name only with a reason.

- **Identity**: name, date of birth and NHS number each checked with the patient against the
  referral; who and when is kept on the appointment and audited.
- **Consent** per scope (care; teaching; research), each a yes or no, written as the patients
  app's Consent rows (the one record of consent) and kept on the appointment as what was asked
  at this visit. A patient who declines photography for their care is not photographed: the
  appointment is closed as "could not be photographed", the referral goes back to the GP with a
  message (`referrals.services.return_to_gp`), the GP is emailed and the patient told.
- **Photos**: a lesion is complete with a usable overview, close-up and dermoscopic photo
  (`photo_checklist`, using imaging's image-set status for photos still processing or failed).
  "Attended" is refused until identity, consent for care and every lesion's set are done
  (`attended_problems`): a patient seen but not photographed is "could not be photographed",
  with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.audit.services import record
from dermbridge.clinics import messages
from dermbridge.clinics.access import check_staff
from dermbridge.clinics.booking import lock_appointment
from dermbridge.clinics.models import Appointment, AppointmentStatus, ExtraLesion
from dermbridge.core.errors import InvalidInput, NotPermitted, TransitionNotAllowed
from dermbridge.imaging.image_sets import lesion_image_set
from dermbridge.imaging.models import ImageStatus, ImageType
from dermbridge.notifications.services import notify_patient_text, notify_referrer_text
from dermbridge.patients.models import ConsentScope
from dermbridge.patients.services import record_consent as record_patient_consent
from dermbridge.referrals import services as referral_services
from dermbridge.referrals.models import Lesion

# What a hub photographs of every lesion (issue #13: "each needs overview, close-up and
# dermoscopic to complete"), whatever the service asks of a GP's own photos.
HUB_SET = (ImageType.OVERVIEW, ImageType.CLOSE_UP, ImageType.DERMOSCOPIC)
IDENTITY_CHECKS = {
    "name": "the patient's name",
    "date_of_birth": "their date of birth",
    "nhs_number": "their NHS number",
}
CONSENT_SCOPES = {
    "care": ConsentScope.DIRECT_CARE,
    "teaching": ConsentScope.TEACHING,
    "research": ConsentScope.RESEARCH,
}
DECLINED_CARE = "The patient declined photography for their care."


def _check_photographer(user: User, hub: Organisation) -> None:
    check_staff(user, hub)
    if not user.has_role(Role.PHOTOGRAPHER, hub.pk):
        raise NotPermitted(f"Only {hub.name}'s photographers record the visit itself.")


def _on_the_day(appointment: Appointment) -> None:
    if timezone.localdate(appointment.slot.starts_at) > timezone.localdate():
        raise TransitionNotAllowed("The appointment has not happened yet.")


def confirm_identity(
    user: User, appointment: Appointment, *, hub: Organisation, **checked: bool
) -> Appointment:
    """The photographer checked the patient's name, date of birth and NHS number with them:
    all three, or nothing is recorded (each unchecked one named)."""
    _check_photographer(user, hub)
    missing = {k: ["Check this with the patient."] for k in IDENTITY_CHECKS if not checked.get(k)}
    if missing:
        names = " and ".join(IDENTITY_CHECKS[k] for k in missing)
        raise InvalidInput(
            f"Check {names} with the patient before photographing. If they do not match the "
            "referral, do not photograph: record that the patient could not be photographed.",
            field_errors=missing,
        )
    with transaction.atomic():
        locked = lock_appointment(appointment, hub)
        _on_the_day(locked)
        locked.identity_checked_by = user
        locked.identity_checked_at = timezone.now()
        locked.save(update_fields=["identity_checked_by", "identity_checked_at"])
        record(
            user,
            "clinics.visit.identity",
            locked,
            organisation_id=hub.pk,
            detail={"referral": locked.referral.reference, "checked": sorted(IDENTITY_CHECKS)},
        )
    return locked


def _answer(value: Any) -> bool | None:
    if value in (True, "yes", "true", "1"):
        return True
    if value in (False, "no", "false", "0"):
        return False
    return None


def record_consent(
    user: User, appointment: Appointment, *, hub: Organisation, **answers: Any
) -> Appointment:
    """Consent per scope (care, teaching, research: each yes or no) after the identity check.
    Declining care photography closes the visit and returns the referral to the GP."""
    _check_photographer(user, hub)
    given = {scope: _answer(answers.get(scope)) for scope in CONSENT_SCOPES}
    missing = {k: ["Choose yes or no."] for k, v in given.items() if v is None}
    if missing:
        raise InvalidInput(
            "Record the patient's answer for "
            + ", ".join(f"{k} photography" if k == "care" else k for k in missing)
            + ": yes or no for each.",
            field_errors=missing,
        )
    with transaction.atomic():
        locked = lock_appointment(appointment, hub)
        _on_the_day(locked)
        if not locked.identity_checked:
            raise TransitionNotAllowed("Check the patient's identity before recording consent.")
        referral = locked.referral
        when, _ = messages.when_and_where(locked)
        for key, scope in CONSENT_SCOPES.items():
            record_patient_consent(
                user=user,
                patient=referral.patient,
                scope=scope,
                granted=bool(given[key]),
                note=f"At the photography appointment on {when} ({referral.reference})",
            )
        locked.consent_care = given["care"]
        locked.consent_teaching = given["teaching"]
        locked.consent_research = given["research"]
        locked.consent_recorded_by = user
        locked.consent_recorded_at = timezone.now()
        fields = [
            "consent_care",
            "consent_teaching",
            "consent_research",
            "consent_recorded_by",
            "consent_recorded_at",
        ]
        if not given["care"]:
            locked.status = AppointmentStatus.NOT_PHOTOGRAPHED
            locked.reason = DECLINED_CARE
            locked.outcome_by = user
            locked.outcome_at = locked.consent_recorded_at
            fields += ["status", "reason", "outcome_by", "outcome_at"]
        locked.save(update_fields=fields)
        record(
            user,
            "clinics.visit.consent",
            locked,
            organisation_id=hub.pk,
            detail={"referral": referral.reference, **{k: given[k] for k in CONSENT_SCOPES}},
        )
        if not given["care"]:
            _declined_care(user, locked, hub, when)
    return locked


def _declined_care(user: User, appointment: Appointment, hub: Organisation, when: str) -> None:
    """Back to the GP with a message on the referral, by email, and the patient told."""
    referral = appointment.referral
    reason = (
        f"At the photography appointment on {when} the patient declined photography for "
        "their care, so no photographs were taken. Please talk to the patient about other "
        "ways to assess the skin (a face-to-face appointment, or photographs at the practice)."
    )
    referral_services.return_to_gp(referral, user=user, reason=reason)
    notify_referrer_text(
        referral,
        "appointment_declined_care",
        occurrence=f"appointment-{appointment.pk}",
        subject=f"DermBridge: referral {referral.reference} returned by {hub.name}",
        body=(
            f"Referral {referral.reference}: {reason}\n\n"
            "The message is on the referral in DermBridge (you will be asked to sign in).\n"
        ),
    )
    notify_patient_text(
        referral,
        "appointment_declined_care",
        occurrence=f"appointment-{appointment.pk}",
        subject="Your skin photography appointment",
        body=(
            f"Hello {referral.patient.given_name},\n\n"
            f"At your appointment on {when} you chose not to have photographs taken. That is "
            "your choice to make. We have told your GP practice, who will contact you about "
            "other ways to have your skin looked at.\n\n"
            "If your skin gets worse, contact your GP practice or call NHS 111.\n"
        ),
        sms=(
            f"NHS skin photography {referral.reference}: we have told your GP practice you "
            "chose not to be photographed. They will contact you."
        ),
    )


@dataclass
class LesionPhotos:
    """One lesion at the visit: the photos it has and still needs for the hub's full set."""

    lesion: Lesion
    extra: ExtraLesion | None  # added at the hub (with the reason), not named in the referral
    have: list[str]
    missing: list[str]
    processing: int
    failed: int

    @property
    def complete(self) -> bool:
        return not self.missing and not self.processing and not self.failed

    @property
    def missing_labels(self) -> list[str]:
        labels = dict(ImageType.choices)
        return [labels[t].lower() for t in self.missing]

    @property
    def failed_label(self) -> str:
        """How a photo the pipeline could not use is named everywhere (ImageStatus)."""
        return str(ImageStatus.FAILED.label)


def photo_checklist(appointment: Appointment) -> list[LesionPhotos]:
    """Every lesion of the appointment's referral, in number order, with its photos."""
    referral = appointment.referral
    extras = {e.lesion_id: e for e in ExtraLesion.objects.filter(appointment__referral=referral)}
    out = []
    for lesion in referral.lesions.prefetch_related("images").order_by("number"):
        status = lesion_image_set(lesion, referral.service, referral.kind)
        have = {i.image_type for i in lesion.images.all() if i.status == ImageStatus.READY}
        processing, failed = status["processing"], status["failed"]
        assert isinstance(processing, int) and isinstance(failed, int)
        out.append(
            LesionPhotos(
                lesion=lesion,
                extra=extras.get(lesion.pk),
                have=[t for t in HUB_SET if t in have],
                missing=[t for t in HUB_SET if t not in have],
                processing=processing,
                failed=failed,
            )
        )
    return out


def attended_problems(
    appointment: Appointment, checklist: list[LesionPhotos] | None = None
) -> list[str]:
    """What stops the visit being recorded as attended, each in words the photographer can
    act on; empty when the patient's identity was checked, they consented to photography for
    their care and every lesion has its overview, close-up and dermoscopic photo."""
    problems = []
    if not appointment.identity_checked:
        problems.append("Check the patient's name, date of birth and NHS number.")
    if appointment.consent_care is not True:
        problems.append("Record the patient's consent to photography for their care.")
    for item in photo_checklist(appointment) if checklist is None else checklist:
        number = item.lesion.number
        if item.missing:
            problems.append(f"Lesion {number}: take the {', '.join(item.missing_labels)} photo.")
        if item.processing:
            problems.append(f"Lesion {number}: wait for the photos to finish processing.")
        if item.failed:
            problems.append(f"Lesion {number}: remove or retake the photos that could not be used.")
    return problems


def add_extra_lesion(
    user: User, appointment: Appointment, *, hub: Organisation, reason: str, **data: Any
) -> ExtraLesion:
    """A lesion the referral did not name, photographed with a reason: the lesion is added to
    the referral (with a message from the hub to the dermatologist) and flagged here."""
    _check_photographer(user, hub)
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "Say why you are photographing a lesion the referral did not name.",
            field_errors={"reason": ["Required."]},
        )
    with transaction.atomic():
        locked = lock_appointment(appointment, hub)
        _on_the_day(locked)
        if locked.consent_care is not True:
            raise TransitionNotAllowed(
                "Check the patient's identity and record their consent before photographing."
            )
        lesion = referral_services.add_lesion_at_hub(
            locked.referral, user=user, reason=reason, **data
        )
        return ExtraLesion.objects.create(
            appointment=locked, lesion=lesion, reason=reason[:300], added_by=user
        )


__all__ = [
    "CONSENT_SCOPES",
    "DECLINED_CARE",
    "HUB_SET",
    "IDENTITY_CHECKS",
    "LesionPhotos",
    "add_extra_lesion",
    "attended_problems",
    "confirm_identity",
    "photo_checklist",
    "record_consent",
]
