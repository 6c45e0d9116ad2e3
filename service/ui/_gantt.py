"""A run's timeline as inline SVG: one bar per run attempt (submission, resubmission,
repair), then one bar per task attempt, on one time axis.

Lockgate keeps each task's latest attempt (``task_runs``: Databricks' attempt number,
start and end) and every run attempt (``run_attempts``); the bars show exactly those.
A bar still running ends at ``now``. Each bar's label says what it is and its state, so
the chart reads without colour; the page's task table holds the same facts as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH = 960
LABEL_WIDTH = 260
ROW_HEIGHT = 22
ROW_GAP = 6
AXIS_HEIGHT = 24
MIN_BAR = 2.0


@dataclass(frozen=True)
class Bar:
    label: str
    state: str
    start: datetime
    end: datetime | None  # None: still going
    kind: str  # attempt | task


def _state_class(state: str) -> str:
    return "state-" + "".join(c if c.isalnum() else "-" for c in state.lower())


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def render_svg(bars: Sequence[Bar], *, now: datetime) -> Markup:
    if not bars:
        return Markup("")
    start = min(b.start for b in bars)
    end = max((b.end or now) for b in bars)
    span = max((end - start).total_seconds(), 1.0)
    scale = (WIDTH - LABEL_WIDTH - 10) / span
    height = AXIS_HEIGHT + len(bars) * (ROW_HEIGHT + ROW_GAP)
    out = [
        f'<svg class="gantt" role="img" aria-labelledby="gantt-title" '
        f'viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="gantt-title">Timeline: {len(bars)} bars over {_seconds(span)}</title>',
        f'<text class="axis" x="{LABEL_WIDTH}" y="14">0 s</text>',
        f'<text class="axis" x="{WIDTH - 10}" y="14" text-anchor="end">'
        f"{escape(_seconds(span))}</text>",
    ]
    for row, bar in enumerate(bars):
        y = AXIS_HEIGHT + row * (ROW_HEIGHT + ROW_GAP)
        finish = bar.end or now
        x = LABEL_WIDTH + (bar.start - start).total_seconds() * scale
        width = max(MIN_BAR, (finish - bar.start).total_seconds() * scale)
        took = _seconds(max((finish - bar.start).total_seconds(), 0.0))
        text = f"{bar.label}: {bar.state}, {took}{'' if bar.end else ' so far'}"
        out.append(
            f'<g class="gantt-row gantt-{escape(bar.kind)} {_state_class(bar.state)}">'
            f"<title>{escape(text)}</title>"
            f'<text class="gantt-label" x="4" y="{y + 15}">{escape(bar.label[:34])} '
            f"({escape(bar.state)})</text>"
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{ROW_HEIGHT}" rx="3"/>'
            "</g>"
        )
    out.append("</svg>")
    return Markup("".join(out))
