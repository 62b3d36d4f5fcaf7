"""How accurate the lesion measurement is on photos of known scale.

Synthetic dermoscopic photos (lesions/synthetic.py) with a round field of view of a known
diameter and a lesion of a known largest diameter are measured by lesions/analysis.py; the
report gives the error of the measured diameter in mm and as a share of the true one, and how
often the truth lies within the reported uncertainty. The grid: dermoscopic photos with lesion
diameters 2-15 mm, fields of view 20 and 25 mm, two frame sizes, the field of view filling 60 %
or 90 % of the short side, round and elongated (1.6:1) lesions, centred and 2-3 mm off centre,
two-tone lesions; and close-ups with a millimetre ruler across or down the frame at 8 to 40
pixels per mm, lesions 3-15 mm.

Run: ``python -m dermbridge.lesions.calibration [--out docs/benchmarks/lesion-measurement.json]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from dermbridge.lesions.analysis import NotMeasurable, measure_photo
from dermbridge.lesions.synthetic import close_up_with_ruler, dermoscopic_disc

DIAMETERS = (2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0)
FOVS = (20.0, 25.0)
FRAMES = ((1600, 1200), (1024, 768))
APERTURES = (0.6, 0.9)
SHAPES = ((1.0, (0.0, 0.0), False), (1.6, (2.0, -1.5), True))
# Close-ups with a millimetre ruler: pixels per mm in the 1200 x 900 photo, ruler across or down.
RULER_SCALES = (8.0, 12.0, 16.0, 25.0, 40.0)
RULER_DIAMETERS = (3.0, 6.0, 10.0, 15.0)


def run() -> dict[str, object]:
    rows: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    started = time.perf_counter()
    for i, (d, fov, (w, h), ap, (elong, offset, two)) in enumerate(
        itertools.product(DIAMETERS, FOVS, FRAMES, APERTURES, SHAPES)
    ):
        if d > 0.6 * fov:
            continue
        photo = dermoscopic_disc(
            diameter_mm=d,
            fov_mm=fov,
            width=w,
            height=h,
            aperture_fraction=ap,
            elongation=elong,
            offset=offset,
            two_tone=two,
            seed=i,
        )
        m = measure_photo(photo, fov_mm=fov)
        assert m.diameter_mm is not None and m.diameter_mm_uncertainty is not None
        rows.append(
            {
                "true_mm": d,
                "fov_mm": fov,
                "frame": f"{w}x{h}",
                "aperture": ap,
                "elongation": elong,
                "measured_mm": m.diameter_mm,
                "uncertainty_mm": m.diameter_mm_uncertainty,
                "error_mm": round(m.diameter_mm - d, 3),
                "colours": m.colour_count,
                "asymmetry": m.asymmetry,
            }
        )
    for i, (ppm, d, vertical) in enumerate(
        itertools.product(RULER_SCALES, RULER_DIAMETERS, (False, True))
    ):
        if d * ppm > 0.7 * 900:
            continue  # the lesion would not fit above the ruler
        try:
            m = measure_photo(
                close_up_with_ruler(diameter_mm=d, px_per_mm=ppm, vertical=vertical, seed=i),
                fov_mm=None,
            )
        except NotMeasurable as exc:
            refused.append({"true_mm": d, "ruler_px_per_mm": ppm, "why": str(exc)})
            continue
        assert m.scale_source == "ruler" and m.diameter_mm is not None
        assert m.diameter_mm_uncertainty is not None
        rows.append(
            {
                "true_mm": d,
                "fov_mm": None,
                "ruler_px_per_mm": ppm,
                "frame": "1200x900" + (" (ruler down the side)" if vertical else ""),
                "aperture": None,
                "elongation": 1.0,
                "measured_mm": m.diameter_mm,
                "uncertainty_mm": m.diameter_mm_uncertainty,
                "error_mm": round(m.diameter_mm - d, 3),
                "colours": m.colour_count,
                "asymmetry": m.asymmetry,
            }
        )
    errors = np.array([r["error_mm"] for r in rows])
    rel = np.array([r["error_mm"] / r["true_mm"] for r in rows])
    within = np.mean([abs(r["error_mm"]) <= 2 * r["uncertainty_mm"] for r in rows])
    two_tone = [r for r in rows if r["elongation"] > 1]

    def summary(subset: list[dict[str, Any]]) -> dict[str, float]:
        e = np.array([r["error_mm"] for r in subset])
        rel_ = np.array([r["error_mm"] / r["true_mm"] for r in subset])
        return {
            "images": len(subset),
            "bias_mm": round(float(e.mean()), 3),
            "mean_abs_error_mm": round(float(np.abs(e).mean()), 3),
            "max_abs_error_mm": round(float(np.abs(e).max()), 3),
            "mean_abs_error_percent": round(float(np.abs(rel_).mean() * 100), 2),
            "max_abs_error_percent": round(float(np.abs(rel_).max() * 100), 2),
            "within_2_uncertainties": round(
                float(np.mean([abs(r["error_mm"]) <= 2 * r["uncertainty_mm"] for r in subset])), 3
            ),
        }

    return {
        "field_of_view": summary([r for r in rows if r["fov_mm"]]),
        "ruler": summary([r for r in rows if not r["fov_mm"]]),
        "images": len(rows),
        "seconds": round(time.perf_counter() - started, 1),
        "bias_mm": round(float(errors.mean()), 3),
        "mean_abs_error_mm": round(float(np.abs(errors).mean()), 3),
        "p95_abs_error_mm": round(float(np.percentile(np.abs(errors), 95)), 3),
        "max_abs_error_mm": round(float(np.abs(errors).max()), 3),
        "mean_abs_error_percent": round(float(np.abs(rel).mean() * 100), 2),
        "max_abs_error_percent": round(float(np.abs(rel).max() * 100), 2),
        "within_2_uncertainties": round(float(within), 3),
        "two_tone_found_2_colours": round(float(np.mean([r["colours"] == 2 for r in two_tone])), 3),
        "round_found_1_colour": round(
            float(
                np.mean([r["colours"] == 1 for r in rows if r["elongation"] == 1.0 and r["fov_mm"]])
            ),
            3,
        ),
        "not_measured": refused,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report = run()
    summary = {k: v for k, v in report.items() if k != "rows"}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
