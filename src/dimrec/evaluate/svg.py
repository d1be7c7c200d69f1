"""Small self-contained SVG charts for the HTML report (no plotting library needed).

Three shapes: lines (a metric against k or a threshold), horizontal bars (the tuning grid)
and intervals (differences with their confidence intervals around zero). Every label is
escaped; the output is a plain ``<svg>`` string to inline into HTML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
FONT = 'font-family="sans-serif" font-size="11"'


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 320,
) -> str:
    """One polyline with markers per series; a legend on the right."""
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    left, right, top, bottom = 56, 220, 28, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_low, y_high = min(0.0, min(ys)), max(ys) * 1.08 or 1.0

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    parts = [_header(width, height, title)]
    parts += _axes(left, top, plot_w, plot_h, x_label, y_label)
    for tick in _ticks(y_low, y_high):
        y = sy(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{_fmt(tick)}</text>'
        )
    for tick in sorted(set(xs)) if len(set(xs)) <= 12 else _ticks(x_low, x_high):
        x = sx(tick)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" {FONT}>'
            f"{_fmt(tick)}</text>"
        )
    for number, (name, values) in enumerate(series.items()):
        colour = PALETTE[number % len(PALETTE)]
        ordered = sorted(values)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ordered)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in ordered:
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)}: {_fmt(x)} → {y:.4f}</title></circle>"
            )
        ly = top + 14 * number
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 26}" y="{ly + 9}" {FONT}>{escape(_short(name, 34))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_label: str,
    highlight: int | None = None,
    width: int = 760,
) -> str:
    """Horizontal bars, one per label, in the given order."""
    if not labels:
        return ""
    row, left, top = 16, 300, 28
    plot_w = width - left - 70
    height = top + row * len(labels) + 30
    high = max(max(values), 1e-12)
    parts = [_header(width, height, title)]
    for number, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + number * row
        length = max(value, 0.0) / high * plot_w
        colour = "#d62728" if number == highlight else "#1f77b4"
        parts.append(
            f'<text x="{left - 6}" y="{y + 11}" text-anchor="end" {FONT}>'
            f"{escape(_short(label, 48))}</text>"
            f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{row - 4}" fill="{colour}">'
            f"<title>{escape(label)}: {value:.4f}</title></rect>"
            f'<text x="{left + length + 4:.1f}" y="{y + 11}" {FONT}>{value:.4f}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" {FONT}>'
        f"{escape(value_label)}</text></svg>"
    )
    return "".join(parts)


def interval_chart(
    labels: Sequence[str],
    means: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    title: str,
    value_label: str,
    width: int = 760,
) -> str:
    """A point and whisker per label around a zero line (a forest plot)."""
    if not labels:
        return ""
    row, left, top = 20, 300, 28
    plot_w = width - left - 40
    height = top + row * len(labels) + 36
    low = min(min(lows), 0.0)
    high = max(max(highs), 0.0)
    span = (high - low) or 1.0
    low, high = low - 0.05 * span, high + 0.05 * span

    def sx(x: float) -> float:
        return left + (x - low) / (high - low) * plot_w

    parts = [_header(width, height, title)]
    zero = sx(0.0)
    bottom = top + row * len(labels)
    parts.append(
        f'<line x1="{zero:.1f}" y1="{top}" x2="{zero:.1f}" y2="{bottom}" stroke="#999" '
        'stroke-dasharray="4 3"/>'
    )
    for tick in _ticks(low, high):
        parts.append(
            f'<text x="{sx(tick):.1f}" y="{bottom + 14}" text-anchor="middle" {FONT}>'
            f"{_fmt(tick)}</text>"
        )
    for number, label in enumerate(labels):
        y = top + number * row + row / 2
        mean, lo, hi = means[number], lows[number], highs[number]
        colour = "#2ca02c" if lo > 0 else "#d62728" if hi < 0 else "#555"
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>'
            f"{escape(_short(label, 48))}</text>"
            f'<line x1="{sx(lo):.1f}" y1="{y:.1f}" x2="{sx(hi):.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{sx(mean):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
            f"<title>{escape(label)}: {mean:+.4f} [{lo:+.4f}, {hi:+.4f}]</title></circle>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" {FONT}>'
        f"{escape(value_label)}</text></svg>"
    )
    return "".join(parts)


def _header(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f'<text x="8" y="16" font-family="sans-serif" font-size="13" font-weight="bold">'
        f"{escape(title)}</text>"
    )


def _axes(left: int, top: int, w: int, h: int, x_label: str, y_label: str) -> list[str]:
    return [
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#333"/>',
        f'<text x="{left + w / 2:.1f}" y="{top + h + 32}" text-anchor="middle" {FONT}>'
        f"{escape(x_label)}</text>",
        f'<text x="14" y="{top + h / 2:.1f}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 14 {top + h / 2:.1f})">{escape(y_label)}</text>',
    ]


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
