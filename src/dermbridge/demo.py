"""Demo data: two GP practices, an imaging hub, a dermatology service, one login per role, and
about twenty referrals in every workflow state, with lesion photos the project generates itself
and runs through the real image pipeline; the hub's week of clinics with a few referrals sent to
it for photography, two of them booked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from io import BytesIO
from itertools import count

from django.db import transaction
from django.utils import timezone

from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.demo_histology import load_histology_demo
from dermbridge.imaging import quality_review
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.services import accept_upload, process_lesion_image
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.lesions.demo import load_lesion_demo
from dermbridge.patients.models import Patient
from dermbridge.personas import World, make_patient, make_referral, make_user, make_world
from dermbridge.referrals.models import ExplanationTemplate, Lesion, Referral, ReferralKind, State

DEMO_PASSWORD = "dermbridge-demo"  # noqa: S105 - printed for the demo; never used outside demo mode


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    organisation: str


DEMO_LOGINS = [
    DemoLogin("gp", "Referrer (GP)", "Riverside Surgery"),
    DemoLogin("gp2", "Referrer (GP)", "Hillview Medical Centre"),
    DemoLogin("photographer", "Photographer", "Northgate Photo Hub"),
    DemoLogin("hubmanager", "Service administrator", "Northgate Photo Hub"),
    DemoLogin("dermatologist", "Dermatologist", "City Hospital Dermatology"),
    DemoLogin("manager", "Service administrator", "City Hospital Dermatology"),
    DemoLogin("sysadmin", "Django admin (superuser)", "—"),
]

PATIENTS = [
    ("Margaret", "Hughes", date(1948, 3, 14), "female", "I"),
    ("David", "Okafor", date(1971, 9, 2), "male", "V"),
    ("Priya", "Shah", date(1985, 12, 20), "female", "IV"),
    ("Thomas", "Reid", date(1956, 6, 8), "male", "II"),
    ("Aisha", "Begum", date(1992, 1, 30), "female", "IV"),
    ("George", "Evans", date(1939, 11, 11), "male", "I"),
    ("Chloe", "Martin", date(2001, 4, 5), "female", "II"),
]

# (state, kind, question) — about twenty referrals across the whole workflow.
SCENARIOS = [
    (State.DRAFT, ReferralKind.TRIAGE, "New mole on the back, please advise."),
    (State.DRAFT, ReferralKind.URGENT_CANCER, "Changing pigmented lesion on the calf."),
    (State.AWAITING_REVIEW, ReferralKind.URGENT_CANCER, "Rapidly growing pigmented lesion."),
    (State.AWAITING_REVIEW, ReferralKind.URGENT_CANCER, "Bleeding nodule on the forearm."),
    (State.AWAITING_REVIEW, ReferralKind.TRIAGE, "Several irregular naevi, family history."),
    (State.AWAITING_REVIEW, ReferralKind.ADVICE, "Scaly patch on the scalp: treat or refer?"),
    (State.AWAITING_REVIEW, ReferralKind.ADVICE, "Pearly papule beside the nose."),
    (State.AWAITING_REVIEW, ReferralKind.TRIAGE, "Long-standing lesion has darkened."),
    (State.IN_REVIEW, ReferralKind.URGENT_CANCER, "Asymmetric lesion with colour variation."),
    (State.IN_REVIEW, ReferralKind.TRIAGE, "Itchy pigmented lesion, 6 mm."),
    (State.MORE_INFO_REQUESTED, ReferralKind.TRIAGE, "Lesion on the shin, slow change."),
    (State.MORE_INFO_REQUESTED, ReferralKind.ADVICE, "Rough patch on the back of the hand."),
    (State.ADVICE_GIVEN, ReferralKind.ADVICE, "Is this seborrhoeic keratosis?"),
    (State.ADVICE_GIVEN, ReferralKind.ADVICE, "Red scaly plaque on the elbow."),
    (State.CONVERTED, ReferralKind.ADVICE, "Non-healing lesion on the ear."),
    (State.TRIAGED, ReferralKind.URGENT_CANCER, "Black lesion on the sole."),
    (State.TRIAGED, ReferralKind.TRIAGE, "Enlarging naevus on the thigh."),
    (State.TRIAGED, ReferralKind.URGENT_CANCER, "Ulcerated lesion on the cheek."),
    (State.WITHDRAWN, ReferralKind.TRIAGE, "Mole on the shoulder."),
    (State.CLOSED, ReferralKind.ADVICE, "Benign-looking mole, reassurance?"),
    (State.CLOSED, ReferralKind.URGENT_CANCER, "Irregular lesion, now excised elsewhere."),
]


def _seeds() -> count[int]:
    return count(1)


_seed = _seeds()


def _real_image(lesion: Lesion, image_type: str, user: User) -> LesionImage:
    """Upload a generated photo and run the real pipeline synchronously."""
    # 1600 x 1200: at the recommended resolution, so the demo photos carry no warning to keep.
    data = lesion_photo(1600, 1200, seed=next(_seed), kind=image_type)
    image = accept_upload(
        lesion,
        user=user,
        fileobj=BytesIO(data),
        image_type=image_type,
        dermoscopy_mode="contact_polarised" if image_type == "dermoscopic" else "",
    )
    process_lesion_image(image.pk)
    image = LesionImage.objects.get(pk=image.pk)
    if quality_review.warnings(image) and not quality_review.blocking_problems(image):
        # Synthetic skin can look alike to the repeat check; the photographer keeps the photo,
        # as a real one would after looking (recorded and audited like any keep).
        image = quality_review.keep_photo(image, user=user)
    return image


# Referrals a GP sent to the imaging hub for photography (lesions named, no photos): the hub's
# booking list. The first two are booked into the coming clinics (/hubs/), the next two are on
# today's day list, the fifth missed an appointment on the last working day (did not attend: back
# on the booking list to be rebooked once), the last waits.
HUB_REFERRALS = [
    (ReferralKind.URGENT_CANCER, "New pigmented lesion on the back: photographs at the hub."),
    (ReferralKind.TRIAGE, "Slowly enlarging mole on the upper arm."),
    (ReferralKind.URGENT_CANCER, "Irregular mole on the left shoulder, grown this year."),
    (ReferralKind.TRIAGE, "Crusting lesion on the scalp that has not healed."),
    (ReferralKind.URGENT_CANCER, "Darkening lesion on the shin, patient cannot attend today."),
    (ReferralKind.ADVICE, "Scaly patch on the forehead: treat or refer?"),
]
BOOKED, TODAY, MISSED = range(0, 2), range(2, 4), 4


def _demo_clinics(world: World, patients: list[Patient]) -> None:
    """The hub's weekday morning clinics for the coming two weeks (bank holidays skipped), its
    administrator's login, and its referrals: booked and free slots, a day list for today, a
    did-not-attend on the last working day, and the rest on the booking list."""
    from dermbridge.clinics import services as clinics
    from dermbridge.clinics.models import Appointment
    from dermbridge.clinics.schedule import _make_session, bank_holiday
    from dermbridge.personas import DEFAULT_HISTORY, DEFAULT_LESION
    from dermbridge.referrals.services import create_referral

    manager = make_user("hubmanager", world.hub, Role.SERVICE_ADMIN, password=DEMO_PASSWORD)
    manager.set_password(DEMO_PASSWORD)
    manager.save()
    world.hub.patient_phone = world.hub.patient_phone or "0161 496 0100"
    world.hub.save(update_fields=["patient_phone"])
    site = clinics.create_site(
        manager,
        world.hub,
        name="Northgate Health Centre",
        address="12 Market Street\nNorthgate\nNG1 2AB",
    )
    for weekday in range(5):
        clinics.create_template(
            manager,
            site,
            weekday=weekday,
            start=time(9, 0),
            end=time(12, 0),
            slot_minutes=20,
            capacity=1,
            photographers=[world.pat],
        )
    clinics.generate_sessions(manager, world.hub, weeks=2)
    practice_patients = [p for p in patients if p.registered_practice_id == world.practice_a.pk]
    referrals = [
        create_referral(
            user=world.alice,
            patient=practice_patients[i % len(practice_patients)],
            kind=kind,
            service=world.service,
            referring_org=world.practice_a,
            clinical_question=question,
            history=DEFAULT_HISTORY,
            lesions=[DEFAULT_LESION],
            imaging_hub=world.hub,
        )
        for i, (kind, question) in enumerate(HUB_REFERRALS)
    ]
    for i in BOOKED:
        clinics.book(world.pat, referrals[i], hub=world.hub, site=site)
    # Today's clinic (whatever day the demo is loaded: the day list has something to show) and
    # the last working day's, built as the test builders build them: the booking services
    # refuse slots that have started, and these are for the demo's day list and its history.
    today = timezone.localdate()
    last = today - timedelta(days=1)
    while last.weekday() >= 5 or bank_holiday(last):
        last -= timedelta(days=1)
    clinic_today = _make_session(site, today, time(8, 0), time(18, 0), 30, 1, [world.pat])
    for n, i in enumerate(TODAY):
        slot = clinic_today.slots.order_by("starts_at")[2 + 2 * n]  # 9:00 and 10:00
        Appointment.objects.create(slot=slot, referral=referrals[i], booked_by=manager)
    clinic_before = _make_session(site, last, time(9, 0), time(12, 0), 20, 1, [world.pat])
    first = clinic_before.slots.order_by("starts_at")[0]
    missed = Appointment.objects.create(slot=first, referral=referrals[MISSED], booked_by=manager)
    clinics.record_visit(world.pat, missed, hub=world.hub, outcome="did_not_attend")


def _assess_all() -> None:
    from dermbridge.triage.services import assess_image

    for image in LesionImage.objects.filter(image_type="dermoscopic", assessments__isnull=True):
        assess_image(image.pk)


def _demo_world() -> World:
    world = make_world()
    # Demo logins sit beside the test personas, with a known password.
    users = {
        "gp": (world.practice_a, Role.REFERRER),
        "gp2": (world.practice_b, Role.REFERRER),
        "photographer": (world.hub, Role.PHOTOGRAPHER),
        "dermatologist": (world.service, Role.DERMATOLOGIST),
        "manager": (world.service, Role.SERVICE_ADMIN),
    }
    made = {}
    for username, (org, role) in users.items():
        user = make_user(username, org, role, password=DEMO_PASSWORD)
        user.set_password(DEMO_PASSWORD)
        user.save()
        made[username] = user
    # The photographer's hub also photographs for Riverside Surgery's patients.
    admin = User.objects.filter(username="sysadmin").first() or User.objects.create_superuser(
        "sysadmin", "sysadmin@example.nhs.uk", DEMO_PASSWORD
    )
    admin.set_password(DEMO_PASSWORD)
    admin.save()
    # What patients are told to call (status page and messages); 0161 496 is an Ofcom drama range.
    world.service.patient_phone = world.service.patient_phone or "0161 496 0000"
    world.service.patient_phone_hours = (
        world.service.patient_phone_hours or "Monday to Friday, 9am to 5pm"
    )
    world.service.save(update_fields=["patient_phone", "patient_phone_hours"])
    world.alice, world.bob, world.derek, world.sam, world.pat = (
        made["gp"],
        made["gp2"],
        made["dermatologist"],
        made["manager"],
        made["photographer"],
    )
    return world


# The service's saved patient explanations (managed by its administrator at /service/explanations/).
EXPLANATIONS = (
    (
        "Likely harmless mole: discharge",
        "The photos show what is very likely a harmless mole. You do not need a hospital "
        "appointment. If it changes in size, shape or colour, bleeds or itches, see your GP.",
    ),
    (
        "Suspected skin cancer: urgent clinic",
        "The photos show a mark we would like to look at more closely, soon. You will be offered "
        "an appointment within 2 weeks. Most marks seen this way turn out not to be cancer.",
    ),
    (
        "Likely seborrhoeic keratosis: reassurance",
        "The photos show what is very likely a seborrhoeic keratosis, a common harmless growth "
        "that comes with age. It needs no treatment unless it catches or bothers you.",
    ),
)


def _demo_explanations(world: World) -> None:
    for title, text in EXPLANATIONS:
        ExplanationTemplate.objects.get_or_create(
            service=world.service, title=title, defaults={"text": text}
        )


def load_demo(*, with_referrals: bool = True) -> tuple[int, bool]:
    """Create the demo organisations, logins and referrals. Idempotent: returns (count, created)."""
    with transaction.atomic():
        world = _demo_world()
        _demo_explanations(world)
        demo_practices = [world.practice_a.pk, world.practice_b.pk]
        existing = Referral.objects.filter(referring_org_id__in=demo_practices).count()
        if existing or not with_referrals:
            return existing, False
        patients = [
            make_patient(
                world.practice_a if i % 3 else world.practice_b,
                world.alice if i % 3 else world.bob,
                given_name=g,
                family_name=f,
                date_of_birth=dob,
                sex=sex,
                fitzpatrick=fitz,
                email=f"{g.lower()}.{f.lower()}@example.org",
                # George has no email he reads: his letters wait in Letters to post.
                contact_preference="letter" if g == "George" else "email",
            )
            for i, (g, f, dob, sex, fitz) in enumerate(PATIENTS)
        ]
        for i, (state, kind, question) in enumerate(SCENARIOS):
            patient = patients[i % len(patients)]
            bob_patient = patient.registered_practice_id == world.practice_b.pk
            make_referral(
                world,
                state=state,
                kind=kind,
                patient=patient,
                question=question,
                referrer=world.bob if bob_patient else world.alice,
                practice=world.practice_b if bob_patient else world.practice_a,
                add_image=_real_image,
            )
        _demo_clinics(world, patients)
        load_lesion_demo(world)  # a lesion seen three times over two years (lesions/demo.py)
    _assess_all()
    # A biopsied lesion whose histology disagrees with the AI (demo_histology.py, issue #14).
    with transaction.atomic():
        load_histology_demo(_demo_world(), _real_image)
    return len(SCENARIOS), True


def organisation_summary() -> list[Organisation]:
    return list(Organisation.objects.all())
