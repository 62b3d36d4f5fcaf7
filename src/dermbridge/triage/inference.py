"""Runtime AI assessment of one dermoscopic image, with onnxruntime only (never torch).

The shipped model (card ``models/triage-v3.4.json``: the INT8 copy (ADR 0022) of triage-v3.3's
ensemble of an EfficientNet-Lite1 network and triage-v2's network, as two member graphs,
``triage-v3.4-member0.onnx`` and ``-member1.onnx``, whose logits the runtime averages, and the
detectors ``triage-v3.4-ood.npz``, fitted on training images and their phone-capture views (ADR
0019); earlier versions' cards stay beside it for their assessments) is
integrity-checked against the sha256 sums in the card when it is loaded. A graph may take further
inputs, one per ensemble member at another size (``training/ensemble_graph.py``): the runtime
fills each with the picture resized as an upload is. If anything is missing or does not match,
:func:`load_model` raises :class:`ModelUnavailable` and :func:`get_model` returns ``None``: the
referral then simply has no AI assessment, it never fails.

The output is decision support for a clinician: probabilities over seven diagnoses, a calibrated
probability that the lesion is malignant or pre-malignant (melanoma, BCC, actinic keratosis /
Bowen's), and a risk band. The model declines (abstains) when the image is not a usable
dermoscopic image of a skin lesion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from dermbridge.triage.calibration import (
    MahalanobisDetector,
    interval_for,
    plausible_band,
    risk_band,
    worst_plausible,
)
from dermbridge.triage.labels import CLASSES
from dermbridge.triage.metadata import Fusion, LesionMetadata, encode
from dermbridge.triage.metrics import softmax
from dermbridge.triage.preprocessing import (
    INPUT_HEIGHT,
    INPUT_WIDTH,
    GateThresholds,
    at_size,
    colour_features,
    normalise,
    quality_gate,
    to_rgb_array,
)

# What the AI says when it declines a photo is written in the vocabulary (the quality review
# shows it too): dermbridge.vocabulary.ai.
from dermbridge.vocabulary.ai import COLOUR_REASON, OOD_REASON, UNCERTAIN_REASON

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_CARD = MODELS_DIR / "triage-v3.4.json"


class ModelUnavailable(Exception):
    """No AI assessment can be given: the model file or its card is missing, corrupt or invalid."""


@dataclass(frozen=True)
class Assessment:
    """The AI pre-read of one dermoscopic image, for the dermatologist's triage panel.

    ``probabilities``: calibrated probability per diagnosis code (nv, mel, bkl, bcc, akiec, vasc,
    df); empty when the model abstained. ``malignant_probability``: P(mel or bcc or akiec); None
    when abstained. ``band``: "high" (suggest urgent suspected-cancer referral), "intermediate",
    or "low" (below the rule-out threshold: eligible for the discharge pathway, a suggestion only);
    None when abstained. ``entropy``: normalised predictive entropy in [0, 1] (0 = certain, 1 =
    uniform over the seven classes), a measure of the model's own uncertainty.
    ``input_sha256``: sha256 of the RGB pixels the model actually saw (at its input size).
    ``malignant_probability_interval``: how far the probability can be trusted at this level
    (``calibration.interval_for``): the Wilson 95% interval around the probability given the
    calibration images in its decile bin, widened to cover the exact 95% interval of the
    malignant rate observed among them; it always contains ``malignant_probability``. None
    when abstained. ``worst_plausible``: the most severe malignant class whose probability
    reaches its own validation-chosen threshold (models whose card has ``class_thresholds``,
    triage-v3 on; the band then follows it, ``calibration.plausible_band``); None when no
    malignant class does, when abstained, or for older models.
    """

    probabilities: dict[str, float]
    malignant_probability: float | None
    band: Literal["high", "intermediate", "low"] | None
    abstained: bool
    abstention_reason: str | None
    model_version: str
    input_sha256: str
    entropy: float | None = None
    ood_distance: float | None = None
    malignant_probability_interval: tuple[float, float] | None = None
    worst_plausible: str | None = None


def graph_extra_inputs(inputs: list[Any]) -> list[tuple[str, tuple[int, int]]]:
    """The further inputs of an ensemble graph, each with the (width, height) it takes."""
    out = []
    for node in inputs:
        height, width = node.shape[2:4]
        if not (isinstance(width, int) and isinstance(height, int)):
            raise ModelUnavailable(f"graph input {node.name} has no fixed size")
        out.append((node.name, (width, height)))
    return out


def feed_extra(
    extra: list[tuple[str, tuple[int, int]]], rgb_batch: np.ndarray
) -> dict[str, np.ndarray]:
    """The frames resized for each further input, as an upload is (``to_rgb_array``)."""
    return {
        name: normalise(np.stack([at_size(f, size) for f in rgb_batch])) for name, size in extra
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Graph:
    """One onnxruntime session: its main input (at ``size``, None where the graph leaves it
    open) and, for an ensemble graph, one further input per member at another size."""

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # One thread per request: the web server runs several requests side by side.
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        graph_input, *extra = self.session.get_inputs()
        self.input_name: str = graph_input.name
        # An ensemble graph (training/ensemble_graph.py) has one more input per member size.
        self.extra_inputs = graph_extra_inputs(extra)
        height, width = graph_input.shape[2:4]
        self.size: tuple[int | None, int | None] = (
            width if isinstance(width, int) else None,
            height if isinstance(height, int) else None,
        )

    def run(self, rgb_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, features) of uint8 NxHxWx3 frames; a graph with a fixed input size other
        than the frames' gets them resized as an upload is."""
        width, height = self.size
        frames = rgb_batch
        if width is not None and height is not None and rgb_batch.shape[1:3] != (height, width):
            frames = np.stack([at_size(f, (width, height)) for f in rgb_batch])
        feed = {self.input_name: normalise(frames), **feed_extra(self.extra_inputs, rgb_batch)}
        logits, feats = self.session.run(None, feed)
        return np.asarray(logits), np.asarray(feats)


