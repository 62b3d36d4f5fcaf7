"""Small SVG charts drawn on the server, readable without JavaScript or styles.

The content security policy forbids inline styles, so every colour and font is an SVG
presentation attribute (fill, stroke, font-size), never style="". Each chart is an image with a
<title> and <desc> that say what it shows; the page puts the same numbers in a table beside it
for screen-reader and keyboard users, so the chart never carries information alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

from dermbridge.referrals.models import ReferralKind
from dermbridge.reporting.metrics import KIND_ORDER, FasterDiagnosis, WeekCounts

# NHS identity colours, chosen to stay apart for the common colour-vision deficiencies.
KIND_COLOURS = {
    ReferralKind.ADVICE: "#41b6e6",  # NHS light blue
    ReferralKind.TRIAGE: "#005eb8",  # NHS blue
    ReferralKind.URGENT_CANCER: "#330072",  # NHS purple
}
KIND_SHORT = {
    ReferralKind.ADVICE: "A&G",
    ReferralKind.TRIAGE: "RAS",
    ReferralKind.URGENT_CANCER: "USC",
}
TEXT = "#212b32"
GRID = "#d8dde0"
FONT = 'font-family="Frutiger W01, Arial, sans-serif"'


def _text(
    x: float, y: float, body: str, *, size: int = 12, anchor: str = "start", fill: str = TEXT
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" {FONT} font-size="{size}" fill="{fill}" '
        f'text-anchor="{anchor}">{escape(body)}</text>'
    )


def _svg(
    chart_id: str, width: int, height: int, title: str, desc: str, body: list[str]
) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="db-chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'focusable="false">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )
    # Every piece of text is escaped above; the markup itself is ours.
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308


def _nice_step(value: int, steps: int = 4) -> int:
    """A round whole-number grid step (1, 2, 5 x 10^n) so `steps` of them reach `value`."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude * steps >= value:
                return step * magnitude
        magnitude *= 10


def weekly_referrals_chart(weeks: Sequence[WeekCounts], chart_id: str = "weekly") -> SafeString:
    """Stacked bars: referrals submitted per week, A&G, RAS and USC in a fixed order."""
    width, height = 720, 300
    left, right, top, bottom = 44, 12, 36, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    step = _nice_step(max((w.total for w in weeks), default=0))
    peak = step * 4
    total = sum(w.total for w in weeks)
    busiest = max(weeks, key=lambda w: w.total, default=None)
    title = "Referrals submitted per week, by pathway"
    desc = f"{len(weeks)} week{'' if len(weeks) == 1 else 's'}, {total} referral{'' if total == 1 else 's'} in all."
    if busiest is not None and busiest.total:
        desc += f" Busiest week starting {busiest.week_start:%d %b %Y}: {busiest.total}."
    body: list[str] = []
    # Legend, in stacking order.
    x = float(left)
    for kind in KIND_ORDER:
        body.append(f'<rect x="{x:.1f}" y="8" width="14" height="14" fill="{KIND_COLOURS[kind]}"/>')
        body.append(_text(x + 20, 20, str(ReferralKind(kind).label)))
        x += 32 + 6.6 * len(str(ReferralKind(kind).label))
    # Horizontal grid lines and the count axis.
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        body.append(_text(left - 6, y + 4, str(step * i), size=11, anchor="end"))
    slot = plot_w / max(len(weeks), 1)
    bar = min(max(slot * 0.7, 2.0), 48.0)
    label_every = max(1, round(len(weeks) / 12))
    for i, week in enumerate(weeks):
        x0 = left + slot * i + (slot - bar) / 2
        y = float(top + plot_h)
        for kind in KIND_ORDER:
            n = week.by_kind()[kind]
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            body.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{KIND_COLOURS[kind]}"><title>Week starting {week.week_start:%d %b}: '
                f"{n} {escape(KIND_SHORT[kind])}</title></rect>"
            )
        if i % label_every == 0:
            body.append(
                _text(
                    x0 + bar / 2,
                    top + plot_h + 16,
                    f"{week.week_start:%d %b}",
                    size=11,
                    anchor="middle",
                )
            )
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{TEXT}" stroke-width="1"/>'
    )
    body.append(
        _text(left + plot_w / 2, height - 6, "Week starting (Monday)", size=11, anchor="middle")
    )
    return _svg(chart_id, width, height, title, desc, body)


def fds_bullet_chart(fds: FasterDiagnosis, chart_id: str = "fds") -> SafeString:
    """A bullet chart: the period's FDS compliance against the national target and 90% for skin."""
    width, height = 720, 120
    left, right = 12, 12
    plot_w = width - left - right
    bar_y, bar_h = 34, 28
    title = "Faster Diagnosis Standard: patients told within 28 days"
    value = fds.compliance
    national, skin = fds.national_target, fds.skin_expectation
    if value is None:
        desc = "No urgent suspected cancer referrals have reached 28 days or been told yet."
    else:
        desc = (
            f"{value:.0%} told within 28 days ({fds.told_within} of {fds.counted}); "
            f"national target {national:.0%}, skin services expected above {skin:.0%}."
        )
    body = [
        f'<rect x="{left}" y="{bar_y - 6}" width="{plot_w}" height="{bar_h + 12}" fill="#e8edee"/>'
    ]
    if value is not None:
        body.append(
            f'<rect x="{left}" y="{bar_y}" width="{plot_w * value:.1f}" height="{bar_h}" '
            f'fill="{"#007f3b" if value >= skin else "#005eb8" if value >= national else "#d5281b"}"/>'
        )
    for target, label, dy in ((national, "National", -10), (skin, "Skin", bar_h + 24)):
        x = left + plot_w * target
        body.append(
            f'<line x1="{x:.1f}" y1="{bar_y - 10}" x2="{x:.1f}" y2="{bar_y + bar_h + 10}" '
            f'stroke="{TEXT}" stroke-width="3"/>'
        )
        body.append(_text(x, bar_y + dy, f"{label} {target:.0%}", size=12, anchor="middle"))
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + plot_w * tick
        anchor = "start" if tick == 0 else "end" if tick == 1 else "middle"
        body.append(_text(x, height - 8, f"{tick:.0%}", size=11, anchor=anchor))
    if value is None:
        body.append(_text(left + 8, bar_y + 19, "No data yet", size=14))
    else:
        # White on the bar when it is wide enough to hold the figure, dark beside it otherwise.
        inside = plot_w * value >= 60
        x = left + 8 if inside else left + plot_w * value + 8
        body.append(
            _text(x, bar_y + 19, f"{value:.0%}", size=14, fill="#ffffff" if inside else TEXT)
        )
    return _svg(chart_id, width, height, title, desc, body)
