"""The worklist's page (referrals.worklists.review_worklist): the same rows and count as
Django's Paginator.get_page for any page asked, without the COUNT query when page 1 is not full."""

from __future__ import annotations

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dermbridge.imaging.models import ImageType
from dermbridge.referrals import worklists
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import World, make_referral


def _page(
    world: World, page: str | None, **filters: object
) -> tuple[list[int], int, int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        shown = worklists.review_worklist(
            world.derek,
            world.service,
            worklists.WorklistFilters(**filters),  # type: ignore[arg-type]
            page=page,
            photo_type=ImageType.DERMOSCOPIC,
        )
    return (
        [r.pk for r in shown.object_list],
        shown.paginator.count,
        shown.number,
        [q["sql"] for q in queries],
    )


def test_every_page_is_the_paginators_page(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worklists, "PAGE_SIZE", 2)
    for _ in range(3):
        make_referral(world, state=State.AWAITING_REVIEW)
    ordered = Referral.objects.worklist(world.service.pk)
    for page in (None, "", "1", "2", "9", "abc", "0"):
        expected = Paginator(ordered, 2).get_page(page)
        pks, count, number, sql = _page(world, page)
        assert pks == [r.pk for r in expected.object_list], page
        assert (count, number) == (3, expected.number)
        assert any("COUNT(" in q for q in sql)  # page 1 is full here: the count is asked


def test_a_first_page_that_is_not_full_is_counted_without_a_count_query(world: World) -> None:
    make_referral(world, state=State.AWAITING_REVIEW)
    pks, count, number, sql = _page(world, None)
    assert (len(pks), count, number) == (1, 1, 1)
    assert not any("COUNT(" in q for q in sql)
    assert _page(world, None, kind="usc")[:3] == ([], 0, 1)  # an empty list is page 1 of 0
