"""The patient's lesions page, linking from it, and the comparison page, through the Django
client as the dermatologist: what they show, that bad input re-renders with values kept, and
that each view is audited."""

from __future__ import annotations

import io

from django.test import Client
from PIL import Image

from dermbridge.audit.models import AuditEvent
from dermbridge.lesions.models import LesionEncounter, LinkHow, PatientLesion
from dermbridge.lesions.tests.support import visit
from dermbridge.personas import World


def three_visits(world: World) -> tuple[PatientLesion, list]:
    first = visit(world, None, size=4, days_ago=730, phash="ff00ff00ff00ff00")
    patient = first.patient
    second = visit(world, patient, size=5, days_ago=365, phash="ff00ff00ff00ff01")
    third = visit(world, patient, size=7, phash="ff00ff00ff00ff03")
    tracked = PatientLesion.objects.get()
    return tracked, [first, second, third]


def test_the_dermatologist_links_later_visits_and_compares_them(world: World) -> None:
    tracked, (first, second, third) = three_visits(world)
    client = Client()
    client.force_login(world.derek)
    page = client.get(f"/lesions/patients/{first.patient_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Lesions to link (2)" in text and "Likely" in text
    assert AuditEvent.objects.filter(
        action="lesion.patient_view", actor_id=world.derek.pk, object_id=str(first.patient_id)
    ).exists()
    for referral in (second, third):
        lesion = referral.lesions.get()
        response = client.post(
            f"/lesions/link/{lesion.pk}/",
            {f"l{lesion.pk}-patient_lesion": str(tracked.pk), f"l{lesion.pk}-reason": "Same mole"},
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        assert LesionEncounter.objects.get(lesion=lesion).how == LinkHow.CONFIRMED
    text = client.get(f"/lesions/patients/{first.patient_id}/").content.decode()
    assert "Lesions to link" not in text and "seen 3 times" in text
    assert "1. Back (left)</h3>" in text
    assert "Who linked what" in text and "Derek" in text

    compare = client.get(f"/lesions/{tracked.pk}/compare/")
    assert compare.status_code == 200
    html = compare.content.decode()
    # The lesion is named as the referral and review pages name it (the DICOM Tracking ID keeps
    # "Left back": see test_interop).
    assert "<h1>Back (left): change over time</h1>" in html
    assert tracked.site_and_side == "Back (left)" and tracked.label == "Left back"
    assert html.count('class="db-growth__point"') == 3
    for referral in (first, second, third):
        assert referral.reference in html
    # Measured from the photos (25 mm field of view): 4, 5 and 7 mm within a few tenths.
    assert "4.0 ±" in html or "4.1 ±" in html or "3.9 ±" in html
    assert "7.0 ±" in html or "7.1 ±" in html or "6.9 ±" in html
    assert "mm a year" in html
    event = AuditEvent.objects.get(action="lesion.compare_view")
    assert event.detail["referrals"] == [first.reference, second.reference, third.reference]

    encounter = LesionEncounter.objects.get(lesion=third.lesions.get())
    crop = client.get(f"/lesions/{tracked.pk}/visits/{encounter.pk}/aligned.jpg")
    assert crop.status_code == 200 and crop["Cache-Control"] == "no-store"
    image = Image.open(io.BytesIO(crop.content))
    assert image.size == (480, 480)
    # Centred on the lesion: the middle of the crop is the dark lesion, the corner is skin.
    grey = image.convert("L")
    centre, corner = grey.getpixel((240, 240)), grey.getpixel((10, 10))
    assert isinstance(centre, int) and isinstance(corner, int)
    assert centre < 110 < corner


def test_bad_input_re_renders_with_what_was_typed(world: World) -> None:
    tracked, (_, second, _) = three_visits(world)
    client = Client()
    client.force_login(world.derek)
    lesion = second.lesions.get()
    response = client.post(
        f"/lesions/link/{lesion.pk}/", {f"l{lesion.pk}-reason": "Looks the same to me"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "There is a problem" in html and "Choose one of the patient" in html
    assert "Looks the same to me" in html
    assert not LesionEncounter.objects.filter(lesion=lesion).exists()

    bad_date = client.post(f"/lesions/{tracked.pk}/monitor/", {"monitor_until": "2020-01-01"})
    assert bad_date.status_code == 400
    assert "The review date must be after today" in bad_date.content.decode()
    assert 'value="2020-01-01"' in bad_date.content.decode()
    good = client.post(f"/lesions/{tracked.pk}/monitor/", {"monitor_until": "2099-01-31"})
    assert good.status_code == 302
    tracked.refresh_from_db()
    assert str(tracked.monitor_until) == "2099-01-31"
    assert AuditEvent.objects.filter(action="lesion.monitor", actor_id=world.derek.pk).exists()


def test_the_review_panel_links_each_lesion_to_its_history_for_the_dermatologist(
    world: World,
) -> None:
    from django.template import Context, Template

    tracked, (_, second, _) = three_visits(world)
    template = Template("{% load lesion_tags %}{% lesion_panel referral %}")
    html = template.render(Context({"user": world.derek, "referral": second}))
    assert "not yet linked" in html and f"/lesions/patients/{second.patient_id}/" in html
    from dermbridge.lesions import services

    services.link(second.lesions.get(), tracked, user=world.derek)
    html = template.render(Context({"user": world.derek, "referral": second}))
    assert "seen 2 times" in html and f"/lesions/{tracked.pk}/compare/" in html
    for outsider in (world.alice, world.dora, world.sam, world.pat):
        assert template.render(Context({"user": outsider, "referral": second})).strip() == ""


def test_the_review_page_carries_the_lesion_panel(world: World, client: Client) -> None:
    """The panel is wired into the dermatologist's review page (referral_detail.html)."""
    _tracked, (_, second, _) = three_visits(world)
    client.force_login(world.derek)
    html = client.get(f"/referrals/{second.pk}/").content.decode()
    assert "These lesions over time" in html and f"/lesions/patients/{second.patient_id}/" in html


def test_a_lesions_place_reads_as_on_the_referral_pages() -> None:
    for side, expected in [
        ("left", "Upper back (left)"),
        ("bilateral", "Upper back (both sides)"),
        ("midline", "Upper back (midline)"),
        ("", "Upper back"),
    ]:
        lesion = PatientLesion(body_site_code="699893008", laterality=side)
        assert lesion.site_and_side == expected
