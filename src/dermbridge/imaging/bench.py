"""Benchmark the image pipeline on 12 MP phone-sized photos against a Pillow floor.

For a synthetic-but-photo-like 4032 x 3024 JPEG (upright, and tagged 'rotate 90'
as portrait phone photos are) and a 12 MP HEIC, on one core:

* time of ``process_image`` as a ratio to the floor "decode once, encode once with
  Pillow" (same JPEG settings as the master), best of several runs;
* peak memory above the process's baseline: RSS high-water mark (each measurement
  in a fresh process) and tracemalloc's peak (Python and numpy allocations only:
  Pillow's pixel buffers are invisible to it), against one decoded RGB frame;
* images per second with two worker processes.

Run: ``python -m dermbridge.imaging.bench`` (``make bench``); writes docs/benchmarks/imaging.json.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image

from .pipeline import PipelineConfig, process_image

REPO = Path(__file__).resolve().parents[3]
WIDTH, HEIGHT = 4032, 3024
FRAME_BYTES = WIDTH * HEIGHT * 3


def phone_photo(seed: int = 0) -> Image.Image:
    """Skin-like gradients, structure at several scales and sensor noise, at 12 MP."""
    rng = np.random.default_rng(seed)
    small_w, small_h = WIDTH // 8, HEIGHT // 8
    y, x = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    base = np.stack(
        [
            190 + 30 * np.sin(x / 60) + 10 * np.cos(y / 23),
            140 + 20 * np.cos(y / 45) + 8 * np.sin(x / 17),
            120 + 15 * np.sin((x + y) / 80),
        ],
        axis=-1,
    )
    base += rng.normal(0, 8, base.shape)
    lesion = np.hypot(y - small_h / 2, x - small_w / 2) < small_h * 0.15
    base[lesion] *= 0.45
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).resize(
        (WIDTH, HEIGHT), Image.Resampling.BICUBIC
    )
    pixels = np.asarray(image, dtype=np.int16)
    pixels += rng.normal(0, 5, pixels.shape).astype(
        np.int16
    )  # sensor noise: compresses like a photo
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_inputs(folder: Path) -> dict[str, Path]:
    pillow_heif.register_heif_opener()
    photo = phone_photo()
    paths = {"jpeg": folder / "phone.jpg", "jpeg_rotated": folder / "phone-rotated.jpg"}
    photo.save(paths["jpeg"], "JPEG", quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(paths["jpeg_rotated"], "JPEG", quality=92, exif=exif)
    paths["heic"] = folder / "phone.heic"
    photo.save(paths["heic"], "HEIF", quality=80)
    return paths


def floor(data: bytes, quality: int) -> None:
    """The least any pipeline must do: decode the upload once and encode one JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=quality, subsampling="4:2:0")


def pipeline(data: bytes, quality: int) -> None:
    process_image(
        io.BytesIO(data), declared_type="close_up", config=PipelineConfig(master_quality=quality)
    )


TASKS: dict[str, Callable[[bytes, int], None]] = {"floor": floor, "pipeline": pipeline}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    """Reset the RSS high-water mark (Linux >= 4.0), so the peak is this run's alone."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pillow_heif.register_heif_opener()
    pillow_heif.options.DECODE_THREADS = 1


def _memory(args: tuple[str, str, int]) -> dict[str, float]:
    """In a fresh process: peak RSS and tracemalloc peak of one run, after one warm-up run."""
    task_name, path, quality = args
    _one_core()
    task = TASKS[task_name]
    data = Path(path).read_bytes()
    task(data, quality)  # warm up: imports, codec tables, transform caches
    baseline = _status_kb("VmRSS") * 1024
    _reset_peak_rss()
    tracemalloc.start()
    task(data, quality)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = _status_kb("VmHWM") * 1024
    return {
        "rss_peak_above_baseline_mb": max(0, peak_rss - baseline) / 2**20,
        "tracemalloc_peak_mb": traced_peak / 2**20,
    }


def _timing(args: tuple[str, int, int]) -> dict[str, float]:
    """In one process on one core, floor and pipeline interleaved: the best time of each.

    Interleaving makes both see the same background load, so the ratio holds on a busy
    machine even when the absolute times do not.
    """
    path, quality, repeat = args
    _one_core()
    data = Path(path).read_bytes()
    best = {name: float("inf") for name in TASKS}
    for task in TASKS.values():
        task(data, quality)  # warm up
    for _ in range(repeat):
        for name, task in TASKS.items():
            started = time.perf_counter()
            task(data, quality)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def _throughput(path: Path, images: int, workers: int) -> float:
    data = path.read_bytes()
    with mp.get_context("spawn").Pool(workers) as pool:
        pool.starmap(pipeline, [(data, 92)] * workers)  # warm both workers
        started = time.perf_counter()
        pool.starmap(pipeline, [(data, 92)] * images)
        return images / (time.perf_counter() - started)


def run(repeat: int = 5, throughput_images: int = 8) -> dict[str, Any]:
    import tempfile

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        },
        "frame_mb": round(FRAME_BYTES / 2**20, 1),
        "goal": "pipeline <= 2.0 x floor time; peak memory <= 4 x one decoded frame",
        "method": (
            "seconds: best of N, floor and pipeline interleaved in one process pinned to one "
            "core (so both see the same background load); memory: a fresh process per task, "
            "RSS high-water mark reset after a warm-up run; frame = width x height x 3 bytes"
        ),
        "inputs": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        paths = make_inputs(Path(folder))
        context = mp.get_context("spawn")
        for name, path in paths.items():
            entry: dict[str, Any] = {"bytes": path.stat().st_size}
            with context.Pool(1) as pool:
                seconds = pool.map(_timing, [(str(path), 92, repeat)])[0]
            for task_name in TASKS:
                with context.Pool(1) as pool:
                    measured = pool.map(_memory, [(task_name, str(path), 92)])[0]
                measured["seconds"] = seconds[task_name]
                entry[task_name] = {k: round(v, 3) for k, v in measured.items()}
            entry["time_ratio"] = round(entry["pipeline"]["seconds"] / entry["floor"]["seconds"], 2)
            entry["rss_peak_frames"] = round(
                entry["pipeline"]["rss_peak_above_baseline_mb"] * 2**20 / FRAME_BYTES, 2
            )
            entry["images_per_second_2_workers"] = round(_throughput(path, throughput_images, 2), 2)
            results["inputs"][name] = entry
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the image pipeline.")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--throughput-images", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "imaging.json")
    args = parser.parse_args(argv)
    results = run(args.repeat, args.throughput_images)
    text = json.dumps(results, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
