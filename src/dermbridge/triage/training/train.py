"""Fine-tune the triage network on the HAM10000 training split (CPU, resumable, deterministic).

Run with ``python -m dermbridge.triage.training.train`` (``make train`` runs the whole pipeline).
A checkpoint is written after every epoch; re-running the same command resumes from the last one.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from dermbridge.triage import metrics
from dermbridge.triage.labels import CLASSES, MALIGNANT_INDICES
from dermbridge.triage.training.augment import augment, to_tensor
from dermbridge.triage.training.data import (
    DEFAULT_SEED,
    REPO_DIR,
    ham10000_dir,
    lesion_grouped_splits,
    load_arrays,
    read_metadata,
)
from dermbridge.triage.training.model import TriageNet


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
    threads: int = 2
    limit: int = 0  # >0: use only this many training images (smoke tests)
    max_steps: int = 0  # >0: stop after this many optimiser steps in total (smoke tests)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
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


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to zero."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def predict_logits(model: TriageNet, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Eval-mode logits for uint8 images (no augmentation, no flip averaging)."""
    model.eval()
    out = []
    for i in range(0, len(pixels), batch_size):
        x = to_tensor(torch.from_numpy(pixels[i : i + batch_size]))
        out.append(model(x).numpy())
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
    gen = seed_everything(cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = lesion_grouped_splits(read_metadata(metadata), seed=cfg.seed)
    train_recs = splits["train"][: cfg.limit] if cfg.limit else splits["train"]
    val_recs = splits["validation"][: cfg.limit] if cfg.limit else splits["validation"]
    cache = None if cfg.limit else REPO_DIR / "var" / "triage" / "cache"
    x_train, y_train = load_arrays(train_recs, images_dir, cache, "train")
    x_val, y_val = load_arrays(val_recs, images_dir, cache, "validation")

    model = TriageNet(pretrained=True)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay
        else None
    )
    weights = class_weights(y_train, cfg.class_weight_power)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    start_epoch, step, best_score = 0, 0, -math.inf
    history: list[dict[str, Any]] = []

    last = out_dir / "last.pt"
    if last.exists():
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        best_score, history = state["best_score"], state["history"]
        print(f"resumed from {last} after epoch {state['epoch'] + 1}", flush=True)

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen).numpy()
        t0, running = time.time(), 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", mininterval=30)
        for b in bar:
            idx = np.sort(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            x = augment(torch.from_numpy(x_train[idx]), gen)
            y = torch.from_numpy(y_train[idx])
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total_steps, cfg)
            loss = F.cross_entropy(model(x), y, weight=weights, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            running += loss.item()
            bar.set_postfix(loss=f"{running / (b + 1):.3f}", refresh=False)
            if cfg.max_steps and step >= cfg.max_steps:
                break
        # What is evaluated, selected and exported: the averaged weights when EMA is on.
        shipped: TriageNet = ema.module if ema is not None else model  # type: ignore[assignment]
        val = evaluate(predict_logits(shipped, x_val), y_val)
        # Model selection: equal weight to balanced accuracy and malignant AUROC.
        score = 0.5 * (val["balanced_accuracy"] + val["malignant_auroc"])
        if math.isnan(score):
            score = val["balanced_accuracy"]
        record = {
            "epoch": epoch + 1,
            "train_loss": running / max(1, b + 1),
            "seconds": time.time() - t0,
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
            "torch_rng": torch.get_rng_state(),
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
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help="HAM10000 folder")
    args = parser.parse_args(argv)
    data = args.data or ham10000_dir()
    cfg = TrainConfig(
        seed=args.seed,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        limit=args.limit,
        max_steps=args.max_steps,
    )
    best = train(cfg, args.out, data / "images", data / "metadata.csv")
    print(f"best checkpoint: {best}")


if __name__ == "__main__":
    main()
