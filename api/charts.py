"""Small inline SVG charts for the operator dashboard: no script, no library, readable
without colour (each series is also named in a legend and listed in a table)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 560, 140, 24
COLOURS = ("#1d4ed8", "#b45309", "#047857")


def bars(values: Sequence[float], label: str) -> str:
    """One bar per value, left to right (e.g. ratings per minute)."""
    top = max(values, default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values), 1)
    rects = "".join(
        f'<rect x="{PAD + i * step:.1f}" y="{HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD):.1f}" '
        f'width="{max(step - 1, 1):.1f}" height="{(v / top) * (HEIGHT - 2 * PAD):.1f}" fill="{COLOURS[0]}"/>'
        for i, v in enumerate(values)
    )
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
            f'<text x="{PAD}" y="14" font-size="11">max {top:,.0f}</text>{rects}'
            f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
            'stroke="#888"/></svg>')


def lines(series: dict[str, Sequence[float | None]], label: str) -> str:
    """Each named series as a line over the same x positions, scaled on its own (the
    legend gives each one's range); a None is a gap."""
    paths, legend = [], []
    for n, (name, values) in enumerate(series.items()):
        known = [v for v in values if v is not None]
        if not known:
            continue
        low, high = min(known), max(known)
        span = (high - low) or 1.0
        step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
        points = " ".join(
            f"{PAD + i * step:.1f},{HEIGHT - PAD - ((v - low) / span) * (HEIGHT - 2 * PAD):.1f}"
            for i, v in enumerate(values) if v is not None
        )
        colour = COLOURS[n % len(COLOURS)]
        paths.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        legend.append(f'<text x="{PAD + n * 200}" y="14" font-size="11" fill="{colour}">'
                      f'{escape(name)}: {low:.4f} … {high:.4f}</text>')
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
            f'{"".join(legend)}{"".join(paths)}</svg>')