class TriageModel:
    """A loaded, integrity-checked triage model. Thread-safe: one instance serves all requests."""

    def __init__(
        self, card: dict[str, Any], model_paths: list[Path], ood_path: Path, threads: int = 1
    ):
        self.card = card
        self.version: str = str(card["version"])
        self.classes: tuple[str, ...] = tuple(card["classes"])
        if self.classes != CLASSES:
            raise ModelUnavailable(f"model classes {self.classes} do not match {CLASSES}")
        self.malignant_idx = [self.classes.index(c) for c in card["malignant_classes"]]
        self.temperature = float(card["temperature"])
        # Optional per-class logit bias (bias-corrected temperature scaling); zeros if absent.
        self.class_bias = np.asarray(card.get("class_bias", [0.0] * len(CLASSES)), np.float64)
        self.rule_out = float(card["rule_out_threshold"])
        self.high_cutoff = float(card["high_band_cutoff"])
        # Worst-plausible-class rule (triage-v3 on); older cards band by the summed probability.
        self.class_thresholds: dict[str, float] | None = (
            {str(k): float(v) for k, v in card["class_thresholds"].items()}
            if card.get("class_thresholds")
            else None
        )
        bins = card.get("malignant_rate_bins")
        self.rate_bins: (
            tuple[list[float], list[tuple[float, float]], list[list[int]] | None] | None
        ) = (
            (
                list(bins["inner_edges"]),
                [tuple(i) for i in bins["intervals"]],
                bins.get("counts"),
            )
            if bins
            else None
        )
        # Post-hoc fusion with age, sex and body site (triage-v3 on, when the card has it).
        fusion = card.get("metadata_fusion")
        self.fusion: Fusion | None = Fusion.from_card(fusion) if fusion else None
        abst = card["abstention"]
        self.gate = GateThresholds(**abst["gate"])
        # Decline when even the most probable class is this unlikely (triage-v3 on; 0 = off).
        self.min_top_probability = float(abst.get("min_top_probability", 0.0))
        with np.load(ood_path) as arrays:
            self.detector = MahalanobisDetector(
                means=arrays["means"],
                whitening=arrays["whitening"],
                threshold=float(abst["mahalanobis_threshold"]),
            )
            self.colour_detector = (
                MahalanobisDetector(
                    means=arrays["colour_means"],
                    whitening=arrays["colour_whitening"],
                    threshold=float(abst["colour_threshold"]),
                )
                if "colour_means" in arrays.files
                else None
            )
        # The frame the network was trained on: the card says (160x120 before cards said).
        size = card.get("input", {})
        self.input_size: tuple[int, int] = (
            int(size.get("width", INPUT_WIDTH)),
            int(size.get("height", INPUT_HEIGHT)),
        )
        # One graph, or (a card with ``members``) one graph per ensemble member, whose logits
        # the runtime averages as ``training/ensemble_graph.py``'s single graph does.
        self.graphs = [_Graph(path, threads) for path in model_paths]
        first = self.graphs[0].size
        if any(w is not None and w != s for w, s in zip(first, self.input_size, strict=True)):
            raise ModelUnavailable(
                f"the card's input size {self.input_size} does not match the graph's "
                f"{first[0]}x{first[1]}"
            )
        # float32, as the ensemble graph multiplies the members' summed logits.
        self.member_weight = np.float32(1.0 / len(self.graphs))

    def run(self, rgb_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw network outputs (logits, penultimate features) for uint8 NxHxWx3 images at the
        model's input size. An ensemble's logits are the mean of its members' (summed in member
        order, then times 1/n in float32: what ``ensemble_graph.merge``'s graph computes, so a
        card evaluated as that graph assesses the same from its members); its features are the
        last member's, which the out-of-distribution detector was fitted on."""
        outputs = [graph.run(rgb_batch) for graph in self.graphs]
        if len(outputs) == 1:
            return outputs[0]
        total = outputs[0][0]
        for logits, _ in outputs[1:]:
            total = total + logits
        return total * self.member_weight, outputs[-1][1]

    def frame(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb`` (uint8 HxWx3) at the model's input size, resized as an upload is if needed."""
        return at_size(rgb, self.input_size)

    def assess_rgb(self, rgb: np.ndarray, metadata: LesionMetadata | None = None) -> Assessment:
        """Assess a uint8 HxWx3 frame (resized to the model's input size unless it is already
        at that size; 160x120 for every model shipped so far).

        ``metadata`` (age, sex, body site; any of them may be missing) is used by models whose
        card has a metadata fusion; other models ignore it.
        """
        rgb = self.frame(rgb)
        digest = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()
        reason = quality_gate(rgb, self.gate)
        if reason is not None:
            return self._declined(reason, digest)
        if self.colour_detector is not None:
            colour = float(self.colour_detector.distances(colour_features(rgb)[None])[0])
            if not math.isfinite(colour) or colour > self.colour_detector.threshold:
                return self._declined(COLOUR_REASON, digest)
        logits, feats = self.run(rgb[None])
        distance = float(self.detector.distances(feats)[0])
        if not math.isfinite(distance) or distance > self.detector.threshold:
            return self._declined(OOD_REASON, digest, ood_distance=distance)
        probs = softmax(logits / self.temperature + self.class_bias)[0]
        if float(probs.max()) < self.min_top_probability:
            return self._declined(UNCERTAIN_REASON, digest, ood_distance=distance)
        if self.fusion is not None:
            log_probs = np.log(np.clip(probs, 1e-12, 1.0))[None]
            probs = softmax(self.fusion.logits(log_probs, encode(metadata)[None]))[0]
        p_mal = float(probs[self.malignant_idx].sum())
        entropy = float(-(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum() / math.log(len(probs)))
        by_class = {c: float(p) for c, p in zip(self.classes, probs, strict=True)}
        worst = None
        if self.class_thresholds is not None:
            worst = worst_plausible(by_class, self.class_thresholds)
            band = plausible_band(by_class, p_mal, self.class_thresholds, self.rule_out)
        else:
            band = risk_band(p_mal, self.rule_out, self.high_cutoff)
        interval = interval_for(p_mal, *self.rate_bins) if self.rate_bins else None
        return Assessment(
            probabilities=by_class,
            malignant_probability=p_mal,
            band=band,  # type: ignore[arg-type]
            abstained=False,
            abstention_reason=None,
            model_version=self.version,
            input_sha256=digest,
            entropy=entropy,
            ood_distance=distance,
            malignant_probability_interval=interval,
            worst_plausible=worst,
        )

    def assess(self, image: Image.Image, metadata: LesionMetadata | None = None) -> Assessment:
        """Assess one dermoscopic image (any size; resized to the model's frame)."""
        return self.assess_rgb(to_rgb_array(image, self.input_size), metadata)

    def _declined(self, reason: str, digest: str, ood_distance: float | None = None) -> Assessment:
        return Assessment(
            probabilities={},
            malignant_probability=None,
            band=None,
            abstained=True,
            abstention_reason=reason,
            model_version=self.version,
            input_sha256=digest,
            ood_distance=ood_distance,
        )


def graph_files(card: dict[str, Any]) -> list[tuple[str, str]]:
    """(file name, sha256) of each graph a card's assessments run: its ``model_file``, or, for
    an ensemble shipped as its members (``members``, so no network is committed twice), the
    members' graphs in order. The card's ``model_file`` and ``sha256`` then name the single
    graph it was evaluated as (``ensemble_graph.merge`` of the members rebuilds it bit for
    bit)."""
    members = card.get("members")
    if members:
        return [(str(m["file"]), str(m["sha256"])) for m in members]
    return [(str(card["model_file"]), str(card["sha256"]))]


def load_model(path: Path | None = None, threads: int = 1) -> TriageModel:
    """Load the model described by a card (default: the shipped triage-v3.4), verifying sha256 sums.

    ``path`` may be the card (.json) or the .onnx file beside its card. Raises
    :class:`ModelUnavailable` with a reason on any problem.
    """
    card_path = DEFAULT_CARD if path is None else Path(path)
    if card_path.suffix == ".onnx":
        card_path = card_path.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
        graphs = [(card_path.parent / name, sha) for name, sha in graph_files(card)]
        ood_path = card_path.parent / card["ood_file"]
        for file, expected in [*graphs, (ood_path, card["ood_sha256"])]:
            if not file.is_file():
                raise ModelUnavailable(f"model file {file.name} is missing")
            actual = sha256_file(file)
            if actual != expected:
                raise ModelUnavailable(
                    f"integrity check failed for {file.name}: sha256 {actual} != card {expected}"
                )
        return TriageModel(card, [path for path, _ in graphs], ood_path, threads=threads)
    except ModelUnavailable:
        raise
    except FileNotFoundError as exc:
        raise ModelUnavailable(f"model card {card_path.name} is missing") from exc
    except Exception as exc:  # corrupt card, unreadable arrays, onnxruntime refusing the graph
        raise ModelUnavailable(f"model could not be loaded: {type(exc).__name__}: {exc}") from exc


_cache_lock = threading.Lock()
_cached: TriageModel | None = None
_cache_tried = False


def get_model() -> TriageModel | None:
    """The shipped model, loaded once per process; None (with a logged warning) if unavailable."""
    global _cached, _cache_tried
    with _cache_lock:
        if not _cache_tried:
            _cache_tried = True
            try:
                _cached = load_model()
            except ModelUnavailable as exc:
                logger.warning("No AI assessment available: %s", exc)
                _cached = None
        return _cached


def reset_model_cache() -> None:
    """Forget the cached model (tests, or after deploying a new model file)."""
    global _cached, _cache_tried
    with _cache_lock:
        _cached, _cache_tried = None, False
