"""HAM10000-style metadata rows (official columns), shared by training and ``triage-eval``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from dermbridge.triage.labels import CLASSES


@dataclass(frozen=True)
class Record:
    """One HAM10000 image row: which lesion, which image, its diagnosis and patient metadata."""

    lesion_id: str
    image_id: str
    dx: str
    dx_type: str
    age: float | None
    sex: str
    localization: str

    @property
    def label(self) -> int:
        return CLASSES.index(self.dx)


def read_metadata(path: Path) -> list[Record]:
    """Read a HAM10000-style metadata CSV (official columns)."""
    records: list[Record] = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            age = row.get("age", "")
            records.append(
                Record(
                    lesion_id=row["lesion_id"],
                    image_id=row["image_id"],
                    dx=row["dx"],
                    dx_type=row.get("dx_type", ""),
                    age=float(age) if age not in ("", None) else None,
                    sex=row.get("sex", "") or "unknown",
                    localization=row.get("localization", "") or "unknown",
                )
            )
    return records
