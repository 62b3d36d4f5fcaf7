"""The personas world: organisations, personas and referrals in any workflow state.

Production code: `dermbridge demo` builds its data with these, and so do the benchmarks and the
tests (through `dermbridge.testing`, which re-exports them). They create everything through the
apps' services (`referrals.services`, `patients.services`, `imaging.blobrefs`), so a change to a
rule shows here; what only tests need belongs in `dermbridge.testing`.

Personas (healthchecks-style): alice refers from Riverside Surgery, bob from Hillview Medical
Centre; pat photographs at Northgate Photo Hub; derek reviews for City Hospital Dermatology and
dora for County Dermatology; sam administers City Hospital Dermatology. Every view test checks
that a persona of another organisation sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from dermbridge.accounts.models import Membership, Organisation, OrganisationKind, Role, User
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.patients.models import ConsentScope, Patient
from dermbridge.patients.services import record_consent
from dermbridge.referrals import services
from dermbridge.referrals.models import Lesion, Referral, ReferralKind, State

DEFAULT_HISTORY: dict[str, Any] = {
    "onset": "3_to_12_months",
    "changed_size": "yes",
    "changed_shape": "no",
    "changed_colour": "yes",
    "bleeding": "no",
    "itch": "no",
    "sun_exposure": "high",
}
DEFAULT_LESION = {
    "body_site_code": "77568009",
    "laterality": "left",
    "size_mm": 7,
    "description": "Irregular pigmented macule",
    "pigmented": True,
}


def nhs_number_for(seed: int) -> str:
    """A valid NHS number in the 999 test range (Modulus 11 check digit)."""
    n = seed
    while True:
        body = f"999{n % 1_000_000:06d}"
        total = sum(int(d) * (10 - i) for i, d in enumerate(body))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10:
            return body + str(check)
        n += 1


@dataclass
class World:
    practice_a: Organisation
    practice_b: Organisation
    hub: Organisation
    service: Organisation
    service_b: Organisation
    alice: User
    bob: User
    pat: User
    derek: User
    dora: User
    sam: User

    def users(self) -> list[User]:
        return [self.alice, self.bob, self.pat, self.derek, self.dora, self.sam]


def make_user(
    username: str,
    org: Organisation,
    role: str,
    password: str = "correct-horse-battery",  # noqa: S107 - test personas only
) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        first, _, last = username.partition(".")
        user = User.objects.create_user(
            username=username,
            password=password,
            email=f"{username}@example.nhs.uk",
            first_name=first.title(),
            last_name=last.title() or "Test",
        )
    Membership.objects.get_or_create(user=user, organisation=org, role=role)
    return user


def make_world() -> World:
    def org(kind: str, name: str, ods: str) -> Organisation:
        return Organisation.objects.get_or_create(
            ods_code=ods,
            defaults={"kind": kind, "name": name, "email": f"{ods.lower()}@example.nhs.uk"},
        )[0]

    practice_a = org(OrganisationKind.GP_PRACTICE, "Riverside Surgery", "A81001")
    practice_b = org(OrganisationKind.GP_PRACTICE, "Hillview Medical Centre", "A81002")
    hub = org(OrganisationKind.IMAGING_HUB, "Northgate Photo Hub", "Y01234")
    service = org(OrganisationKind.DERMATOLOGY_SERVICE, "City Hospital Dermatology", "RXX01")
    service_b = org(OrganisationKind.DERMATOLOGY_SERVICE, "County Dermatology", "RYY01")
    return World(
        practice_a,
        practice_b,
        hub,
        service,
        service_b,
        alice=make_user("alice", practice_a, Role.REFERRER),
        bob=make_user("bob", practice_b, Role.REFERRER),
        pat=make_user("pat", hub, Role.PHOTOGRAPHER),
        derek=make_user("derek", service, Role.DERMATOLOGIST),
        dora=make_user("dora", service_b, Role.DERMATOLOGIST),
        sam=make_user("sam", service, Role.SERVICE_ADMIN),
    )


_patient_seq = [0]


def make_patient(practice: Organisation, recorder: User, **overrides: Any) -> Patient:
    _patient_seq[0] += 1
    seed = Patient.objects.count() * 7 + _patient_seq[0]
    data: dict[str, Any] = {
        "nhs_number": nhs_number_for(seed),
        "given_name": "Jo",
        "family_name": f"Patient{seed}",
        "date_of_birth": date(1960, 5, 17),
        "sex": "female",
        "fitzpatrick": "II",
        "email": f"patient{seed}@example.org",
        "contact_preference": "email",
        "registered_practice": practice,
    }
    data.update(overrides)
    while Patient.objects.filter(nhs_number=data["nhs_number"]).exists():
        seed += 1
        data["nhs_number"] = nhs_number_for(seed)
    patient = Patient.objects.create(**data)
    record_consent(user=recorder, patient=patient, scope=ConsentScope.DIRECT_CARE, granted=True)
    return patient


_image_cache: dict[str, bytes] = {}


def attach_ready_image(lesion: Lesion, image_type: str, user: User) -> LesionImage:
    """A processed image without running the pipeline (fast); imaging tests run the real one."""
    data = _image_cache.setdefault(
        image_type, lesion_photo(320, 240, seed=len(image_type), kind=image_type)
    )
    store = blob_store()
    address = store.put(data)
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    entry = {
        "address": address,
        "sha256": sha,
        "master_sha256": sha,
        "size": len(data),
        "width": 320,
        "height": 240,
        "media_type": "image/jpeg",
    }
    image = LesionImage.objects.create(
        lesion=lesion,
        image_type=image_type,
        status=ImageStatus.READY,
        uploaded_by=user,
        derivatives={name: entry for name in ("master", "viewer", "thumbnail", "ai_input", "ers")},
        master_sha256=sha,
        width=320,
        height=240,
        processed_at=timezone.now(),
    )
    from dermbridge.imaging.blobrefs import sync_refs

    sync_refs(image)  # the blob is shared by every image built from the same bytes
    return image


def make_referral(
    world: World,
    *,
    state: str = State.DRAFT,
    kind: str = ReferralKind.TRIAGE,
    referrer: User | None = None,
    practice: Organisation | None = None,
    service: Organisation | None = None,
    patient: Patient | None = None,
    images: bool = True,
    add_image: Any = None,
    lesions: list[dict[str, Any]] | None = None,
    question: str = "Is this lesion suspicious?",
) -> Referral:
    """A referral walked through the real services to `state`."""
    referrer = referrer or world.alice
    practice = practice or (world.practice_b if referrer == world.bob else world.practice_a)
    service = service or world.service
    reviewer = world.dora if service == world.service_b else world.derek
    patient = patient or make_patient(practice, referrer)
    referral = services.create_referral(
        user=referrer,
        patient=patient,
        kind=kind,
        service=service,
        referring_org=practice,
        clinical_question=question,
        history=DEFAULT_HISTORY,
        lesions=lesions or [DEFAULT_LESION],
    )
    if images:
        for lesion in referral.lesions.all():
            for image_type in (ImageType.OVERVIEW, ImageType.CLOSE_UP, ImageType.DERMOSCOPIC):
                (add_image or attach_ready_image)(lesion, image_type, referrer)
    if state == State.DRAFT:
        return referral
    services.submit_referral(referral, user=referrer)
    if state == State.SUBMITTED:
        return Referral.objects.get(pk=referral.pk)
    services.queue_for_review(referral.pk)
    if state == State.AWAITING_REVIEW:
        return Referral.objects.get(pk=referral.pk)
    if state == State.CONVERTED:
        assert kind == ReferralKind.ADVICE
    services.claim(referral, user=reviewer)
    if state == State.IN_REVIEW:
        return Referral.objects.get(pk=referral.pk)
    outcome = {
        "diagnosis_code": "400182000",
        "management_plan": "Monitor; photograph in 3 months.",
        "advice_to_referrer": "Benign naevus. Safety-net for change.",
        "patient_explanation": "This is a harmless mole.",
    }
    if state == State.MORE_INFO_REQUESTED:
        services.request_more_information(
            referral, user=reviewer, question="How long has it been there?"
        )
    elif state == State.CONVERTED:
        services.convert_advice_request(referral, user=reviewer, to_kind=ReferralKind.URGENT_CANCER)
    elif state in (State.ADVICE_GIVEN, State.TRIAGED, State.CLOSED):
        if kind == ReferralKind.ADVICE:
            services.record_outcome(referral, user=reviewer, action="give_advice", **outcome)
        else:
            services.record_outcome(
                referral, user=reviewer, action="triage", pathway_decision="discharge", **outcome
            )
        if state == State.CLOSED:
            if kind == ReferralKind.URGENT_CANCER:
                services.record_patient_told(
                    referral, user=reviewer, told_at=timezone.now(), method="letter"
                )
            services.close(referral, user=reviewer)
    elif state == State.WITHDRAWN:
        services.withdraw(referral, user=referrer, reason="Patient declined")
    return Referral.objects.get(pk=referral.pk)
