"""How the dashboard writes its numbers: shares as whole percentages, durations in working days."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.834 -> '83%'; None (nothing to divide) -> 'No data', never a misleading 0%."""
    return "No data" if value is None else f"{value:.0%}"


@register.filter
def working_days(value: float | None) -> str:
    """0.75 -> '0.8 working days'; None -> 'No data'."""
    if value is None:
        return "No data"
    return f"{value:.1f} working day{'' if round(value, 1) == 1 else 's'}"


@register.filter
def share_of(part: int, whole: int) -> str:
    """The share `part` is of `whole` as a whole percentage, or 'No data'."""
    return percent(part / whole if whole else None)
