"""The curated SNOMED CT lists and the start-up warning for codes not yet reviewed (H-07)."""

from __future__ import annotations

from django.core.checks import run_checks

from dermbridge.referrals import terminology
from dermbridge.referrals.checks import snomed_codes_reviewed


def test_codes_are_sctids_and_unique() -> None:
    """SNOMED CT ids are 6 to 18 digits; no code is listed twice across the lists."""
    concepts = [*terminology.BODY_SITES.values(), *terminology.DIAGNOSES.values()]
    assert all(c.code.isdigit() and 6 <= len(c.code) <= 18 for c in concepts)
    assert len({c.code for c in concepts}) == len(concepts)


def test_a_concept_with_a_doubt_or_no_source_needs_review() -> None:
    assert "61686008" not in terminology.DIAGNOSES  # "Physical exercise" in public examples
    bowen = terminology.DIAGNOSES["189565007"]
    assert bowen.premalignant and bowen.verified and bowen.needs_review  # found, but any site
    naevus = terminology.DIAGNOSES["400182000"]
    assert not naevus.verified and naevus.needs_review  # no published source found
    melanoma = terminology.DIAGNOSES["372244006"]
    assert melanoma.verified and melanoma.needs_review  # confirmed id, but any-site melanoma
    forearm = terminology.BODY_SITES["14975008"]
    assert forearm.verified and not forearm.needs_review
    assert bowen in terminology.to_review() and forearm not in terminology.to_review()


def test_the_system_check_names_every_code_to_review(settings) -> None:
    (warning,) = snomed_codes_reviewed()
    assert warning.id == "dermbridge.W001"
    for concept in terminology.to_review():
        assert f"{concept.code} {concept.label}" in warning.msg
    assert "H-07" in (warning.hint or "")
    assert any(m.id == "dermbridge.W001" for m in run_checks())
    settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, "dermbridge.W001"]
    assert not any(m.id == "dermbridge.W001" for m in run_checks() if not m.is_silenced())
