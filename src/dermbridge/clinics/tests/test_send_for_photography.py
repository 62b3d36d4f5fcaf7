"""The dermatology service sends a referral already sent to it to a hub for better photographs
(issue #13 item 2): the reviewing dermatologist only, with a reason; the case joins the hub's
booking list, the referrer and the patient are told; everyone else is refused and recorded."""

from __future__ import annotations

from django.test import Client

from dermbridge.accounts.models import Role
from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import reads
from dermbridge.clinics.tests.support import make_hub, other_hub
from dermbridge.notifications.models import OutboxMessage
from dermbridge.referrals.models import Message, MessageKind, Referral, State
from dermbridge.testing import World, make_referral, make_user


def page(referral: Referral) -> str:
    return f"/hubs/photography/{referral.pk}/"


def test_the_reviewing_dermatologist_sends_a_case_to_a_hub(client: Client, world: World) -> None:
    h = make_hub(world)
    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    review = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert page(referral) in review  # the review page links to it
    form = client.get(page(referral))
    assert form.status_code == 200 and h.hub.name in form.content.decode()
    assert AuditEvent.objects.filter(
        action="clinics.send_for_photography.view", object_id=str(referral.pk)
    ).exists()
    # A reason is needed; the hub chosen is kept.
    refused = client.post(page(referral), {"hub": h.hub.pk, "reason": "  "})
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "Say what the hub should photograph better" in text
    assert f'value="{h.hub.pk}" checked' in text
    referral.refresh_from_db()
    assert referral.state == State.IN_REVIEW and referral.imaging_hub is None
    done = client.post(
        page(referral), {"hub": h.hub.pk, "reason": "Dermoscopy of the left edge is blurred"}
    )
    assert done.status_code == 302 and done["Location"] == f"/referrals/{referral.pk}/"
    referral.refresh_from_db()
    assert referral.state == State.MORE_INFO_REQUESTED and referral.imaging_hub == h.hub
    message = Message.objects.get(referral=referral)
    assert message.kind == MessageKind.INFO_REQUEST and "left edge is blurred" in message.body
    assert AuditEvent.objects.filter(action="referral.sent_to_hub").exists()
    waiting = [w.referral.pk for w in reads.booking_list(h.admin, h.hub)]
    assert referral.pk in waiting
    # The patient is told in plain English; the referrer as for any request for information.
    told = OutboxMessage.objects.filter(event="sent_for_photography")
    assert told.count() == 1 and h.hub.name in told.get().body
    assert OutboxMessage.objects.filter(
        event="info_requested", recipient=referral.referrer.email.lower()
    ).exists()


def test_nobody_else_may_send_it(client: Client, world: World) -> None:
    h = make_hub(world)
    referral = make_referral(world, state=State.IN_REVIEW)  # claimed by derek
    _hub_b, pia, olga = other_hub(world)
    others = [
        (world.alice, 403),  # the referrer sees it, may not send it
        (world.bob, 404),  # another practice
        (world.dora, 404),  # another service
        (world.sam, 403),  # the service's administrator, not the reviewer
        (make_user("dan", world.service, Role.DERMATOLOGIST), 403),  # not the reviewer
        (h.photographer, 404),  # the hub does not see it yet
        (h.admin, 404),
        (pia, 404),
        (olga, 404),
    ]
    for user, expected in others:
        client.force_login(user)
        for method in ("get", "post"):
            response = getattr(client, method)(page(referral), {"hub": h.hub.pk, "reason": "x"})
            assert response.status_code == expected, (user, method, response.status_code)
            assert AuditEvent.objects.filter(
                action="access.denied", request_id=response["X-Request-ID"]
            ).exists()
            assert referral.patient.nhs_number not in response.content.decode()
    client.logout()
    assert client.get(page(referral)).status_code == 302
    referral.refresh_from_db()
    assert referral.state == State.IN_REVIEW and referral.imaging_hub is None
    assert not Message.objects.filter(referral=referral).exists()
    # Not a hub: refused with the field named.
    client.force_login(world.derek)
    wrong = client.post(page(referral), {"hub": world.practice_a.pk, "reason": "x"})
    assert wrong.status_code == 400 and "Choose the imaging hub" in wrong.content.decode()
