"""The review page's own prepared reads give what the queries they replaced give, and the page
costs a bounded number of statements, audits one view and never reads a photo's bytes."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import LesionImage
from dermbridge.referrals.models import State
from dermbridge.testing import DEFAULT_LESION, World, make_referral
from dermbridge.triage.models import Assessment
from dermbridge.triage.services import assessments_for
from dermbridge.web.views.referral import IMAGE_VERSIONS, _assessments_of, image_urls


def _values(obj: object) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}  # type: ignore[attr-defined]


def _assess(image: LesionImage, probability: float) -> None:
    Assessment.objects.create(
        image=image,
        model_version="test-1",
        input_sha256="0" * 64,
        probabilities={"mel": probability, "nv": 1 - probability},
        malignant_probability=probability,
        malignant_interval=[probability / 2, probability],
        band="high",
    )


def test_the_assessments_read_is_triages_assessments_for(world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW, lesions=[DEFAULT_LESION] * 2)
    for n, image in enumerate(
        LesionImage.objects.filter(lesion__referral=referral).order_by("-pk")
    ):
        _assess(image, 0.1 + n / 10)
    expected = assessments_for(referral)
    for _ in range(2):
        got = _assessments_of(referral)
        assert [_values(a) for a in got] == [_values(a) for a in expected] and len(got) == 6
        assert [(_values(a.image), _values(a.image.lesion)) for a in got] == [
            (_values(a.image), _values(a.image.lesion)) for a in expected
        ]
    assert _assessments_of(make_referral(world, state=State.AWAITING_REVIEW)) == []


def test_image_urls_are_what_reverse_gives(world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    for image in LesionImage.objects.filter(lesion__referral=referral):
        assert image_urls(image.media_key) == {
            v: reverse("image-version", args=[image.media_key, v]) for v in IMAGE_VERSIONS
        }


def test_the_review_page_reads_a_bounded_number_of_statements_and_audits_one_view(
    client: Client, world: World
) -> None:
    one = make_referral(world, state=State.AWAITING_REVIEW)
    three = make_referral(world, state=State.AWAITING_REVIEW, lesions=[DEFAULT_LESION] * 3)
    client.force_login(world.derek)
    counts = []
    for referral in (one, three):
        client.get(f"/referrals/{referral.pk}/")  # the session and per-process reads settle
        before = AuditEvent.objects.filter(action="referral.view", object_id=str(referral.pk))
        seen = before.count()
        with CaptureQueriesContext(connection) as queries:
            page = client.get(f"/referrals/{referral.pk}/")
        assert page.status_code == 200
        assert before.count() == seen + 1  # one audited view per request
        sql = [q["sql"] for q in queries.captured_queries]
        counts.append(len(sql))
        # Photos, lesions and messages are read once each, whatever the number of lesions.
        assert sum('FROM "imaging_lesionimage"' in s and "lesion_id" in s for s in sql) <= 1 + len(
            referral.lesions.all()
        )  # ready photos once; earlier photos once per lesion (imaging.reads.earlier_images)
        assert sum(s.lstrip().startswith('SELECT "referrals_lesion"') for s in sql) == 1
        assert sum('FROM "referrals_message"' in s for s in sql) == 1
        assert sum('FROM "accounts_membership"' in s for s in sql) == 1
        html = page.content.decode()
        for image in LesionImage.objects.filter(lesion__referral=referral, status="ready"):
            assert f"/images/{image.media_key}/viewer/" in html
    # Two more lesions: only the earlier-photos read per lesion is added.
    assert counts[1] - counts[0] <= 2
