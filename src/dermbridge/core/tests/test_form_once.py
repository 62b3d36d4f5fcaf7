"""Web forms against double submission: a one-time hidden token that the POST consumes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client, override_settings

from dermbridge.core.models import IdempotencyKey, KeyKind, KeyState
from dermbridge.referrals.models import Message, Referral, State
from dermbridge.testing import World, make_referral
from dermbridge.web.tests.test_referring import new_referral_form

TOKEN = re.compile(r'name="_once" value="([A-Za-z0-9_-]+)"')
TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates" / "web"


def tokens(html: str) -> list[str]:
    return TOKEN.findall(html)


def test_every_state_changing_form_carries_a_fresh_token(client: Client, world: World) -> None:
    client.force_login(world.alice)
    page = client.get("/referrals/new/").content.decode()
    first = tokens(page)
    assert len(first) == 1
    assert tokens(client.get("/referrals/new/").content.decode()) != first
    draft = make_referral(world)
    edit = tokens(client.get(f"/referrals/{draft.pk}/edit/").content.decode())
    assert len(edit) == len(set(edit)) >= 1  # one per form, each its own
    # Every POST form of the web templates has it, except signing in and out and two-factor.
    for template in TEMPLATES.glob("*.html"):
        for form in re.findall(r'<form[^>]*method="post"[^>]*>[^\n]*', template.read_text()):
            if any(word in form for word in ("logout", "login", "photo-keep")):
                continue
            if template.name in ("login.html", "two_factor.html"):
                continue
            assert "{% once_token %}" in form, (template.name, form)


def test_a_new_referral_sent_twice_is_made_once_and_both_go_to_it(
    client: Client, world: World
) -> None:
    client.force_login(world.alice)
    token = tokens(client.get("/referrals/new/").content.decode())[0]
    form = {**new_referral_form(world), "_once": token}
    first = client.post("/referrals/new/", form)
    assert first.status_code == 302, first.content
    second = client.post("/referrals/new/", form)
    assert second.status_code == 302
    assert second["Location"] == first["Location"]
    assert Referral.objects.count() == 1
    assert "acted on once" in client.get(second["Location"]).content.decode()
    row = IdempotencyKey.objects.get()
    assert (row.kind, row.state, row.user) == (KeyKind.FORM, KeyState.DONE, world.alice)
    # The same form without a token (an old page, no JavaScript needed) works as before.
    assert client.post("/referrals/new/", new_referral_form(world)).status_code == 302
    assert Referral.objects.count() == 2


def test_a_double_clicked_workflow_button_acts_once(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.derek)
    page = client.get("/worklist/").content.decode()
    assert tokens(page)
    url = f"/referrals/{referral.pk}/act/claim/"
    answers = [client.post(url, {"_once": "claim-token-0123456789"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [302, 302]
    assert answers[0]["Location"] == answers[1]["Location"]
    assert Referral.objects.get(pk=referral.pk).state == State.IN_REVIEW
    messages = [
        client.post(
            f"/referrals/{referral.pk}/messages/",
            {"text": "Please send a dermoscopic photo", "_once": "message-token-0123456789"},
        )
        for _ in range(3)
    ]
    assert {m.status_code for m in messages} == {302}
    assert Message.objects.filter(referral=referral).count() == 1


@override_settings(IDEMPOTENCY_FORM_WAIT_SECONDS=0)
@pytest.mark.django_db(transaction=True)
def test_a_second_post_while_the_first_is_running_gets_a_page_saying_so(
    client: Client, settings
) -> None:
    """The first POST is running its view (it holds its claim's row lock, in another connection)
    for longer than a double click waits: the second gets a page saying so. PostgreSQL only."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs a second connection holding a row lock (make test-pg)")
    import threading

    from dermbridge.core.models import IdempotencyKey
    from dermbridge.testing import make_world

    settings.IDEMPOTENCY_FORM_WAIT_SECONDS = 1
    world = make_world()
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.derek)
    url = f"/referrals/{referral.pk}/act/claim/"
    token = "running-token-0123456789"
    from dermbridge.core import idempotency

    claimed = idempotency.claim(
        world.derek,
        f"form:{token}",
        method="POST",
        path=url,
        fingerprint=idempotency.fingerprint("POST", url, "", b""),
        kind=KeyKind.FORM,
    )
    assert claimed.row is not None
    pk = claimed.row.pk
    locked, release = threading.Event(), threading.Event()

    def first_post_running() -> None:
        from django.db import connections, transaction

        try:
            with transaction.atomic():
                IdempotencyKey.objects.select_for_update().get(pk=pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=first_post_running)
    holder.start()
    try:
        assert locked.wait(30)
        response = client.post(url, {"_once": token}, HTTP_REFERER="http://testserver/worklist/")
    finally:
        release.set()
        holder.join(30)
    assert response.status_code == 409
    body = response.content.decode()
    assert "still being dealt with" in body and 'href="http://testserver/worklist/"' in body
    assert Referral.objects.get(pk=referral.pk).state == State.AWAITING_REVIEW


def test_a_form_answered_with_errors_may_be_sent_again_with_the_same_token(
    client: Client, world: World
) -> None:
    """Only the redirect after success is kept: a page of errors changed nothing."""
    client.force_login(world.alice)
    token = "errors-token-0123456789"
    bad = client.post(
        "/referrals/new/",
        {**new_referral_form(world, **{"patient-nhs_number": "9434765918"}), "_once": token},
    )
    assert bad.status_code in (200, 400)
    assert not IdempotencyKey.objects.exists()
    good = client.post("/referrals/new/", {**new_referral_form(world), "_once": token})
    assert good.status_code == 302
    assert Referral.objects.count() == 1
