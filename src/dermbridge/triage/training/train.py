"""Train the triage network on the HAM10000 training split (CPU, or a CUDA GPU where PyTorch sees
one; resumable; deterministic on the CPU).

Run with ``python -m dermbridge.triage.training.train`` (``make train`` runs the whole pipeline).
A checkpoint is written after every epoch; re-running the same command resumes from the last one.

Options beyond triage-v2's recipe (issue #15, item 3): ``--loss logit_adjusted`` (Menon et al.
2021: cross-entropy on logits + tau * log(prior), no class weights) instead of the class-balanced
weighting; ``--colour strong`` (wider white-balance, tone and colour-cast jitter); ``--input-size
200x150`` (the data's full resolution); ``--init-from`` an exported graph (.onnx, e.g. the shipped
``triage-v2.onnx``) or a checkpoint (.pt), so a fine-tune of a few epochs is enough on a CPU;
``--distil-from`` an exported graph (an ensemble) to train a student on its soft labels too;
``--zoom MIN MAX`` widens the augmentation's scale range (phone captures show up to 1.2 times
the frame).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from dermbridge.triage import metrics
from dermbridge.triage.labels import CLASSES, MALIGNANT_INDICES
from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH
from dermbridge.triage.training.augment import COLOUR_PRESETS, augment, to_tensor
from dermbridge.triage.training.data import (
    DEFAULT_SEED,
    REPO_DIR,
    ham10000_dir,
    lesion_grouped_splits,
    load_arrays,
    read_metadata,
)
from dermbridge.triage.training.model import BACKBONE, BACKBONES, TriageNet, load_graph_weights

LOSSES = ("class_balanced", "logit_adjusted")


@dataclass
class TrainConfig:
    """Hyper-parameters; stored in each checkpoint and in the model card."""

    seed: int = DEFAULT_SEED
    epochs: int = 16
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    # Loss weight per class proportional to frequency^-power: 0.5 is a compromise between
    # accuracy (dominated by naevi) and balanced accuracy (rare malignant classes matter).
    class_weight_power: float = 0.5
    label_smoothing: float = 0.0
    # Exponential moving average of the weights (and batch-norm statistics), evaluated and
    # exported instead of the raw weights: smoother and usually better on held-out lesions.
    # 0 turns it off. 0.998 averages over roughly the last 500 steps (about 3 epochs).
    ema_decay: float = 0.998
    # "class_balanced": cross-entropy weighted by frequency^-class_weight_power (triage-v2);
    # "logit_adjusted": unweighted cross-entropy on logits + la_tau * log(training prior)
    # (Menon et al. 2021, eq. 10): the raw logits then estimate balanced-prior scores.
    loss: str = "class_balanced"
    la_tau: float = 1.0
    colour: str = "standard"  # augment.COLOUR_PRESETS
    # Scale range of the geometric augmentation (augment.STANDARD_ZOOM: triage-v2's 0.8-1.1).
    zoom_min: float = 0.8
    zoom_max: float = 1.1
    input_width: int = INPUT_WIDTH
    input_height: int = INPUT_HEIGHT
    # model.BACKBONES: EfficientNet-Lite0 (triage-v2) or the larger Lite1 (ImageNet weights
    # from their registry packages).
    backbone: str = BACKBONE
    # Start from an exported graph (.onnx) or a checkpoint (.pt) instead of ImageNet weights.
    init_from: str = ""
    # >0: keep the stem and this many of the 16 blocks fixed (fine-tunes on a CPU).
    freeze_blocks: int = 0
    threads: int = 2
    # Activations and weights stored channels-last (NHWC): a training step ran 1.5-1.7x faster
    # on these CPUs (EfficientNet-Lite1, 160x120, batch 32, 2 threads; ADR 0023); the
    # arithmetic is the same up to float rounding. False gives the runs before triage-v3.5. A
    # resumed run keeps the layout it started with.
    channels_last: bool = True
    limit: int = 0  # >0: use only this many training images (smoke tests)
    max_steps: int = 0  # >0: stop after this many optimiser steps in total (smoke tests)
    # Knowledge distillation (Hinton et al. 2015) from an exported graph, e.g. an ensemble: the
    # loss becomes (1 - w) * the recipe's loss + w * T^2 * KL(teacher_T || student_T). The
    # teacher's logits are computed once per training image, unaugmented (with the graph's own
    # flip averaging), and reused for every augmented view: no teacher pass per step, so a
    # student costs what any member does on a CPU.
    distil_from: str = ""
    distil_weight: float = 0.5
    distil_temperature: float = 2.0
    # "auto": a CUDA GPU when PyTorch sees one (issue 15: use a GPU where there is one), else
    # the CPU; "cpu" or "cuda" to insist. Augmentation stays on the CPU (its seeded generator
    # makes the same draws either way); the network, the loss and the EMA run on the device.
    device: str = "auto"


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> torch.device:
    """The device a run trains on; a clear error for a GPU that is not there."""
    if requested not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda, but PyTorch sees no CUDA GPU (the project installs the CPU build of "
            f"torch, here {torch.__version__}): install a CUDA build of torch into this virtual "
            "environment on the GPU machine, or train with --device cpu"
        )
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int, device: torch.device | None = None) -> torch.Generator:
    on_gpu = device is not None and device.type == "cuda"
    if on_gpu:
        # cuBLAS is deterministic only with a fixed workspace (set before its first use).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    # Some CUDA kernels (e.g. adaptive average pooling's backward, NLL loss) have no deterministic
    # form: on a GPU they warn instead of stopping the run, which is then reproducible only up
    # to them.
    torch.use_deterministic_algorithms(True, warn_only=on_gpu)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def class_weights(labels: np.ndarray, power: float) -> torch.Tensor:
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
    counts = np.maximum(counts, 1.0)
    w = counts**-power
    # Normalise so the average weight over training samples is 1 (keeps the LR meaningful).
    w = w / (w[labels].mean() if len(labels) else 1.0)
    return torch.tensor(w, dtype=torch.float32)


def log_prior(labels: np.ndarray) -> torch.Tensor:
    """Log of the training split's class frequencies (the logit adjustment's prior)."""
    counts = np.maximum(np.bincount(labels, minlength=len(CLASSES)).astype(np.float64), 1.0)
    return torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32)


def loss_fn(cfg: TrainConfig, y_train: np.ndarray, device: torch.device | None = None) -> Any:
    """The training loss for the configured recipe, as f(logits, labels) on ``device``."""
    if cfg.loss == "class_balanced":
        weights = class_weights(y_train, cfg.class_weight_power).to(device)
        return lambda logits, y: F.cross_entropy(
            logits, y, weight=weights, label_smoothing=cfg.label_smoothing
        )
    if cfg.loss == "logit_adjusted":
        shift = (cfg.la_tau * log_prior(y_train)).to(device)
        return lambda logits, y: F.cross_entropy(
            logits + shift, y, label_smoothing=cfg.label_smoothing
        )
    raise ValueError(f"loss must be one of {LOSSES}, not {cfg.loss!r}")


def teacher_logits(graph: Path, records: list[Any], images_dir: Path, cache: Path | None) -> Any:
    """The teacher graph's logits for each training record, at the graph's own input size (an
    ensemble's other members get their own inputs, as the runtime gives them)."""
    from dermbridge.triage.training.pipeline_graph import graph_input_size, run_graph

    frames, _ = load_arrays(records, images_dir, cache, "train (teacher)", graph_input_size(graph))
    return torch.from_numpy(run_graph(graph, frames, cache_dir=cache)[0].astype(np.float32))


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float
) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch."""
    return F.kl_div(
        F.log_softmax(student / temperature, dim=1),
        F.log_softmax(teacher / temperature, dim=1),
        log_target=True,
        reduction="batchmean",
    ) * (temperature**2)


def initialise(model: TriageNet, cfg: TrainConfig, x_train: np.ndarray) -> None:
    """Load ``cfg.init_from`` into a fresh network (before any training step)."""
    path = Path(cfg.init_from)
    if path.suffix == ".onnx":
        # Batch-norm statistics re-measured on 256 training images (fixed choice per seed).
        pick = np.sort(np.random.default_rng(cfg.seed).permutation(len(x_train))[:256])
        load_graph_weights(model, path, to_tensor(torch.from_numpy(x_train[pick])))
    else:
        model.load_state_dict(torch.load(path, weights_only=False, map_location="cpu")["model"])
    print(f"initialised from {path}", flush=True)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to zero."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def memory_format(cfg: TrainConfig) -> torch.memory_format:
    return torch.channels_last if cfg.channels_last else torch.contiguous_format


def step_seconds_by_layout(
    backbone: str = "efficientnet-lite1",
    size: tuple[int, int] = (160, 120),
    batch: int = 32,
    steps: int = 6,
    threads: int = 2,
) -> dict[str, Any]:
    """Seconds per training step (forward, backward, AdamW) of the same network stored NCHW and
    channels-last, step by step in alternation (order swapped each step) so both see the same
    machine load; after one warm-up step each (``make bench``; random images and weights), with
    deterministic algorithms on, as training runs. ``order`` is the sequence of timed steps."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _time_layouts(backbone, size, batch, steps, threads)
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)


