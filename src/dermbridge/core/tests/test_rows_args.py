"""core.rows.read_prepared with arguments, read_prepared_values, and the review page's reads
built on them: the same objects and values as the ORM, the statement compiled once per key."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dermbridge.accounts.models import Membership, User
from dermbridge.core.rows import read_prepared, read_prepared_values
from dermbridge.referrals import reads
from dermbridge.referrals.models import Lesion, Referral, State
from dermbridge.testing import DEFAULT_LESION, World, make_referral


def _values(obj: object) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}  # type: ignore[attr-defined]


def test_read_prepared_with_args_runs_the_kept_statement_with_each_calls_arguments(
    world: World,
) -> None:
    referrals = [make_referral(world, state=State.AWAITING_REVIEW) for _ in range(2)]
    built = []

    def make(key: int):  # type: ignore[no-untyped-def]
        built.append(key)
        return Lesion.objects.filter(referral_id=key).select_related("referral").order_by("number")

    for referral in referrals * 2:
        with CaptureQueriesContext(connection) as queries:
            got = read_prepared(("test.args",), make, args=(referral.pk,))
            parents = [lesion.referral for lesion in got]  # cached: no more queries
        assert len(queries) == 1
        expected = list(make(referral.pk))
        assert [_values(x) for x in got] == [_values(x) for x in expected] and got
        assert [_values(p) for p in parents] == [_values(x.referral) for x in expected]
    # Compiled once (the first call), then once per `expected` above: never again for the key.
    assert built == [referrals[0].pk, referrals[0].pk, referrals[1].pk] + [r.pk for r in referrals]


def test_read_prepared_refuses_a_query_whose_parameters_are_not_the_arguments(
    world: World,
) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    with pytest.raises(ValueError, match="not the arguments"):
        read_prepared(
            ("test.args.mismatch",),
            lambda key: Lesion.objects.filter(referral_id=key, laterality="left"),
            args=(referral.pk,),
        )


def test_read_prepared_values_gives_what_values_list_gives(world: World) -> None:
    for user in world.users():
        query = Membership.objects.filter(user_id=user.pk).values_list(
            "role", "organisation_id", "organisation__kind"
        )
        got = read_prepared_values(
            ("test.values",),
            lambda key: Membership.objects.filter(user_id=key).values_list(
                "role", "organisation_id", "organisation__kind"
            ),
            args=(user.pk,),
        )
        assert sorted(got) == sorted(query) and got
    with pytest.raises(ValueError, match="not a values_list"):
        read_prepared_values(("test.values.model",), lambda: Lesion.objects.all())


def test_held_memberships_and_held_roles_are_one_read(world: World) -> None:
    for user in world.users():
        fresh = User.objects.get(pk=user.pk)
        with CaptureQueriesContext(connection) as queries:
            held = fresh.held_memberships()
            roles = fresh.held_roles()
            fresh.organisation_ids()
        assert len(queries) == 1
        expected = Membership.objects.filter(user=user)
        assert sorted(held) == sorted(
            (m.role, m.organisation_id, m.organisation.kind) for m in expected
        )
        assert sorted(roles) == sorted((m.role, m.organisation_id) for m in expected)
    assert User().held_roles() == []  # unsaved: no memberships, no query


def test_referral_for_review_reads_the_referral_its_history_and_answer_in_one_row(
    world: World,
) -> None:
    answered = make_referral(world, state=State.TRIAGED, lesions=[DEFAULT_LESION] * 2)
    waiting = make_referral(world, state=State.AWAITING_REVIEW)
    for referral in (answered, waiting):
        expected = Referral.objects.get(pk=referral.pk)
        with CaptureQueriesContext(connection) as queries:
            got = reads.referral_for_review(world.derek, referral.pk)
            assert got is not None
            patient, history = got.patient, got.history
            outcome = getattr(got, "outcome", None)
            recorded_by = outcome.recorded_by if outcome else None
        assert len(queries) == 1
        assert _values(got) == _values(expected)
        assert _values(patient) == _values(expected.patient)
        assert _values(history) == _values(expected.history)
        if referral is answered:
            assert outcome is not None and recorded_by == world.derek
            assert _values(outcome) == _values(expected.outcome)
        else:
            assert outcome is None
        # Lesions: one read, kept as referral.lesions.all()'s result, each with its referral.
        with CaptureQueriesContext(connection) as queries:
            lesions = reads.lesions_of(got)
            again = list(got.lesions.all())
            parents = {lesion.referral.pk for lesion in lesions}
        assert len(queries) == 1
        assert [_values(x) for x in lesions] == [_values(x) for x in expected.lesions.all()]
        assert again == lesions and parents == {referral.pk}
    # The rule of Referral.visible_to: another service's dermatologist and the other practice's
    # GP are answered None.
    assert reads.referral_for_review(world.dora, answered.pk) is None
    assert reads.referral_for_review(world.bob, answered.pk) is None
    assert reads.referral_for_review(world.alice, answered.pk) is not None
    assert reads.referral_for_review(world.derek, 10**9) is None
