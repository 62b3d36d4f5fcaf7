"""The referring practice's pages: new referral, draft, photos, submission, my referrals."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.services import process_lesion_image
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.patients.models import Patient
from dermbridge.referrals import services
from dermbridge.referrals.models import PRESENCE_FIELDS, Referral, State
from dermbridge.testing import DEFAULT_HISTORY, DEFAULT_LESION, World, make_referral, nhs_number_for

_photos: dict[str, bytes] = {}


def photo(kind: str, seed: int = 1) -> bytes:
    """A real synthetic JPEG big enough for the pipeline (made once per test run)."""
    key = f"{kind}-{seed}"
    if key not in _photos:
        _photos[key] = lesion_photo(860, 645, seed=seed, kind=kind)
    return _photos[key]


def new_referral_form(world: World, **overrides: Any) -> dict[str, Any]:
    data = {
        "patient-nhs_number": nhs_number_for(4242),
        "patient-given_name": "Maya",
        "patient-family_name": "Okonkwo",
        "patient-date_of_birth": "1971-03-02",
        "patient-sex": "female",
        "patient-fitzpatrick": "V",
        "patient-email": "maya@example.org",
        "patient-mobile": "",
        "patient-contact_preference": "email",
        "patient-consent_direct_care": "on",
        "kind": "ras",
        "service": str(world.service.pk),
        "imaging_hub": "",
        "clinical_question": "Changing mole on the back: melanoma?",
        "history-onset": "3_to_12_months",
        "history-duration_detail": "",
        "history-sun_exposure": "high",
        "history-medications": "None",
        "history-allergies": "",
        "history-treatments_tried": "",
        "history-treatment_effect": "",
        "history-other_notes": "",
        "lesion-body_site_code": "77568009",
        "lesion-laterality": "left",
        "lesion-size_mm": "7",
        "lesion-description": "Irregular pigmented macule",
        "lesion-pigmented": "on",
    }
    for name in PRESENCE_FIELDS:
        data[f"history-{name}"] = "no"
    data["history-changed_size"] = "yes"
    data.update(overrides)
    return data


def test_it_walks_a_gp_from_new_referral_to_sent(client: Client, world: World) -> None:
    """GIVEN alice at Riverside WHEN she fills in the new referral form, uploads real photos
    of the pigmented lesion (processed by the pipeline) and presses send
    THEN the referral is submitted to City Hospital with the images attached."""
    client.force_login(world.alice)
    assert client.get("/referrals/new/").status_code == 200

    response = client.post("/referrals/new/", new_referral_form(world))
    assert response.status_code == 302, response.content.decode()[:2000]
    referral = Referral.objects.get(patient__family_name="Okonkwo")
    lesion = referral.lesions.get()
    assert response["Location"] == f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/"
    assert referral.state == State.DRAFT
    assert referral.history.changed_size == "yes"
    assert lesion.pigmented and lesion.body_site_code == "77568009"

    # Before photos: the draft page lists what stops sending.
    edit = client.get(f"/referrals/{referral.pk}/edit/").content.decode()
    assert "Before you can send this referral" in edit
    refused = client.post(f"/referrals/{referral.pk}/submit/")
    assert refused.status_code == 200
    assert "There is a problem" in refused.content.decode()
    assert (
        "Lesion 1: add overview (locating), close-up, dermoscopic images"
        in refused.content.decode()
    )

    photos_url = f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/"
    uploads = [
        ("overview", [photo("overview")], ""),
        ("close_up", [photo("close_up"), photo("close_up", seed=2)], ""),
        ("dermoscopic", [photo("dermoscopic")], "contact_polarised"),
    ]
    for image_type, files, mode in uploads:
        payload = {
            "image_type": image_type,
            "dermoscopy_mode": mode,
            "photos": [
                SimpleUploadedFile(f"{image_type}{i}.jpg", data, "image/jpeg")
                for i, data in enumerate(files)
            ],
        }
        response = client.post(photos_url, payload)
        assert response.status_code == 302, response.content.decode()[:3000]
    images = list(LesionImage.objects.filter(lesion=lesion))
    assert len(images) == 4
    assert "Being checked" in client.get(photos_url).content.decode()
    for image in images:
        assert process_lesion_image(image.pk) == "ready"
    page = client.get(photos_url).content.decode()
    # 860 x 645 is below the recommended resolution: a warning, so amber, never green (issue #9).
    assert page.count("nhsuk-tag--orange") == 4 and "nhsuk-tag--green" not in page
    assert f"/images/{images[0].media_key}/thumbnail/" in page

    # Remove the duplicate close-up from the draft.
    extra = images[2]
    assert client.post(f"/referrals/{referral.pk}/photos/{extra.pk}/delete/").status_code == 302
    assert not LesionImage.objects.filter(pk=extra.pk).exists()

    # Sending waits until each warned photo is kept (or retaken).
    refused_page = client.post(f"/referrals/{referral.pk}/submit/", follow=True)
    assert "keep or retake" in refused_page.content.decode()
    for image in (images[0], images[1], images[3]):
        kept = client.post(f"/referrals/{referral.pk}/photos/{image.pk}/keep/")
        assert kept.status_code == 302
    assert client.get(photos_url).content.decode().count("Kept with a warning") == 3

    response = client.post(f"/referrals/{referral.pk}/submit/")
    assert response.status_code == 302
    assert response["Location"] == f"/referrals/{referral.pk}/"
    referral.refresh_from_db()
    assert referral.state in (State.SUBMITTED, State.AWAITING_REVIEW)
    detail = client.get(response["Location"]).content.decode()
    assert "Okonkwo" in detail and referral.reference in detail


def test_it_shows_a_specific_error_and_saves_nothing_for_a_bad_nhs_number(
    client: Client, world: World
) -> None:
    client.force_login(world.alice)
    before = (Patient.objects.count(), Referral.objects.count())
    response = client.post(
        "/referrals/new/", new_referral_form(world, **{"patient-nhs_number": "9434765918"})
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "There is a problem" in body
    assert "fails the check digit" in body
    assert 'href="#id_patient-nhs_number"' in body
    # The message is tied to the field for screen readers, and the field is marked in error.
    assert 'id="id_patient-nhs_number-error"' in body
    assert 'aria-describedby="id_patient-nhs_number_helptext id_patient-nhs_number-error"' in body
    assert "nhsuk-input--error" in body
    assert (Patient.objects.count(), Referral.objects.count()) == before


def test_it_refuses_a_known_nhs_number_with_a_different_date_of_birth(
    client: Client, world: World
) -> None:
    """GIVEN a patient already registered WHEN a referral names their NHS number with another
    date of birth THEN nothing is saved and the referrer is told to check the NHS number."""
    existing = make_referral(world, images=False).patient
    client.force_login(world.alice)
    before = Referral.objects.count()
    response = client.post(
        "/referrals/new/",
        new_referral_form(
            world,
            **{"patient-nhs_number": existing.nhs_number, "patient-date_of_birth": "1999-01-01"},
        ),
    )
    assert "Date of birth does not match the NHS number." in response.content.decode()
    assert Referral.objects.count() == before


def test_it_requires_a_body_site_for_the_lesion(client: Client, world: World) -> None:
    client.force_login(world.alice)
    response = client.post(
        "/referrals/new/", new_referral_form(world, **{"lesion-body_site_code": "123"})
    )
    assert response.status_code == 200
    assert "Body site: select a valid choice" in response.content.decode()
    assert not Referral.objects.exists()


def test_it_saves_a_draft_and_resumes_it(client: Client, world: World) -> None:
    referral = make_referral(world, images=False)
    client.force_login(world.alice)
    form = new_referral_form(world, clinical_question="Now a better question")
    # The draft page saves every field posted: lesion fields would add a lesion too.
    form = {k: v for k, v in form.items() if not k.startswith("lesion-")}
    response = client.post(f"/referrals/{referral.pk}/edit/", form)
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.clinical_question == "Now a better question"
    page = client.get(f"/referrals/{referral.pk}/edit/").content.decode()
    assert "Now a better question" in page
    lesion = client.post(
        f"/referrals/{referral.pk}/lesions/",
        {
            "lesion-body_site_code": "45206002",
            "lesion-laterality": "midline",
            "lesion-size_mm": "3",
            "lesion-description": "Pearly papule",
        },
    )
    assert lesion.status_code == 302
    assert referral.lesions.count() == 2


def test_it_lists_my_referrals_for_the_practice_only(client: Client, world: World) -> None:
    mine = make_referral(world, state=State.AWAITING_REVIEW)
    theirs = make_referral(world, referrer=world.bob, images=False)
    client.force_login(world.alice)
    body = client.get("/referrals/").content.decode()
    assert mine.reference in body and str(mine.patient) in body
    assert theirs.reference not in body and str(theirs.patient) not in body
    assert "Awaiting review" in body


DRAFT_PAGES = [
    ("get", "/referrals/{pk}/edit/"),
    ("get", "/referrals/{pk}/lesions/{lesion}/photos/"),
    ("post", "/referrals/{pk}/lesions/{lesion}/photos/"),
    ("post", "/referrals/{pk}/submit/"),
    ("post", "/referrals/{pk}/delete/"),
    ("post", "/referrals/{pk}/consent/"),
    ("post", "/referrals/{pk}/lesions/"),
    ("post", "/referrals/{pk}/photos/{image}/delete/"),
    ("get", "/referrals/{pk}/"),
]


def test_it_hides_another_practices_draft(client: Client, world: World) -> None:
    """GIVEN alice's draft WHEN bob (another practice), derek (the service: drafts are not
    sent yet) or pat (a hub not named on it) open or post to any of its pages
    THEN each gets 404 with none of the patient's data, and nothing changes."""
    referral = make_referral(world)
    lesion = referral.lesions.get()
    image = lesion.images.first()
    assert image is not None
    for method, path in DRAFT_PAGES:
        url = path.format(pk=referral.pk, lesion=lesion.pk, image=image.pk)
        for outsider in (world.bob, world.derek, world.pat):
            client.force_login(outsider)
            response = getattr(client, method)(url, {"lesion-body_site_code": "77568009"})
            assert response.status_code == 404, (outsider, url)
            body = response.content.decode()
            assert referral.patient.family_name not in body
            assert referral.patient.nhs_number not in body
    referral.refresh_from_db()
    assert referral.state == State.DRAFT and referral.lesions.count() == 1
    assert LesionImage.objects.filter(lesion=lesion).count() == 3
    assert LesionImage.objects.filter(pk=image.pk, status=ImageStatus.READY).exists()