def _time_layouts(
    backbone: str, size: tuple[int, int], batch: int, steps: int, threads: int
) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(DEFAULT_SEED)
    x = torch.rand(batch, 3, size[1], size[0], generator=gen)
    y = torch.randint(0, len(CLASSES), (batch,), generator=gen)
    runs = {}
    for name, layout in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        model = TriageNet(pretrained=False, input_size=size, backbone=backbone).train()
        model = model.to(memory_format=layout)  # type: ignore[call-overload]
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        runs[name] = (model, opt, x.contiguous(memory_format=layout))
    times: dict[str, list[float]] = {name: [] for name in runs}
    order: list[str] = []
    for i in range(steps + 1):
        for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
            model, opt, inputs = runs[name]
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(inputs), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i:  # the first step of each is warm-up
                times[name].append(time.perf_counter() - t0)
                order.append(name)
    median = {name: float(np.median(t)) for name, t in times.items()}
    return {
        "backbone": backbone,
        "input": f"{size[0]}x{size[1]}",
        "batch": batch,
        "threads": threads,
        "steps": steps,
        "order": order,
        "seconds_per_step": median,
        "ratio_channels_last_to_nchw": median["channels_last"] / median["nchw"],
    }


@torch.no_grad()
def predict_logits(
    model: TriageNet,
    pixels: np.ndarray,
    batch_size: int = 64,
    layout: torch.memory_format = torch.contiguous_format,
) -> np.ndarray:
    """Eval-mode logits for uint8 images (no augmentation, no flip averaging), computed on the
    model's device."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(pixels), batch_size):
        x = to_tensor(torch.from_numpy(pixels[i : i + batch_size]))
        out.append(model(x.to(device=device, memory_format=layout)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), dtype=np.float32)


def evaluate(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    probs = metrics.softmax(logits)
    malignant = np.isin(labels, MALIGNANT_INDICES)
    p_mal = probs[:, list(MALIGNANT_INDICES)].sum(axis=1)
    pred = probs.argmax(axis=1)
    return {
        "accuracy": float((pred == labels).mean()),
        "balanced_accuracy": metrics.balanced_accuracy(labels, pred, len(CLASSES)),
        "malignant_auroc": metrics.auroc(malignant, p_mal),
        "nll": float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean()),
    }


def train(cfg: TrainConfig, out_dir: Path, images_dir: Path, metadata: Path) -> Path:
    """Train (or resume) and return the path of the best checkpoint by validation score."""
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    gen = seed_everything(cfg.seed, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The split is the project's, whatever the training seed: a member trained with another
    # seed must not have seen the validation, calibration or test lesions the pipeline scores it
    # on (``--seed`` once also reshuffled the split, and so leaked them into training).
    splits = lesion_grouped_splits(read_metadata(metadata), seed=DEFAULT_SEED)
    train_recs = splits["train"][: cfg.limit] if cfg.limit else splits["train"]
    val_recs = splits["validation"][: cfg.limit] if cfg.limit else splits["validation"]
    cache = None if cfg.limit else REPO_DIR / "var" / "triage" / "cache"
    size = (cfg.input_width, cfg.input_height)
    x_train, y_train = load_arrays(train_recs, images_dir, cache, "train", size)
    x_val, y_val = load_arrays(val_recs, images_dir, cache, "validation", size)
    colour = COLOUR_PRESETS[cfg.colour]
    criterion = loss_fn(cfg, y_train, device)
    teacher = (
        teacher_logits(Path(cfg.distil_from), train_recs, images_dir, cache)
        if cfg.distil_from
        else None
    )

    last = out_dir / "last.pt"
    # Loaded on the CPU whatever the device: the generator states must stay CPU tensors, and
    # load_state_dict copies weights and optimiser state onto the device. A GPU run can so
    # resume on a CPU and the other way round.
    state = torch.load(last, weights_only=False, map_location="cpu") if last.exists() else None
    if state is not None:
        started_layout = bool(state["config"].get("channels_last", False))
        if started_layout != cfg.channels_last:
            print(
                f"resuming in the layout the run started with (channels_last={started_layout})",
                flush=True,
            )
            cfg = replace(cfg, channels_last=started_layout)
    model = TriageNet(pretrained=not cfg.init_from, input_size=size, backbone=cfg.backbone)
    if cfg.init_from and state is None:
        initialise(model, cfg, x_train)
    if cfg.freeze_blocks:
        model.freeze(cfg.freeze_blocks)
    layout = memory_format(cfg)
    model = model.to(device=device, memory_format=layout)  # type: ignore[call-overload]
    print(f"training on {device}", flush=True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = (
        AveragedModel(
            model,
            device=device,
            multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay),
            use_buffers=True,
        )
        if cfg.ema_decay
        else None
    )
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:  # the schedule ends where the run does (short CPU fine-tunes)
        total_steps = min(total_steps, cfg.max_steps)
    start_epoch, step, best_score = 0, 0, -math.inf
    history: list[dict[str, Any]] = []

    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        start_epoch, step = state["epoch"] + 1, state["step"]
        best_score, history = state["best_score"], state["history"]
        print(f"resumed from {last} after epoch {state['epoch'] + 1}", flush=True)

    planned = total_steps
    started, first_step = time.time(), step
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.max_steps and step >= cfg.max_steps:
            break  # a run that stopped at --max-steps, resumed with the same command
        model.train()
        order = torch.randperm(len(x_train), generator=gen).numpy()
        t0, running = time.time(), 0.0
        steps_here = min(steps_per_epoch, total_steps - step)
        bar = tqdm(range(steps_here), desc=f"epoch {epoch + 1}/{cfg.epochs}", mininterval=30)
        for b in bar:
            idx = np.sort(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            x = augment(torch.from_numpy(x_train[idx]), gen, colour, (cfg.zoom_min, cfg.zoom_max))
            x = x.to(device=device, memory_format=layout)
            y = torch.from_numpy(y_train[idx]).to(device)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total_steps, cfg)
            logits = model(x)
            loss = criterion(logits, y)
            if teacher is not None:
                soft = distillation_loss(logits, teacher[idx].to(device), cfg.distil_temperature)
                loss = (1 - cfg.distil_weight) * loss + cfg.distil_weight * soft
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            running += loss.item()
            # Whole-run ETA beside tqdm's per-epoch one (steps of this session so far).
            per_step = (time.time() - started) / (step - first_step)
            eta = time.strftime("%H:%M:%S", time.gmtime(per_step * max(0, planned - step)))
            bar.set_postfix(loss=f"{running / (b + 1):.3f}", run_eta=eta, refresh=False)
            if cfg.max_steps and step >= cfg.max_steps:
                break
        # What is evaluated, selected and exported: the averaged weights when EMA is on.
        shipped: TriageNet = ema.module if ema is not None else model  # type: ignore[assignment]
        val = evaluate(predict_logits(shipped, x_val, layout=layout), y_val)
        # Model selection: equal weight to balanced accuracy and malignant AUROC.
        score = 0.5 * (val["balanced_accuracy"] + val["malignant_auroc"])
        if math.isnan(score):
            score = val["balanced_accuracy"]
        record = {
            "epoch": epoch + 1,
            "train_loss": running / max(1, b + 1),
            "seconds": time.time() - t0,
            "device": str(device),
            **val,
        }
        history.append(record)
        print(json.dumps(record), flush=True)
        if score > best_score:
            best_score = score
            torch.save(
                {"model": shipped.state_dict(), "config": asdict(cfg), "epoch": epoch + 1},
                out_dir / "best.pt",
            )
        state = {
            "model": model.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "optimizer": opt.state_dict(),
            "generator": gen.get_state(),
            "device": str(device),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "epoch": epoch,
            "step": step,
            "best_score": best_score,
            "history": history,
            "config": asdict(cfg),
        }
        torch.save(state, out_dir / "last.tmp")
        (out_dir / "last.tmp").replace(last)  # atomic: a crash never leaves a half checkpoint
        torch.save(
            {"model": shipped.state_dict(), "config": asdict(cfg), "epoch": epoch + 1},
            out_dir / "final.pt",
        )
        if cfg.max_steps and step >= cfg.max_steps:
            break
    (out_dir / "history.json").write_text(json.dumps(history, indent=2))
    return out_dir / "best.pt"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_DIR / "var" / "triage" / "run")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="initialisation, batch order and augmentation (the split is always the project's)",
    )
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help="HAM10000 folder")
    parser.add_argument("--loss", choices=LOSSES, default=TrainConfig.loss)
    parser.add_argument("--la-tau", type=float, default=TrainConfig.la_tau)
    parser.add_argument("--colour", choices=sorted(COLOUR_PRESETS), default=TrainConfig.colour)
    parser.add_argument(
        "--zoom",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(TrainConfig.zoom_min, TrainConfig.zoom_max),
        help="scale range of the geometric augmentation (< 1 zooms in; 0.8 1.1 by default)",
    )
    parser.add_argument(
        "--input-size", default=f"{INPUT_WIDTH}x{INPUT_HEIGHT}", help="WIDTHxHEIGHT, e.g. 200x150"
    )
    parser.add_argument(
        "--backbone", choices=BACKBONES, default=BACKBONE, help="ImageNet-pretrained network"
    )
    parser.add_argument("--init-from", default="", help="exported graph (.onnx) or checkpoint")
    parser.add_argument("--freeze-blocks", type=int, default=0, help="keep the first N blocks")
    parser.add_argument("--warmup-steps", type=int, default=TrainConfig.warmup_steps)
    parser.add_argument("--ema-decay", type=float, default=TrainConfig.ema_decay)
    parser.add_argument("--threads", type=int, default=TrainConfig.threads)
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=TrainConfig.device,
        help="auto: a CUDA GPU when PyTorch sees one, else the CPU",
    )
    parser.add_argument(
        "--contiguous",
        action="store_true",
        help="store activations NCHW instead of channels-last (the runs before triage-v3.5)",
    )
    parser.add_argument(
        "--distil-from", default="", help="teacher graph (.onnx, e.g. an ensemble) to distil"
    )
    parser.add_argument("--distil-weight", type=float, default=TrainConfig.distil_weight)
    parser.add_argument("--distil-temperature", type=float, default=TrainConfig.distil_temperature)
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.input_size.lower().split("x"))
    except ValueError:
        parser.error(f"--input-size must be WIDTHxHEIGHT such as 200x150, not {args.input_size!r}")
    try:
        resolve_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    data = args.data or ham10000_dir()
    cfg = TrainConfig(
        seed=args.seed,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        limit=args.limit,
        max_steps=args.max_steps,
        loss=args.loss,
        la_tau=args.la_tau,
        colour=args.colour,
        zoom_min=args.zoom[0],
        zoom_max=args.zoom[1],
        input_width=width,
        input_height=height,
        backbone=args.backbone,
        init_from=args.init_from,
        freeze_blocks=args.freeze_blocks,
        warmup_steps=args.warmup_steps,
        ema_decay=args.ema_decay,
        threads=args.threads,
        channels_last=not args.contiguous,
        device=args.device,
        distil_from=args.distil_from,
        distil_weight=args.distil_weight,
        distil_temperature=args.distil_temperature,
    )
    best = train(cfg, args.out, data / "images", data / "metadata.csv")
    print(f"best checkpoint: {best}")


if __name__ == "__main__":
    main()
