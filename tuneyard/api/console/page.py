"""The training-curve page: one job's losses as an inline SVG chart, no scripts."""

from __future__ import annotations

import html
from collections.abc import Sequence

from tuneyard.core.jobs import Job
from tuneyard.core.sharing import Curves

__all__ = ["render"]

_W, _H = 720, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 20, 20, 40


def _scale(
    points: Sequence[tuple[int, float]], x_max: int, y_min: float, y_max: float
) -> list[tuple[float, float]]:
    span = (y_max - y_min) or 1.0
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    return [
        (_LEFT + width * step / max(1, x_max), _TOP + height * (1 - (loss - y_min) / span))
        for step, loss in points
    ]


def _chart(curves: Curves) -> str:
    every = curves.train + curves.validation
    if not every:
        return "<p>No losses reported yet; this page shows them as the run reports steps.</p>"
    x_max = max(step for step, _ in every)
    y_min, y_max = min(v for _, v in every), max(v for _, v in every)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
        f'aria-label="loss by step">',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{_W - _LEFT - _RIGHT}" '
        f'height="{_H - _TOP - _BOTTOM}" fill="none" stroke="#999"/>',
    ]
    for i in range(5):  # y ticks
        value = y_min + (y_max - y_min) * i / 4
        y = _TOP + (_H - _TOP - _BOTTOM) * (1 - i / 4)
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{value:.3f}</text>"
        )
    parts.append(
        f'<text x="{_LEFT}" y="{_H - 12}" font-size="11">0</text>'
        f'<text x="{_W - _RIGHT}" y="{_H - 12}" font-size="11" text-anchor="end">'
        f"step {x_max}</text>"
    )
    if curves.train:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in _scale(curves.train, x_max, y_min, y_max))
        parts.append(
            f'<polyline class="train" points="{line}" fill="none" stroke="#1f6feb" '
            'stroke-width="2"/>'
        )
    for x, y in _scale(curves.validation, x_max, y_min, y_max):
        parts.append(f'<circle class="validation" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#d93f0b"/>')
    parts.append("</svg>")
    return "".join(parts)


def _table(curves: Curves) -> str:
    if not curves.validation:
        return ""
    rows = "".join(
        f"<tr><td>{step}</td><td>{loss:.4f}</td></tr>" for step, loss in curves.validation
    )
    return (
        "<h2>Validation loss at checkpoints</h2>"
        f"<table><tr><th>step</th><th>loss</th></tr>{rows}</table>"
    )


def render(job: Job, curves: Curves) -> str:
    """The whole page: the job, its status and step, the chart and the checkpoint table."""
    progress = job.progress
    step = f"{progress.step or 0}/{progress.total_steps or '?'}"
    last = f"{curves.train[-1][1]:.4f}" if curves.train else "-"
    title = html.escape(f"{job.display_name} ({job.id})")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Training curves: {title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 12px;"
        "text-align:right}</style></head><body>"
        f"<h1>Training curves: {title}</h1>"
        f"<p>Base model {html.escape(job.base_model)} · status {job.status.value} · "
        f"step {step} · latest training loss {last}</p>"
        "<p><span style='color:#1f6feb'>━ training loss (smoothed)</span> · "
        "<span style='color:#d93f0b'>● validation loss</span></p>"
        f"{_chart(curves)}{_table(curves)}</body></html>"
    )
