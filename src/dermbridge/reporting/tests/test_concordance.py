"""Concordance and safety netting (issue #14 item 5): histology side by side with the
teledermatology diagnosis and the AI, sensitivity and specificity with Wilson intervals per
dermatologist and AI version, and the missed-cancer event raised when histology is recorded
(audited, emailed to the service, reviewed by an administrator); only the service sees it."""

from __future__ import annotations

import pytest
from django.test import Client

from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.notifications.models import OutboxMessage
from dermbridge.referrals import histology
from dermbridge.referrals.models import LesionOutcome, Referral
from dermbridge.referrals.tests.histology_support import biopsied, request_of
from dermbridge.reporting.concordance import concordance, wilson
from dermbridge.reporting.models import MissedCancer
from dermbridge.testing import World
from dermbridge.triage.models import Assessment

BCC, MELANOMA, NAEVUS = "254701007", "372244006", "400182000"


def _ai(referral: Referral, p: float, band: str, version: str = "triage-v2") -> None:
    image = LesionImage.objects.get(
        lesion__referral=referral, lesion__number=2, image_type=ImageType.DERMOSCOPIC
    )
    Assessment.objects.filter(image=image).delete()  # only this reading
    Assessment.objects.create(
        image=image,
        model_version=version,
        input_sha256="0" * 64,
        probabilities={"bcc": p, "nv": 1 - p},
        malignant_probability=p,
        band=band,
    )


def _histology(referral: Referral, code: str, user: object, number: str = "R1") -> None:
    histology.record_result(
        request_of(referral),
        user=user,  # type: ignore[arg-type]
        data={
            "morphology_code": code,
            "reported_on": "2026-11-20",
            "report_text": "Report.",
            "margins": "clear",
            "laboratory": "City Pathology",
        },
        report_system="lab",
        report_identifier=f"{referral.reference}-{number}",
    )


def test_wilson_intervals() -> None:
    assert wilson(0, 0) is None
    low, high = wilson(8, 10)  # type: ignore[misc]
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0  # type: ignore[index]


def test_a_missed_cancer_is_raised_once_audited_and_emailed(world: World) -> None:
    referral = biopsied(world, nose=NAEVUS)  # called a naevus, biopsied anyway
    _ai(referral, 0.1, "low")
    _histology(referral, BCC, world.derek)
    event = MissedCancer.objects.get()
    assert event.service_missed and event.ai_missed_versions == ["triage-v2"]
    assert event.lesion.number == 2 and event.service_id == world.service.pk
    assert AuditEvent.objects.filter(
        action="safety.missed_cancer", organisation_id=world.service.pk
    ).exists()
    mail = OutboxMessage.objects.filter(event="missed_cancer")
    assert world.sam.email in {m.recipient for m in mail}
    assert "shows basal cell carcinoma of skin" in mail.first().body  # type: ignore[union-attr]
    # The same report again raises nothing more.
    _histology(referral, BCC, world.derek)
    assert MissedCancer.objects.count() == 1
    assert mail.filter(recipient=world.sam.email).count() == 1


def test_a_cancer_called_by_both_raises_nothing_and_concordance_counts_it(world: World) -> None:
    caught = biopsied(world, nose=MELANOMA)  # management biopsy, diagnosis melanoma
    _ai(caught, 0.9, "high")
    _histology(caught, MELANOMA, world.derek)
    benign = biopsied(world, nose=NAEVUS)
    _ai(benign, 0.2, "low")
    _histology(benign, NAEVUS, world.derek)
    missed = biopsied(world, nose=NAEVUS)
    _ai(missed, 0.7, "high")
    _histology(missed, BCC, world.derek)
    events = list(MissedCancer.objects.all())
    assert [(e.lesion.referral_id, e.service_missed, e.ai_missed_versions) for e in events] == [
        (missed.pk, True, [])
    ]
    report = concordance(world.service.pk)
    assert len(report.rows) == 3
    (derm,) = report.by_dermatologist
    assert (derm.cases, derm.malignant, derm.sensitivity, derm.specificity) == (3, 2, 0.5, 1.0)
    assert derm.sensitivity_ci == pytest.approx(wilson(1, 2))
    (ai,) = report.by_ai_version
    assert (ai.who, ai.sensitivity, ai.specificity) == ("triage-v2", 1.0, 1.0)
    row = next(r for r in report.rows if r.reference == caught.reference)
    assert (row.diagnosis, row.histology, row.histology_malignant) == (
        "Malignant melanoma",
        "Malignant melanoma",
        True,
    )
    assert row.ai[0].band == "high" and row.ai[0].probabilities["bcc"] == 0.9
    # Another service's histology is not counted.
    assert concordance(world.service_b.pk).rows == []


