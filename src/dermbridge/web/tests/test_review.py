"""The dermatology side: worklist, review page, outcome, messages; and the referrer's view of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.referrals.models import Outcome, Referral, ReferralKind, State
from dermbridge.testing import World, make_referral
from dermbridge.triage.models import Assessment
from dermbridge.web.tests.outcome_support import outcome_post

OUTCOME = {
    "diagnosis_code": "400182000",
    "management_plan": "Monitor; photograph again in 3 months.",
    "advice_to_referrer": "Benign naevus. Safety-net for change in size or colour.",
    "patient_explanation": "This is a harmless mole.",
    "pathway_decision": "discharge",
}


def test_it_walks_a_dermatologist_from_worklist_to_outcome(client: Client, world: World) -> None:
    """GIVEN a referral waiting at City Hospital WHEN derek opens the worklist, starts the
    review and records a discharge outcome THEN the referral is triaged, and alice sees the
    advice on her referral page."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.derek)
    worklist = client.get("/worklist/").content.decode()
    assert referral.reference in worklist and str(referral.patient) in worklist

    assert f'action="/referrals/{referral.pk}/act/claim/"' in worklist
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Start review" in page and referral.patient.formatted_nhs_number in page
    viewed = AuditEvent.objects.filter(action="referral.view", object_id=str(referral.pk))
    assert viewed.filter(actor_id=world.derek.pk).exists()  # every read of the case is audited
    assert client.post(f"/referrals/{referral.pk}/act/claim/").status_code == 302
    # Release from the worklist, then claim again.
    assert (
        f'action="/referrals/{referral.pk}/act/release/"'
        in client.get("/worklist/").content.decode()
    )
    released = client.post(f"/referrals/{referral.pk}/act/release/")
    assert released["Location"] == "/worklist/"
    referral.refresh_from_db()
    assert referral.state == State.AWAITING_REVIEW and referral.claimed_by is None
    client.post(f"/referrals/{referral.pk}/act/claim/")
    referral.refresh_from_db()
    assert referral.state == State.IN_REVIEW and referral.claimed_by == world.derek

    # The outcome form is on the review page, beside the photos; the old address leads there.
    form = client.get(f"/referrals/{referral.pk}/outcome/")
    assert form.status_code == 302 and form["Location"] == f"/referrals/{referral.pk}/#outcome"
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert 'id="outcome"' in page and "Melanocytic naevus" in page and "db-viewer" in page
    assert page.index("db-viewer") < page.index('id="outcome"') < page.index('id="question"')
    response = client.post(f"/referrals/{referral.pk}/outcome/", outcome_post(referral, OUTCOME))
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == State.TRIAGED
    assert referral.outcome.recorded_by == world.derek

    client.force_login(world.alice)
    seen = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Benign naevus. Safety-net for change in size or colour." in seen
    assert "Discharge with advice" in seen
    assert "Start review" not in seen


