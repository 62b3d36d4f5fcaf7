"""What the dermatologist is shown of the AI: an estimate always inside its own range, plain
names, risk colours with words, and "declined" never sorted as if it were low risk."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from dermbridge.triage import calibration, display
from dermbridge.triage.inference import DEFAULT_CARD
from dermbridge.triage.labels import CLASS_NAMES, CLASSES
from dermbridge.triage.models import Assessment
from dermbridge.triage.services import referral_ai_state

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def rate_bins(draw: st.DrawFn) -> tuple[list[float], list[tuple[float, float]], list[list[int]]]:
    """Any calibration bins: increasing edges, each bin's observed interval, its counts."""
    edges = sorted(set(draw(st.lists(unit, min_size=0, max_size=12))))
    intervals, counts = [], []
    for _ in range(len(edges) + 1):
        a, b = sorted((draw(unit), draw(unit)))
        intervals.append((a, b))
        n = draw(st.integers(min_value=1, max_value=5000))
        counts.append([draw(st.integers(min_value=0, max_value=n)), n])
    return edges, intervals, counts


@given(p=unit, bins=rate_bins(), with_counts=st.booleans())
def test_the_range_always_holds_the_estimate(p: float, bins, with_counts: bool) -> None:
    """Whatever the calibration bins say, the shown range contains the estimate (issue #9:
    "33% (0.33), likely between 16% and 32%")."""
    edges, intervals, counts = bins
    lo, hi = calibration.interval_for(p, edges, intervals, counts if with_counts else None)
    assert 0.0 <= lo <= p <= hi <= 1.0


@given(p=unit, n=st.integers(min_value=1, max_value=100_000))
def test_the_wilson_interval_holds_its_proportion(p: float, n: int) -> None:
    lo, hi = calibration.wilson_interval(p, n)
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert (
        hi - lo
        <= calibration.wilson_interval(0.5, n)[1] - calibration.wilson_interval(0.5, n)[0] + 1e-9
    )


@given(p=st.floats(min_value=0.0, max_value=0.999, allow_nan=False))
def test_rounded_percentages_stay_inside_the_rounded_range(p: float) -> None:
    """What is printed keeps the property: floor/ceil outwards, the estimate rounded."""
    card = json.loads(DEFAULT_CARD.read_text())
    bins = card["malignant_rate_bins"]
    a = Assessment(
        model_version=card["version"],
        probabilities={c: 1 / len(CLASSES) for c in CLASSES},
        malignant_probability=p,
        malignant_interval=[],  # none stored: recomputed from the card
        band="intermediate",
    )
    shown = display.view(a)
    assert shown.interval is not None and shown.percent is not None
    assert shown.interval[0] <= shown.percent <= shown.interval[1]
    assert bins["counts"] and len(bins["counts"]) == len(bins["intervals"])


def test_the_reported_case_now_holds_its_estimate() -> None:
    """triage-v3.2's card's bin for 0.33 observed 27 malignant of 115 (16%-32%): the range shown
    now covers both that and the estimate; an old stored range is recomputed, not shown."""
    card = json.loads((DEFAULT_CARD.parent / "triage-v3.2.json").read_text())
    bins = card["malignant_rate_bins"]
    lo, hi = calibration.interval_for(
        0.33, bins["inner_edges"], [tuple(i) for i in bins["intervals"]], bins["counts"]
    )
    assert lo <= 0.17 and hi >= 0.40 and lo <= 0.33 <= hi
    old = Assessment(
        model_version="triage-v2",
        probabilities={"mel": 0.2, "bcc": 0.1, "akiec": 0.03, "nv": 0.67},
        malignant_probability=0.33,
        malignant_interval=[0.1608, 0.3229],  # as stored before 2026-11-30
        band="intermediate",
    )
    shown = display.view(old)
    assert shown.percent == 33 and shown.interval is not None
    assert shown.interval[0] <= 33 <= shown.interval[1]


def test_a_range_that_cannot_be_recomputed_is_not_shown() -> None:
    gone = Assessment(
        model_version="no-such-model",
        probabilities={},
        malignant_probability=0.5,
        malignant_interval=[0.1, 0.2],
        band="high",
    )
    assert display.shown_interval(gone) is None


def test_classes_have_plain_clinical_names_most_likely_first() -> None:
    a = Assessment(
        model_version="triage-v2",
        probabilities={
            "nv": 0.1,
            "mel": 0.6,
            "bkl": 0.05,
            "bcc": 0.1,
            "akiec": 0.1,
            "vasc": 0.03,
            "df": 0.02,
        },
        malignant_probability=0.8,
        malignant_interval=[0.7, 0.9],
        band="high",
    )
    shown = display.view(a)
    assert shown.classes[0].name == "Melanoma"
    assert {row.name for row in shown.classes} == set(CLASS_NAMES.values())
    assert all(not any(code == row.name for code in CLASSES) for row in shown.classes)
    assert {row.name for row in shown.classes if row.malignant} == {
        CLASS_NAMES["mel"],
        CLASS_NAMES["bcc"],
        CLASS_NAMES["akiec"],
    }
    assert shown.band.tag == "red" and shown.band.label == "High risk"


def test_colours_follow_risk_and_every_state_says_what_it_means() -> None:
    assert display.band("high").tag == "red"
    assert display.band("intermediate").tag == "orange"
    assert display.band("low").tag == "green"
    assert display.band("declined").label == "AI declined to assess"
    assert display.band("").label == "No dermoscopic photo"
    assert display.band("", has_dermoscopic=True).label == "Not assessed by the AI yet"
    assert display.band("declined").tag != display.band("").tag
    for b in display.BANDS.values():
        assert b.meaning and "\n" not in b.meaning and len(b.meaning) < 160  # one line


def test_a_declined_assessment_is_shown_as_declined_with_its_reason() -> None:
    a = Assessment(model_version="triage-v2", abstained=True, abstention_reason="too blurred")
    shown = display.view(a)
    assert shown.declined and shown.percent is None and shown.reason == "too blurred"


@given(
    bands=st.lists(st.sampled_from(["high", "intermediate", "low"]), max_size=4),
    declined=st.integers(min_value=0, max_value=3),
    risks=st.lists(
        st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=4
    ),
)
def test_declined_never_sorts_below_intermediate(bands, declined, risks) -> None:
    """A referral with a declined photo sorts above every referral whose AI said intermediate or
    low, and below any high; no assessment at all sorts last."""
    risk = max(risks) if bands else None
    band, sort = referral_ai_state(bands, declined, risk)
    intermediate = referral_ai_state(["intermediate"], 0, 0.999)[1]
    low = referral_ai_state(["low"], 0, 0.999)[1]
    high = referral_ai_state(["high"], 0, 0.0)[1]
    nothing = referral_ai_state([], 0, None)[1]
    if "high" in bands:
        assert band == "high" and sort > referral_ai_state([], 1, None)[1]
    elif declined:
        assert band == "declined" and intermediate < sort < high
    assert nothing < low < intermediate < high
    assert math.isfinite(sort)
