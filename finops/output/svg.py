"""Charts as inline SVG: drawn here, in Python, so the HTML report needs no script, no CDN and no network, and
opens the same in a browser, a CI artifact viewer or an email client. Every label is escaped (tags are user input);
every mark carries a <title> so a hover shows the exact figure."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#db2777", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def legend(names: Sequence[str], colors: Sequence[str], x: float, y: float) -> str:
    parts, cursor = [], x
    for name, color in zip(names, colors, strict=True):
        parts.append(f'<rect x="{cursor:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{cursor + 14:.1f}" y="{y:.1f}" {FONT}>{escape(name)}</text>')  # fmt: skip
        cursor += 24 + 6.5 * len(name)
    return "".join(parts)


def stacked_columns(columns: Sequence[tuple[str, Sequence[float]]], segments: Sequence[str], *, unit: str = "",
                    width: int = 900, height: int = 260, label_every: int = 7) -> str:  # fmt: skip
    """One column per x (a day), stacked by segment (a provider)."""
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(segments))]
    top = max((sum(max(v, 0) for v in values) for _, values in columns), default=0) or 1
    left, bottom, plot_h = 60, height - 40, height - 70
    step = (width - left - 10) / max(len(columns), 1)
    parts = [_axis(left, bottom, width, plot_h, top, unit)]
    for i, (label, values) in enumerate(columns):
        x, y = left + i * step, float(bottom)
        for value, color, segment in zip(values, colors, segments, strict=True):
            if value <= 0:
                continue
            h = value / top * plot_h
            y -= h
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>{escape(label)} {escape(segment)}: {unit}{value:,.2f}</title>'
                         "</rect>")  # fmt: skip
        if i % label_every == 0:
            parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" {FONT}>{escape(label)}</text>')
    parts.append(legend(segments, colors, left, height - 6))
    return _svg(width, height, "".join(parts))


def stacked_rows(rows: Sequence[tuple[str, Sequence[float]]], segments: Sequence[str], *, unit: str = "",
                 width: int = 900, colors: Sequence[str] | None = None) -> str:  # fmt: skip
    """One horizontal bar per row (a team, an instance), stacked by segment (direct/shared/idle, busy/idle)."""
    colors = list(colors or [PALETTE[i % len(PALETTE)] for i in range(len(segments))])
    row_h, left, right = 22, 170, 120
    height = 30 + row_h * len(rows) + 26
    top = max((sum(max(v, 0) for v in values) for _, values in rows), default=0) or 1
    plot_w = width - left - right
    parts = []
    for i, (label, values) in enumerate(rows):
        y, x = 20 + i * row_h, float(left)
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" {FONT}>{escape(label[:28])}</text>')
        for value, color, segment in zip(values, colors, segments, strict=True):
            if value <= 0:
                continue
            w = value / top * plot_w
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{color}">'
                         f"<title>{escape(label)} {escape(segment)}: {unit}{value:,.2f}</title></rect>")  # fmt: skip
            x += w
        total = sum(values)
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 14}" {FONT}>{unit}{total:,.0f}</text>')
    parts.append(legend(segments, colors, left, height - 8))
    return _svg(width, height, "".join(parts))


def lines(series: Sequence[tuple[str, Sequence[tuple[str, float | None]]]], *, unit: str = "", width: int = 900,
          height: int = 240, label_every: int = 7) -> str:  # fmt: skip
    """One line per series (an endpoint) over shared x labels (days); a gap where a value is missing."""
    xs = sorted({x for _, points in series for x, _ in points})
    values = [v for _, points in series for _, v in points if v is not None]
    top = max(values, default=0) * 1.1 or 1
    left, bottom, plot_h = 60, height - 40, height - 70
    step = (width - left - 20) / max(len(xs) - 1, 1)
    where = {x: left + i * step for i, x in enumerate(xs)}
    parts = [_axis(left, bottom, width, plot_h, top, unit, places=3)]
    names = [name for name, _ in series]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    for (name, points), color in zip(series, colors, strict=True):
        path, pen = [], "M"
        for x, v in points:
            if v is None:
                pen = "M"
                continue
            y = bottom - v / top * plot_h
            path.append(f"{pen}{where[x]:.1f},{y:.1f}")
            parts.append(f'<circle cx="{where[x]:.1f}" cy="{y:.1f}" r="2.2" fill="{color}">'
                         f"<title>{escape(name)} {escape(x)}: {unit}{v:,.4f}</title></circle>")  # fmt: skip
            pen = "L"
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="1.6"/>')
    for i, x in enumerate(xs):
        if i % label_every == 0:
            parts.append(f'<text x="{where[x]:.1f}" y="{bottom + 14}" {FONT}>{escape(x)}</text>')
    parts.append(legend(names, colors, left, height - 6))
    return _svg(width, height, "".join(parts))


def _axis(left: int, bottom: int, width: int, plot_h: int, top: float, unit: str, places: int = 0) -> str:
    parts = [f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#999"/>']
    for k in range(5):
        value = top * k / 4
        y = bottom - plot_h * k / 4
        label = f"{unit}{value:,.{places}f}"
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{label}</text>')  # fmt: skip
    return "".join(parts)


def _svg(width: int, height: int, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" preserveAspectRatio="xMinYMin meet">{body}</svg>')  # fmt: skip
