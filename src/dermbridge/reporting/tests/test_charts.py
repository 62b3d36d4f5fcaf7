"""The SVG charts are well-formed, self-describing images styled without style attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

from dermbridge.reporting import charts
from dermbridge.reporting.metrics import FasterDiagnosis, WeekCounts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own generated markup
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert "style" not in svg  # the content security policy forbids inline styles
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    return root


def test_it_draws_one_stacked_segment_per_pathway_and_week() -> None:
    weeks = [
        WeekCounts(date(2026, 11, 2), advice=2, triage=1, urgent_cancer=2),
        WeekCounts(date(2026, 11, 9), advice=0, triage=3, urgent_cancer=0),
        WeekCounts(date(2026, 11, 9) + timedelta(weeks=1)),
    ]
    root = _parse(charts.weekly_referrals_chart(weeks))
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text == (
        "3 weeks, 8 referrals in all. Busiest week starting 02 Nov 2026: 5."
    )
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    labels = [r.find(f"{SVG}title").text for r in bars]  # type: ignore[union-attr]
    assert labels == [
        "Week starting 02 Nov: 2 A&G",
        "Week starting 02 Nov: 1 RAS",
        "Week starting 02 Nov: 2 USC",
        "Week starting 09 Nov: 3 RAS",
    ]
    assert {r.get("fill") for r in bars} == set(charts.KIND_COLOURS.values())


def test_it_draws_fds_against_both_targets_and_says_when_there_is_no_data() -> None:
    root = _parse(charts.fds_bullet_chart(FasterDiagnosis(9, 1, 2, 4, national_target=0.8)))
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "National 80%" in text and "Skin 90%" in text and "75%" in text
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text is not None
    assert desc.text.startswith("75% told within 28 days (9 of 12); national target 80%")
    empty = _parse(charts.fds_bullet_chart(FasterDiagnosis(0, 0, 0, 3, national_target=0.8)))
    assert "No data yet" in " ".join(t.text or "" for t in empty.iter(f"{SVG}text"))
