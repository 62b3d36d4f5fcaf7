"""`dermbridge check-image`: the pipeline from the command line, one JSON line per file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from . import corpus


def run(*args: str) -> list[dict[str, object]]:
    out = io.StringIO()
    call_command("check-image", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_it_judges_each_file_and_writes_derivatives(tmp_path: Path) -> None:
    """GIVEN a good photo and a PDF WHEN checked with --out THEN one accepted with files, one not."""
    good = tmp_path / "mole.heic"
    good.write_bytes(corpus.encode(corpus.skin_photo(), "HEIF"))
    pdf = tmp_path / "letter.jpg"
    pdf.write_bytes(b"%PDF-1.7 referral letter")
    out = tmp_path / "out"

    first, second = run(str(good), str(pdf), "--out", str(out))

    assert first["file"] == str(good) and first["accepted"] is True and first["reason"] is None
    quality = first["quality"]
    assert isinstance(quality, dict) and set(quality) >= {"blur", "exposure", "glare", "duplicate"}
    assert set(quality["blur"]) == {"ok", "score", "message"}
    derivatives = first["derivatives"]
    assert isinstance(derivatives, dict)
    assert set(derivatives) == {"master", "viewer", "thumbnail", "ai_input", "ers"}
    assert Image.open(str(derivatives["master"])).size == (800, 640)

    assert second == {
        "file": str(pdf),
        "accepted": False,
        "reason": second["reason"],
        "code": "not_an_image",
        "quality": {},
        "derivatives": {},
    }
    assert "PDF" in str(second["reason"])
    assert sorted(p.name for p in out.iterdir()) == ["mole"]  # nothing for the rejected file


def test_without_out_it_writes_nothing(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(corpus.encode(corpus.skin_photo(), "JPEG"))
    (record,) = run(str(photo), "--type", "dermoscopic")
    assert record["accepted"] is True and record["derivatives"] == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_an_unreadable_file_is_reported_and_fails_the_command(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as caught:
        run(str(tmp_path / "missing.jpg"))
    assert caught.value.returncode == 2