def test_it_refuses_an_incomplete_outcome_and_saves_nothing(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    response = client.post(
        f"/referrals/{referral.pk}/outcome/",
        outcome_post(referral, {**OUTCOME, "diagnosis_code": "", "pathway_decision": "advice"}),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "There is a problem" in body
    assert 'href="#id_lesion-1-diagnosis_code"' in body
    assert 'href="#id_pathway_decision"' in body
    assert not Outcome.objects.filter(referral=referral).exists()
    referral.refresh_from_db()
    assert referral.state == State.IN_REVIEW


def test_it_gives_advice_on_an_advice_request_and_the_gp_reads_it(
    client: Client, world: World
) -> None:
    referral = make_referral(world, state=State.IN_REVIEW, kind=ReferralKind.ADVICE)
    client.force_login(world.derek)
    response = client.post(
        f"/referrals/{referral.pk}/outcome/",
        outcome_post(referral, {**OUTCOME, "pathway_decision": "advice"}),
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == State.ADVICE_GIVEN
    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Benign naevus" in page and ">Close<" in page


def test_it_asks_for_more_information_and_the_gp_replies(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    empty = client.post(f"/referrals/{referral.pk}/do/request_info/", {"text": ""})
    # The error names its field and says what to do (issue #9), not "This field is required".
    assert empty.status_code == 200 and "What do you need to know: enter text" in (
        empty.content.decode()
    )
    client.post(f"/referrals/{referral.pk}/do/request_info/", {"text": "Any bleeding?"})
    referral.refresh_from_db()
    assert referral.state == State.MORE_INFO_REQUESTED

    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Any bleeding?" in page
    client.post(f"/referrals/{referral.pk}/do/reply_info/", {"text": "No bleeding."})
    referral.refresh_from_db()
    assert referral.state == State.AWAITING_REVIEW


def test_it_lets_only_the_referrer_withdraw(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.derek)
    refused = client.post(f"/referrals/{referral.pk}/do/withdraw/", {"text": "Not needed"})
    assert refused.status_code == 403
    assert "Only the referrer can withdraw referral" in refused.content.decode()
    client.force_login(world.alice)
    client.post(f"/referrals/{referral.pk}/do/withdraw/", {"text": "Patient declined"})
    referral.refresh_from_db()
    assert referral.state == State.WITHDRAWN


def test_it_records_when_a_usc_patient_was_told(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.TRIAGED, kind=ReferralKind.URGENT_CANCER)
    Referral.objects.filter(pk=referral.pk).update(submitted_at=timezone.now() - timedelta(days=9))
    client.force_login(world.derek)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Record when the patient was told" in page
    told = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/referrals/{referral.pk}/do/patient_told/", {"told_at": told, "method": "telephone"}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.patient_told_at is not None and referral.patient_told_method == "telephone"
    client.post(f"/referrals/{referral.pk}/act/close/")
    referral.refresh_from_db()
    assert referral.state == State.CLOSED


def test_it_shares_messages_between_practice_and_service(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.alice)
    client.post(f"/referrals/{referral.pk}/messages/", {"text": "Patient is anxious."})
    client.force_login(world.derek)
    assert "Patient is anxious." in client.get(f"/referrals/{referral.pk}/").content.decode()


def test_it_shows_the_ai_panel_to_the_service_only(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    image = referral.lesions.get().images.get(image_type="dermoscopic")
    Assessment.objects.create(
        image=image,
        model_version="test-1",
        input_sha256="0" * 64,
        probabilities={"mel": 0.55, "bcc": 0.15, "nv": 0.3},
        malignant_probability=0.7,
        malignant_interval=[0.55, 0.82],
        band="high",
    )
    client.force_login(world.derek)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "For a clinician to confirm." in page
    assert "70%</span> chance of cancer or pre-cancer, likely between 55% and 82%" in page
    # Plain clinical names, never the dataset codes; malignant classes say so in words.
    assert 'Melanoma <strong class="db-ai__cancer">(cancer or pre-cancer)</strong>' in page
    assert "Melanocytic naevus (mole)" in page and ">mel<" not in page and "nv:" not in page
    assert 'nhsuk-tag--red">High risk</strong>' in page and "High: scored above 9 in 10" in page
    client.force_login(world.alice)
    assert "AI reading" not in client.get(f"/referrals/{referral.pk}/").content.decode()


def test_it_filters_the_worklist_by_pathway_and_target(client: Client, world: World) -> None:
    usc = make_referral(world, state=State.AWAITING_REVIEW, kind=ReferralKind.URGENT_CANCER)
    routine = make_referral(world, state=State.AWAITING_REVIEW)
    Referral.objects.filter(pk=routine.pk).update(due_at=timezone.now() - timedelta(hours=1))
    client.force_login(world.derek)
    page = client.get("/worklist/").content.decode()
    assert page.index(usc.reference) < page.index(routine.reference)  # USC first
    assert "Past target" in page
    only_usc = client.get("/worklist/?kind=usc").content.decode()
    assert usc.reference in only_usc and routine.reference not in only_usc
    breached = client.get("/worklist/?breach=breached").content.decode()
    assert routine.reference in breached and usc.reference not in breached
    # By AI band, shown as a badge with the chance in words.
    Referral.objects.filter(pk=routine.pk).update(ai_band="high", ai_risk=0.62)
    high = client.get("/worklist/?ai_band=high").content.decode()
    assert routine.reference in high and usc.reference not in high
    assert 'nhsuk-tag--red">High risk</strong>' in high
    assert "62% chance of cancer or pre-cancer" in high
    # Its dermoscopic photo not read by the AI yet: not "no dermoscopic photo".
    unassessed = client.get("/worklist/?ai_band=pending").content.decode()
    assert usc.reference in unassessed and routine.reference not in unassessed
    assert 'nhsuk-tag--white">Not assessed by the AI yet</strong>' in unassessed


def test_it_keeps_the_worklist_query_count_flat(
    client: Client, world: World, django_assert_max_num_queries: object
) -> None:
    """The number of queries does not grow with the number of cases on the page."""
    client.force_login(world.derek)
    make_referral(world, state=State.AWAITING_REVIEW)
    # A first page touches the new session (written once a minute) and renders the filter
    # form once per process: both measured pages below are the steady state.
    client.get("/worklist/")
    with django_assert_max_num_queries(20) as small:  # type: ignore[operator]
        client.get("/worklist/")
    for _ in range(4):
        make_referral(world, state=State.AWAITING_REVIEW, kind=ReferralKind.URGENT_CANCER)
    with django_assert_max_num_queries(len(small.captured_queries)) as large:  # type: ignore[operator]
        page = client.get("/worklist/")
    assert page.content.decode().count("/referrals/") >= 5
    assert len(large.captured_queries) == len(small.captured_queries)


REVIEW_PAGES = [
    ("get", "/referrals/{pk}/"),
    ("post", "/referrals/{pk}/act/claim/"),
    ("post", "/referrals/{pk}/act/close/"),
    ("get", "/referrals/{pk}/outcome/"),
    ("post", "/referrals/{pk}/outcome/"),
    ("get", "/referrals/{pk}/do/request_info/"),
    ("post", "/referrals/{pk}/do/request_info/"),
    ("post", "/referrals/{pk}/do/withdraw/"),
    ("post", "/referrals/{pk}/do/patient_told/"),
    ("post", "/referrals/{pk}/messages/"),
]


def test_it_hides_a_referral_from_another_service_and_practice(
    client: Client, world: World
) -> None:
    """GIVEN a referral from Riverside to City Hospital WHEN dora (County Dermatology) or bob
    (Hillview) open or post to any of its pages THEN each gets 404 with no patient data."""
    referral = make_referral(world, state=State.AWAITING_REVIEW, kind=ReferralKind.URGENT_CANCER)
    for method, path in REVIEW_PAGES:
        url = path.format(pk=referral.pk)
        for outsider in (world.dora, world.bob):
            client.force_login(outsider)
            response = getattr(client, method)(url, {**OUTCOME, "text": "hello"})
            assert response.status_code == 404, (outsider, url)
            body = response.content.decode()
            assert referral.patient.family_name not in body
            assert referral.patient.nhs_number not in body
    referral.refresh_from_db()
    assert referral.state == State.AWAITING_REVIEW and not referral.messages.exists()
    # Each refusal is logged as a denied access, and nothing else about the case.
    outsiders = AuditEvent.objects.filter(
        actor_id__in=[world.dora.pk, world.bob.pk], object_id=str(referral.pk)
    )
    assert set(outsiders.values_list("action", flat=True)) == {"access.denied"}
    assert outsiders.count() == 2 * len(REVIEW_PAGES)


def test_it_keeps_another_services_cases_off_the_worklist(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.dora)
    body = client.get("/worklist/").content.decode()
    assert referral.reference not in body and referral.patient.family_name not in body
    assert client.get(f"/worklist/?service={world.service.pk}").status_code == 404
    client.force_login(world.alice)
    assert client.get("/worklist/").status_code == 404
    client.force_login(world.sam)  # the service administrator sees the service's cases
    page = client.get("/worklist/").content.decode()
    assert referral.reference in page
    assert 'href="/dashboard/"' in page


def test_it_converts_an_advice_request_to_an_urgent_referral(client: Client, world: World) -> None:
    """GIVEN derek reviewing an A&G request WHEN he converts it to urgent suspected cancer
    THEN it is back on the worklist as USC with a new clock."""
    referral = make_referral(world, state=State.IN_REVIEW, kind=ReferralKind.ADVICE)
    client.force_login(world.derek)
    assert "Convert to a referral" in client.get(f"/referrals/{referral.pk}/").content.decode()
    response = client.post(
        f"/referrals/{referral.pk}/do/convert/", {"to_kind": "usc", "text": "Needs biopsy"}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == State.CONVERTED and referral.kind == ReferralKind.URGENT_CANCER


def test_it_lets_only_the_referrer_downgrade_a_usc_referral(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW, kind=ReferralKind.URGENT_CANCER)
    client.force_login(world.derek)
    assert "Downgrade referral" not in client.get(f"/referrals/{referral.pk}/").content.decode()
    refused = client.post(
        f"/referrals/{referral.pk}/do/downgrade/", {"to_kind": "ras", "text": "Looks benign"}
    )
    assert refused.status_code == 403
    client.force_login(world.alice)
    assert "Downgrade referral" in client.get(f"/referrals/{referral.pk}/").content.decode()
    missing = client.post(f"/referrals/{referral.pk}/do/downgrade/", {"to_kind": "ras"})
    assert missing.status_code == 200 and 'href="#id_text"' in missing.content.decode()
    client.post(f"/referrals/{referral.pk}/do/downgrade/", {"to_kind": "ras", "text": "Benign"})
    referral.refresh_from_db()
    assert referral.kind == ReferralKind.TRIAGE


def test_service_staff_send_images_to_the_pacs_from_the_referral_page(
    client: Client, world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a sent referral with processed images and a PACS configured
    WHEN derek (the service) presses "Send the images to the PACS"
    THEN the send is queued for the worker, audited, and the page says so; the GP sees no
    such button and cannot post it; another service gets 404 and nothing is queued."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    url = f"/referrals/{referral.pk}/pacs/"
    client.force_login(world.derek)
    # No PACS configured: nothing to offer.
    assert (
        "Send the images to the PACS"
        not in client.get(f"/referrals/{referral.pk}/").content.decode()
    )
    settings.PACS_HOST = "127.0.0.1"
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Not sent to the PACS yet" in page and f'action="{url}"' in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url)
    assert response.status_code == 302 and response["Location"].endswith("#pacs")
    assert len(callbacks) == 1  # the send itself is the worker's job
    queued = AuditEvent.objects.filter(
        action="interop.pacs_send_queued", object_id=str(referral.pk)
    )
    assert queued.filter(actor_id=world.derek.pk).count() == 1
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Queued for sending to the PACS" in page and "Send the images again" in page

    for outsider, status in ((world.alice, 403), (world.dora, 404)):
        client.force_login(outsider)
        if outsider == world.alice:
            assert (
                f'action="{url}"' not in client.get(f"/referrals/{referral.pk}/").content.decode()
            )
        assert client.post(url).status_code == status
    assert queued.count() == 1


def test_it_explains_a_pacs_send_it_cannot_make(client: Client, world: World) -> None:
    """A form posted when no PACS is configured (the button is not shown then) gets the reason
    on the page and queues nothing."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.derek)
    response = client.post(f"/referrals/{referral.pk}/pacs/", follow=True)
    assert response.status_code == 200
    assert "No PACS is configured" in response.content.decode()
    assert not AuditEvent.objects.filter(action="interop.pacs_send_queued").exists()