def test_it_lets_the_hub_photographer_add_photos_but_not_send(client: Client, world: World) -> None:
    """GIVEN alice's draft names Northgate Photo Hub WHEN pat (photographer there) opens it
    THEN pat sees it in his list, can upload photos, and is not offered the send button."""
    referral = services.create_referral(
        user=world.alice,
        patient=make_referral(world, images=False).patient,
        kind="ras",
        service=world.service,
        referring_org=world.practice_a,
        imaging_hub=world.hub,
        clinical_question="Please photograph",
        history=DEFAULT_HISTORY,
        lesions=[DEFAULT_LESION],
    )
    lesion = referral.lesions.get()
    client.force_login(world.pat)
    assert referral.reference in client.get("/referrals/").content.decode()
    edit = client.get(f"/referrals/{referral.pk}/edit/").content.decode()
    assert "Send to City Hospital Dermatology" not in edit
    response = client.post(
        f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/",
        {
            "image_type": "overview",
            "dermoscopy_mode": "",
            "photos": [SimpleUploadedFile("o.jpg", photo("overview"), "image/jpeg")],
        },
    )
    assert response.status_code == 302
    assert LesionImage.objects.filter(lesion=lesion, uploaded_by=world.pat).count() == 1


def test_it_reads_a_typed_date_of_birth_day_first(client: Client, world: World) -> None:
    """GIVEN a browser without a date picker WHEN the referrer types 05/06/1960
    THEN the patient is born on 5 June 1960, not 6 May (UK day-first dates)."""
    client.force_login(world.alice)
    form = new_referral_form(world, **{"patient-date_of_birth": "05/06/1960"})
    assert client.post("/referrals/new/", form).status_code == 302
    patient = Patient.objects.get(family_name="Okonkwo")
    assert (patient.date_of_birth.day, patient.date_of_birth.month) == (5, 6)


def test_it_updates_the_history_after_a_request_for_more_information(
    client: Client, world: World
) -> None:
    referral = make_referral(world, state=State.MORE_INFO_REQUESTED)
    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/edit/").content.decode()
    assert "Add information to referral" in page
    form = new_referral_form(world, **{"history-bleeding": "yes", "kind": ""})
    form = {k: v for k, v in form.items() if not k.startswith("lesion-")}
    response = client.post(f"/referrals/{referral.pk}/edit/", form)
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.history.bleeding == "yes" and referral.kind == "ras"
