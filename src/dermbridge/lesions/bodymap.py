"""The patient's lesions drawn on the body map the referral form uses.

The regions (SNOMED CT site, the patient's side, x, y, width, height per view) are read from
the referral form's own map, web/static/web/bodymap.js, so there is one drawing to keep right:
a region moved there moves here. The map here is a picture (role="img" with a text
alternative); the list of lesions under it is what people and assistive technology navigate.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from django.contrib.staticfiles import finders

VIEW = re.compile(r"^\s{2}(front|back|face): \{\s*title: \"([^\"]+)\",\s*height: (\d+),", re.M)
REGION = re.compile(r'\["(\d+)", (R|L|""), (\d+), (\d+), (\d+), (\d+)\]')
WIDTH = 300


@dataclass(frozen=True)
class Region:
    code: str
    side: str
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class View:
    key: str
    title: str
    height: int
    regions: tuple[Region, ...]


@functools.cache
def views() -> tuple[View, ...]:
    path = finders.find("web/bodymap.js")
    if not path:
        return ()
    source = open(path, encoding="utf-8").read()  # noqa: SIM115 - read once per process
    found = list(VIEW.finditer(source))
    out = []
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(source)
        body = source[match.end() : end]
        regions = tuple(
            Region(
                code,
                {"R": "right", "L": "left"}.get(side, ""),
                int(x),
                int(y),
                int(w),
                int(h),
            )
            for code, side, x, y, w, h in REGION.findall(body)
        )
        out.append(View(match.group(1), match.group(2), int(match.group(3)), regions))
    return tuple(out)


@dataclass(frozen=True)
class Marker:
    number: int
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class DrawnView:
    view: View
    marked: frozenset[Region]
    markers: tuple[Marker, ...]


def _region_for(view: View, code: str, side: str) -> Region | None:
    exact = [r for r in view.regions if r.code == code and r.side == side]
    loose = [r for r in view.regions if r.code == code]
    found = exact or loose
    return found[0] if found else None


def draw(lesions: list[tuple[int, str, str, str]]) -> list[DrawnView]:
    """The views that show at least one of `lesions` ((number, code, side, label) each), with
    the regions to shade and a numbered marker per lesion (spread within a shared region)."""
    out = []
    for view in views():
        marked: set[Region] = set()
        markers: list[Marker] = []
        per_region: dict[Region, int] = {}
        for number, code, side, label in lesions:
            region = _region_for(view, code, side)
            if region is None:
                continue
            marked.add(region)
            k = per_region.get(region, 0)
            per_region[region] = k + 1
            x = region.x + min(region.w - 9, 11 + 18 * k)
            markers.append(Marker(number, x, region.y + region.h / 2, label))
        if markers:
            out.append(DrawnView(view, frozenset(marked), tuple(markers)))
    return out
