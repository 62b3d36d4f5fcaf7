"""Nothing lost on the draft pages (issue #9): the fast siblings of the browser tests."""

from __future__ import annotations

from typing import Any

from django.test import Client

from dermbridge.audit.models import AuditEvent
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import DEFAULT_HISTORY, DEFAULT_LESION, World, make_referral
from dermbridge.web.tests.test_permission_rules import _history_post


def _page(referral: Referral, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": referral.kind,
        "clinical_question": referral.clinical_question,
        **_history_post(**{k: str(v) for k, v in DEFAULT_HISTORY.items()}),
    }
    data.update(changes)
    return data


def test_send_saves_what_was_typed_first(client: Client, world: World) -> None:
    """GIVEN alice's complete draft WHEN she changes the question and presses Send (op=send)
    THEN the new question is saved and the referral is sent with it."""
    referral = make_referral(world)
    client.force_login(world.alice)
    response = client.post(
        f"/referrals/{referral.pk}/edit/", _page(referral, clinical_question="New", op="send")
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == State.SUBMITTED and referral.clinical_question == "New"


def test_send_that_cannot_go_still_saves_and_says_why(client: Client, world: World) -> None:
    referral = make_referral(world, images=False)
    client.force_login(world.alice)
    response = client.post(
        f"/referrals/{referral.pk}/submit/", _page(referral, clinical_question="Kept")
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your changes were saved, but it was not sent yet." in page
    assert "add overview" in page.lower() or "photo" in page.lower()
    referral.refresh_from_db()
    assert referral.state == State.DRAFT and referral.clinical_question == "Kept"


def test_an_invalid_answer_saves_nothing_and_keeps_the_typing(client: Client, world: World) -> None:
    referral = make_referral(world, images=False)
    client.force_login(world.alice)
    data = _page(referral, clinical_question="Typed", **{"history-onset": "nonsense"})
    response = client.post(f"/referrals/{referral.pk}/edit/", {**data, "op": "send"})
    assert response.status_code == 200
    assert "Typed" in response.content.decode()
    referral.refresh_from_db()
    assert referral.clinical_question != "Typed" and referral.state == State.DRAFT


def test_delete_asks_first(client: Client, world: World) -> None:
    referral = make_referral(world)
    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/delete/")
    assert page.status_code == 200 and "Yes, delete this draft" in page.content.decode()
    assert client.post(f"/referrals/{referral.pk}/delete/").status_code == 200  # asks again
    assert Referral.objects.filter(pk=referral.pk).exists()
    done = client.post(f"/referrals/{referral.pk}/delete/", {"confirm": "yes"})
    assert done.status_code == 302 and not Referral.objects.filter(pk=referral.pk).exists()


def test_a_lesion_is_changed_and_removed_on_a_draft(client: Client, world: World) -> None:
    second = {**DEFAULT_LESION, "body_site_code": "45206002", "laterality": ""}
    referral = make_referral(world, lesions=[DEFAULT_LESION, second])
    first = referral.lesions.get(number=1)
    client.force_login(world.alice)
    response = client.post(
        f"/referrals/{referral.pk}/lesions/{first.pk}/change/",
        {"lesion-body_site_code": "77568009", "lesion-laterality": "right", "lesion-size_mm": "8"},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.laterality, str(first.size_mm)) == ("right", "8.0")
    assert AuditEvent.objects.filter(action="lesion.update").exists()
    assert (
        "Remove lesion 1?"
        in client.get(f"/referrals/{referral.pk}/lesions/{first.pk}/remove/").content.decode()
    )
    client.post(f"/referrals/{referral.pk}/lesions/{first.pk}/remove/", {"confirm": "yes"})
    assert list(referral.lesions.values_list("number", "body_site_code")) == [(1, "45206002")]
    assert AuditEvent.objects.filter(action="lesion.delete").exists()
    sent = make_referral(world, state=State.AWAITING_REVIEW)
    lesion = sent.lesions.get()
    refused = client.post(f"/referrals/{sent.pk}/lesions/{lesion.pk}/remove/", {"confirm": "yes"})
    assert refused.status_code == 302 and sent.lesions.count() == 1


def test_a_form_posted_after_the_session_ended_comes_back_unsaved(
    client: Client, world: World
) -> None:
    """GIVEN alice's session has ended WHEN her draft page's Save arrives THEN she is sent to
    sign in, and after signing in the page shows what she typed, unsaved, until she saves."""
    referral = make_referral(world)
    path = f"/referrals/{referral.pk}/edit/"
    response = client.post(path, _page(referral, clinical_question="Typed late", op="save"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(world.alice)  # keeps the session's data, as signing in does
    page = client.get(path).content.decode()
    assert "Not saved yet" in page and "Typed late" in page
    referral.refresh_from_db()
    assert referral.clinical_question != "Typed late"
    assert "Typed late" not in client.get(path).content.decode()  # shown once
