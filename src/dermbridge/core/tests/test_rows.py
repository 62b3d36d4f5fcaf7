"""core.rows.read_one gives the objects the ORM's select_related query gives, field for field."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dermbridge.core.rows import read_one, read_values
from dermbridge.imaging.models import LesionImage
from dermbridge.referrals.models import Lesion, Referral, State
from dermbridge.testing import World, make_referral


def _values(obj: object) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}  # type: ignore[attr-defined]


def test_it_reads_the_row_and_its_related_rows_as_the_orm_does(world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    for image in LesionImage.objects.filter(lesion__referral=referral):
        expected = LesionImage.objects.select_related("lesion__referral").get(pk=image.pk)
        with CaptureQueriesContext(connection) as queries:
            got = read_one(LesionImage, ("lesion", "referral"), "media_key", image.media_key)
            assert got is not None
            lesion, its_referral = got.lesion, got.lesion.referral  # cached: no more queries
        assert len(queries) == 1
        assert _values(got) == _values(expected)  # JSON, datetimes, choices converted alike
        assert _values(lesion) == _values(expected.lesion)
        assert _values(its_referral) == _values(expected.lesion.referral)
        assert type(got.derivatives) is dict and got.derivatives
        assert its_referral.created_at.tzinfo is not None
        assert not got._state.adding and got._state.db == "default"
        got.save(update_fields=["status"])  # a normal instance: it saves


def test_it_answers_none_for_an_unknown_key(world: World) -> None:
    make_referral(world, state=State.AWAITING_REVIEW)
    assert read_one(LesionImage, ("lesion", "referral"), "media_key", "no-such-key-here") is None


def test_it_refuses_a_field_that_is_not_unique_or_a_nullable_path(db: None) -> None:
    with pytest.raises(ValueError, match="not unique"):
        read_one(Lesion, ("referral",), "laterality", "left")
    with pytest.raises(ValueError, match="non-null foreign key"):
        read_one(Referral, ("claimed_by",), "reference", "DB-AAAAAAA")


def test_read_values_gives_the_rows_values_list_gives(world: World) -> None:
    from dermbridge.accounts.models import Membership

    for user in world.users():
        expected = list(Membership.objects.filter(user=user).values_list("role", "organisation_id"))
        got = read_values(Membership, ("role", "organisation_id"), "user", user.pk)
        assert sorted(got) == sorted(expected) and expected
        assert sorted(user.held_roles()) == sorted(expected)


def test_read_prepared_gives_the_objects_the_queryset_gives(world: World) -> None:
    from django.db.models import Exists, OuterRef

    from dermbridge.core.rows import read_prepared

    referrals = [make_referral(world, state=State.AWAITING_REVIEW) for _ in range(2)]
    Referral.objects.filter(pk=referrals[0].pk).update(claimed_by=world.derek)
    built = []

    def make():  # type: ignore[no-untyped-def]
        built.append(1)
        photos = Lesion.objects.filter(referral=OuterRef("pk"), images__image_type="dermoscopic")
        return (
            Referral.objects.filter(service=world.service)
            .select_related("patient", "claimed_by")
            .annotate(has_photo=Exists(photos))
            .order_by("pk")
        )

    expected = list(make())
    key = ("test", world.service.pk)
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            got = read_prepared(key, make)
            related = [(r.patient, r.claimed_by) for r in got]  # cached: no more queries
        assert len(queries) == 1
        assert [_values(r) for r in got] == [_values(r) for r in expected]
        assert [r.has_photo for r in got] == [r.has_photo for r in expected] == [True, True]
        assert [_values(p) for p, _ in related] == [_values(r.patient) for r in expected]
        assert [c and _values(c) for _, c in related] == [
            r.claimed_by and _values(r.claimed_by) for r in expected
        ]
        assert related[0][1] is not None and related[1][1] is None
    assert len(built) == 2  # once for `expected`, once for the key: then the compiled SQL
