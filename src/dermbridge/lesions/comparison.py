"""Change over time: a patient lesion's visits side by side, measured.

For each visit (an encounter whose referral the user may see) the dermoscopic photo (or the
close-up when there is none) is measured once (PhotoMeasurement) and shown as a square crop of
the same size, centred on the segmented lesion. When every visit is calibrated (the
dermatoscope's field of view is known and its aperture was found) the crops cover the same
number of mm, so growth shows as growth; otherwise each crop covers 2.5 times its own lesion.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from dermbridge.accounts.models import User
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.services import read_derivative
from dermbridge.lesions import analysis
from dermbridge.lesions.models import LesionEncounter, PatientLesion, PhotoMeasurement
from dermbridge.lesions.services import encounters_visible

CROP_PIXELS = 480
MIN_FIELD_MM = 10.0
FIELD_TIMES_LESION = 2.0
UNCALIBRATED_TIMES_LESION = 2.5


def fov_mm() -> float | None:
    value = float(getattr(settings, "DERMATOSCOPE_FOV_MM", 0) or 0)
    return value or None


@dataclass
class Visit:
    encounter: LesionEncounter
    date: dt.date
    recorded_mm: float | None
    image: LesionImage | None
    measured: dict[str, Any]
    side_fraction: float = 0.0

    @property
    def error(self) -> str:
        return str(self.measured.get("error", "")) if self.measured else "No photo to measure."

    @property
    def ok(self) -> bool:
        return bool(self.measured) and "error" not in self.measured


def _photo(encounter: LesionEncounter) -> LesionImage | None:
    ready = LesionImage.objects.filter(lesion_id=encounter.lesion_id, status=ImageStatus.READY)
    return (
        ready.filter(image_type=ImageType.DERMOSCOPIC).order_by("-uploaded_at", "-id").first()
        or ready.filter(image_type=ImageType.CLOSE_UP).order_by("-uploaded_at", "-id").first()
    )


def measurement(image: LesionImage, *, user: User) -> dict[str, Any]:
    """The lesion measured in `image` (computed once per algorithm version and field of view;
    the read of the photo is audited as any view is)."""
    fov = fov_mm() if image.image_type == ImageType.DERMOSCOPIC else None
    kept = PhotoMeasurement.objects.filter(image=image).first()
    if kept is not None and kept.version == analysis.VERSION and kept.fov_mm == fov:
        return dict(kept.results)
    data, _ = read_derivative(image, "viewer", user=user)
    try:
        results: dict[str, Any] = analysis.measure_photo(data, fov_mm=fov).as_dict()
    except analysis.NotMeasurable as exc:
        results = {"error": str(exc)}
    PhotoMeasurement.objects.update_or_create(
        image=image,
        defaults={
            "version": analysis.VERSION,
            "fov_mm": fov,
            "results": results,
            "measured_at": timezone.now(),
        },
    )
    return results


def visits(patient_lesion: PatientLesion, *, user: User) -> list[Visit]:
    """The lesion's visits the user may see, oldest first, measured and given crop sizes."""
    out = []
    for encounter in encounters_visible(patient_lesion, user):
        referral = encounter.lesion.referral
        image = _photo(encounter)
        size = encounter.lesion.size_mm
        out.append(
            Visit(
                encounter=encounter,
                date=timezone.localdate(referral.submitted_at or referral.created_at),
                recorded_mm=float(size) if size is not None else None,
                image=image,
                measured=measurement(image, user=user) if image is not None else {},
            )
        )
    _crop_sizes(out)
    return out


def calibrated(visits_: list[Visit]) -> bool:
    return bool(visits_) and all(v.ok and v.measured.get("mm_per_px") for v in visits_)


def _crop_sizes(visits_: list[Visit]) -> None:
    if calibrated(visits_):
        field_mm = max(
            MIN_FIELD_MM, FIELD_TIMES_LESION * max(v.measured["diameter_mm"] for v in visits_)
        )
        for v in visits_:
            px = field_mm / v.measured["mm_per_px"]
            v.side_fraction = px / v.measured["width"]
        return
    for v in visits_:
        if v.ok:
            v.side_fraction = min(
                1.0, UNCALIBRATED_TIMES_LESION * v.measured["diameter_px"] / v.measured["width"]
            )


def aligned_image(visit: Visit, *, user: User) -> bytes:
    """The visit's photo cropped square on the lesion at CROP_PIXELS (audited as a view)."""
    assert visit.image is not None
    data, _ = read_derivative(visit.image, "viewer", user=user)
    if not visit.ok:
        return analysis.aligned_crop(data, (0.5, 0.5), 1.0, CROP_PIXELS)
    centroid = (visit.measured["centroid"][0], visit.measured["centroid"][1])
    return analysis.aligned_crop(data, centroid, visit.side_fraction, CROP_PIXELS)


def growth_mm_per_year(visits_: list[Visit]) -> float | None:
    """The change of the measured diameter from the first to the last visit, per year."""
    points = [
        (v.date, v.measured["diameter_mm"])
        for v in visits_
        if v.ok and v.measured.get("diameter_mm")
    ]
    if len(points) < 2 or (points[-1][0] - points[0][0]).days < 1:
        return None
    days = (points[-1][0] - points[0][0]).days
    return round((points[-1][1] - points[0][1]) * 365.25 / days, 2)


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    low: float  # y of value - uncertainty
    high: float
    recorded_y: float | None
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[ChartPoint]
    ticks: list[tuple[float, str]]  # y, label (mm)
    line: str  # SVG polyline points


def chart(visits_: list[Visit], width: int = 480, height: int = 220) -> Chart | None:
    """Diameter over time as SVG coordinates: measured (with its uncertainty) and recorded."""
    rows = [v for v in visits_ if (v.ok and v.measured.get("diameter_mm")) or v.recorded_mm]
    if len(rows) < 2:
        return None
    left, right, top, bottom = 44, 36, 22, 32
    values = [
        x
        for v in rows
        for x in (
            (v.measured.get("diameter_mm") or 0) + (v.measured.get("diameter_mm_uncertainty") or 0)
            if v.ok
            else 0,
            v.recorded_mm or 0,
        )
    ]
    top_mm = max(5.0, float(int(max(values) * 1.2) + 1))
    first, last = rows[0].date, rows[-1].date
    span = max(1, (last - first).days)

    def y(mm: float) -> float:
        return round(top + (height - top - bottom) * (1 - mm / top_mm), 1)

    points = []
    for v in rows:
        x = round(left + (width - left - right) * (v.date - first).days / span, 1)
        mm = v.measured.get("diameter_mm") if v.ok else None
        unc = v.measured.get("diameter_mm_uncertainty") or 0 if v.ok else 0
        points.append(
            ChartPoint(
                x=x,
                y=y(mm) if mm else -1,
                low=y(mm - unc) if mm else -1,
                high=y(mm + unc) if mm else -1,
                recorded_y=y(v.recorded_mm) if v.recorded_mm else None,
                label=f"{v.date:%b %Y}",
            )
        )
    step = max(1, int(top_mm // 5))
    ticks = [(y(float(t)), f"{t}") for t in range(0, int(top_mm) + 1, step)]
    line = " ".join(f"{p.x},{p.y}" for p in points if p.y >= 0)
    return Chart(width, height, points, ticks, line)
