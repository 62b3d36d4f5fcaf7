"""The contract every pipeline step keeps, and the state passed between steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from .types import CaptureInfo, Derivative, PipelineConfig, QualityCheck


@dataclass
class ImageWork:
    """The photo in progress: what the steps so far have learnt and made.

    Fields start empty and are filled in pipeline order; a step may rely on the
    fields filled by the steps before it and on nothing else.
    """

    config: PipelineConfig
    declared_type: str
    other_hashes: Sequence[str] = ()
    # How the photographer knows each of those images ("the close-up of lesion 1"), same order.
    other_labels: Sequence[str] = ()
    data: bytes = b""
    source_sha256: str = ""
    source_format: str = ""
    image: Image.Image | None = None
    capture: CaptureInfo = field(default_factory=CaptureInfo)
    viewer: Image.Image | None = None
    analysis: Image.Image | None = None
    perceptual_hash: str = ""
    quality: dict[str, QualityCheck] = field(default_factory=dict)
    derivatives: dict[str, Derivative] = field(default_factory=dict)

    def require_image(self) -> Image.Image:
        if self.image is None:
            raise RuntimeError("pipeline step ran before the image was decoded")
        return self.image


class Step:
    """One small, ordered stage of turning an upload into a clinical image.

    Contract:

    * ``run(work)`` reads what earlier steps put on ``work`` and adds its own
      results to it; it returns nothing.
    * A step that finds the upload unusable raises ``ImageRejected`` with a
      reason the photographer can act on and a stable ``code``. It raises nothing
      else for bad input: any other exception is a bug in DermBridge, not in the photo.
    * A step never touches the database, the network or the disk, never logs
      patient data, and keeps no state between images, so one instance can serve
      many images and many threads.
    * A step must not keep more than one extra full-resolution copy of the pixels
      alive at a time; work that does not need full resolution uses
      ``work.analysis``, the small copy made for the quality gate.
    """

    name: str = "step"

    def run(self, work: ImageWork) -> None:
        raise NotImplementedError
