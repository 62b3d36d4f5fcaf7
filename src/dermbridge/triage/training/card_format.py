"""The model card's targets, number formatting and field lookups, shared by its sections and
the pipeline's ship gate."""

from __future__ import annotations

from typing import Any

# Issue 15's targets for triage-v3 on the held-out test split.
TARGETS = {
    "malignant_auroc": (">=", 0.94),
    "balanced_accuracy": (">=", 0.78),
    "accuracy": (">=", 0.84),
    "sensitivity": (">=", 0.95),
    "specificity": (">=", 0.65),
    "ece": ("<=", 0.04),
}


# A subgroup with fewer images or malignant images than these is flagged in the card.
SMALL_GROUP_IMAGES = 50
SMALL_GROUP_MALIGNANT = 10


def _num(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def _with_ci(s: dict[str, Any], name: str) -> str:
    lo, hi = s.get(f"{name}_ci", [None, None])
    return f"{_num(s.get(name))} ({_num(lo)}–{_num(hi)})"


def _met(s: dict[str, Any], name: str) -> bool:
    op, goal = TARGETS[name]
    value = s.get(name)
    return value is not None and (value >= goal if op == ">=" else value <= goal)


def _target_row(s: dict[str, Any], name: str) -> str:
    op, goal = TARGETS[name]
    value = s.get(name)
    met = _met(s, name)
    gap = "" if met or value is None else f" (short by {abs(value - goal):.3f})"
    return f"| {name} | {_with_ci(s, name)} | {op} {goal} | {'met' if met else 'missed' + gap} |"


def chosen_validation(card: dict[str, Any], key: str) -> float:
    """A validation number (``validation_selection_score``, ``validation_malignant_auroc``, ...)
    of the calibration a fitted card ships."""
    method = card["calibration_method"]
    return float(method["candidates_on_validation"][method["chosen"]][key])
