"""The lesions app's demo data (dermbridge.demo calls `load_lesion_demo` once, inside its
transaction): Rosa Whitfield, whose pigmented lesion on the left upper back was photographed in
three referrals over two years and grew from 4 to 7.5 mm (linked by the demo dermatologist, so
/lesions/<id>/compare/ has three visits to compare), and a second lesion on her right upper arm
seen once and under monitoring. The dermoscopic photos are of known scale (a 25 mm field of
view), so the comparison page measures them; every photo goes through the real pipeline.
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO

from django.utils import timezone

from dermbridge.imaging import quality_review
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.imaging.services import accept_upload, process_lesion_image
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.lesions import services
from dermbridge.lesions.models import LesionEncounter, PatientLesion
from dermbridge.lesions.synthetic import dermoscopic_disc
from dermbridge.personas import World, make_patient, make_referral
from dermbridge.referrals.models import Lesion, Referral, ReferralKind, State

UPPER_BACK = "699893008"
UPPER_ARM = "40983000"
# (days ago, diameter mm, state, question, description)
VISITS = [
    (730, 4.0, State.CLOSED, "Pigmented lesion on the upper back, reassurance?", "Brown macule"),
    (365, 5.5, State.TRIAGED, "The mole on her back looks bigger.", "Brown macule, larger"),
    (3, 7.5, State.AWAITING_REVIEW, "Mole on the back still growing.", "Brown macule, growing"),
]


def _photo_adder(diameter: float, seed: int):  # type: ignore[no-untyped-def]
    def add(lesion: Lesion, image_type: str, user: object) -> LesionImage:
        if image_type == ImageType.DERMOSCOPIC:
            data = dermoscopic_disc(
                diameter_mm=diameter, fov_mm=25.0, width=1024, height=768, seed=seed
            )
        else:
            data = lesion_photo(1024, 768, seed=seed + len(image_type), kind=image_type)
        image = accept_upload(
            lesion,
            user=user,  # type: ignore[arg-type]
            fileobj=BytesIO(data),
            image_type=image_type,
            dermoscopy_mode="contact_polarised" if image_type == ImageType.DERMOSCOPIC else "",
        )
        process_lesion_image(image.pk)
        image = LesionImage.objects.get(pk=image.pk)
        if quality_review.warnings(image) and not quality_review.blocking_problems(image):
            image = quality_review.keep_photo(image, user=user)  # type: ignore[arg-type]
        return image

    return add


def _backdate(referral: Referral, days: int) -> None:
    when = timezone.now() - dt.timedelta(days=days)
    Referral.objects.filter(pk=referral.pk).update(created_at=when, submitted_at=when)
    LesionImage.objects.filter(lesion__referral=referral).update(uploaded_at=when)
    referral.refresh_from_db()
    # A lesion first photographed in this referral was first seen on its (earlier) date.
    PatientLesion.objects.filter(
        encounters__lesion__referral=referral, encounters__how="created"
    ).update(first_seen=timezone.localdate(when))


def load_lesion_demo(world: World) -> PatientLesion:
    """Rosa Whitfield's growing lesion (three visits) and her monitored one; returns the
    growing lesion."""
    patient = make_patient(
        world.practice_a,
        world.alice,
        given_name="Rosa",
        family_name="Whitfield",
        date_of_birth=dt.date(1963, 7, 21),
        sex="female",
        fitzpatrick="II",
        email="rosa.whitfield@example.org",
    )
    referrals = []
    for n, (days, diameter, state, question, description) in enumerate(VISITS):
        lesions = [
            {
                "body_site_code": UPPER_BACK,
                "laterality": "left",
                "size_mm": diameter,
                "description": description,
                "pigmented": True,
            }
        ]
        if n == 1:
            lesions.append(
                {
                    "body_site_code": UPPER_ARM,
                    "laterality": "right",
                    "size_mm": 3,
                    "description": "Small flat pink-brown spot",
                    "pigmented": True,
                }
            )
        referral = make_referral(
            world,
            state=state,
            kind=ReferralKind.TRIAGE,
            patient=patient,
            question=question,
            lesions=lesions,
            add_image=_photo_adder(diameter, seed=700 + n),
        )
        _backdate(referral, days)
        referrals.append(referral)
    growing = LesionEncounter.objects.get(lesion__referral=referrals[0]).patient_lesion
    back_1, arm = referrals[1].lesions.order_by("number")
    services.link(back_1, growing, user=world.derek, reason="Same mole: site, side and pattern")
    services.start_new(arm, user=world.derek, reason="A different lesion, first seen now")
    (back_2,) = referrals[2].lesions.all()
    services.link(back_2, growing, user=world.derek, reason="Same mole, larger again")
    monitored = LesionEncounter.objects.get(lesion=arm).patient_lesion
    services.set_monitoring(
        monitored, timezone.localdate() + dt.timedelta(days=60), user=world.derek
    )
    return growing
