"""Property: whatever bytes arrive, intake either accepts them or raises ImageRejected, nothing else."""

from __future__ import annotations

import io
from typing import cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dermbridge.imaging.pipeline import ImageRejected, PipelineConfig, process_image

from . import corpus

# Small seeds and a low size floor, so that mutated files get past the header into the decoder.
CONFIG = PipelineConfig(min_short_side=16, max_pixels=4_000_000)
SEEDS = [
    corpus.encode(corpus.skin_photo(64, 48), fmt, **params)
    for fmt, params in cast(
        list[tuple[str, dict[str, object]]],
        [
            ("JPEG", {"quality": 80}),
            ("JPEG", {"quality": 80, "progressive": True, "exif": corpus.tagged_exif(6)}),
            ("PNG", {}),
            ("WEBP", {"quality": 70}),
            ("HEIF", {"quality": 50}),
        ],
    )
]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def judged(data: bytes) -> None:
    """Process ``data``; a rejection is a fine outcome, any other exception fails the property."""
    try:
        result = process_image(io.BytesIO(data), declared_type="dermoscopic", config=CONFIG)
    except ImageRejected as rejected:
        assert rejected.code and rejected.reason
        return
    assert result.derivatives["master"].data.startswith(b"\xff\xd8\xff")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid seed file with bytes flipped, cut short, or spliced with junk."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_photos_are_accepted_or_rejected_cleanly(data: bytes) -> None:
    judged(data)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=512),
        st.sampled_from(
            [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP"]
        ).flatmap(lambda head: st.binary(max_size=512).map(lambda tail: head + tail)),
        st.binary(max_size=64).map(lambda tail: b"\x00\x00\x00\x18ftypheic" + tail),
    )
)
def test_random_bytes_behind_real_signatures_are_rejected_cleanly(data: bytes) -> None:
    judged(data)