def test_only_the_service_sees_the_page_and_only_an_administrator_reviews(
    client: Client, world: World
) -> None:
    referral = biopsied(world, nose=NAEVUS)
    _ai(referral, 0.1, "low")
    _histology(referral, BCC, world.derek)
    event = MissedCancer.objects.get()
    request_id = request_of(referral).biopsy_request_id or ""
    page = f"/dashboard/concordance/?service={world.service.pk}"
    review = f"/dashboard/missed-cancers/{event.pk}/reviewed/?service={world.service.pk}"
    client.force_login(world.derek)
    body = client.get(page).content.decode()
    assert request_id in body and "Not yet reviewed" in body and "Record review" not in body
    # The AI's classes by their plain names, likeliest first, never the dataset's codes.
    assert "Melanocytic naevus (mole) 90%, Basal cell carcinoma 10%" in body
    assert "nv 90%" not in body
    assert AuditEvent.objects.filter(
        action="report.view", actor_id=world.derek.pk, detail__report="concordance"
    ).exists()
    dashboard = client.get(f"/dashboard/?service={world.service.pk}").content.decode()
    assert "1 missed-cancer event awaiting review" in dashboard
    assert client.post(review).status_code == 403  # a dermatologist does not sign it off
    client.force_login(world.dora)  # another service's dermatologist
    assert client.get(page).status_code == 404 and client.post(review).status_code == 404
    assert request_id not in client.get("/dashboard/concordance/").content.decode()
    for user in (world.alice, world.pat, world.bob):  # GPs and a photographer
        client.force_login(user)
        assert client.get(page).status_code == 403 and client.post(review).status_code == 403
    anonymous = Client()
    assert anonymous.get(page).status_code == 302 and anonymous.post(review).status_code == 302
    event.refresh_from_db()
    assert event.reviewed_at is None
    client.force_login(world.sam)
    done = client.post(review)
    assert done.status_code == 302
    event.refresh_from_db()
    assert event.reviewed_by == world.sam
    assert AuditEvent.objects.filter(action="safety.missed_cancer_reviewed").exists()
    assert "Reviewed by" in client.get(page).content.decode()


def test_a_migrated_copy_of_a_referral_answer_is_not_counted_for_the_dermatologist(
    world: World, client: Client
) -> None:
    """A LesionOutcome the per-lesion migration copied from the referral's one answer is shown
    (marked) but not counted in the dermatologist's sensitivity and specificity; the AI's
    reading of the lesion still is. The page's audit event names the lesions it showed."""
    copied = biopsied(world, nose=NAEVUS)
    _ai(copied, 0.7, "high")
    LesionOutcome.objects.filter(lesion__referral=copied).update(from_referral_outcome=True)
    _histology(copied, BCC, world.derek)
    report = concordance(world.service.pk)
    assert [r.copied_from_referral for r in report.rows] == [True]
    assert report.by_dermatologist == []
    (ai,) = report.by_ai_version
    assert (ai.cases, ai.malignant) == (1, 1)
    client.force_login(world.derek)
    body = client.get(f"/dashboard/concordance/?service={world.service.pk}").content.decode()
    assert "copied to each lesion" in body
    event = AuditEvent.objects.filter(action="report.view").latest("seq")
    assert event.detail["lesions_shown"] == [r.lesion_id for r in report.rows]
