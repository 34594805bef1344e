"""A self-contained HTML bar chart of a cost report: inline SVG, no scripts, no network.

One horizontal bar per provider and architecture, stacked by cost component, so that the
component that dominates a bill (usually face detection on managed APIs) is visible at once.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from fakescope.cost.estimate import COMPONENT_LABELS, Estimate, cents
from fakescope.cost.render import money
from fakescope.cost.report import CostReport

_COLOURS = {
    "storage": "#4e79a7",
    "compute": "#f28e2b",
    "face_detection": "#e15759",
    "ml_inference": "#76b7b2",
    "monitoring": "#59a14f",
}
_LABEL_W, _BAR_W, _TOTAL_W, _ROW_H, _BAR_H, _TOP = 220, 560, 110, 34, 22, 40

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
ul { font-size: .9rem; max-width: 60rem; }
svg text { font-size: 13px; fill: #222; }
"""


def _estimates(report: CostReport) -> list[Estimate]:
    hosted = [h.estimate for h in report.self_hosted or []]
    # Each provider's managed bar right above its self-hosted bar.
    out: list[Estimate] = []
    for managed in report.managed:
        out.append(managed)
        out += [h for h in hosted if h.provider == managed.provider]
    return out


def _svg(estimates: list[Estimate]) -> str:
    peak = max((e.total for e in estimates), default=Decimal(0)) or Decimal(1)
    width = _LABEL_W + _BAR_W + _TOTAL_W
    height = _TOP + _ROW_H * len(estimates) + 10
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Monthly cost per provider and architecture">']
    x = _LABEL_W
    for key, label in COMPONENT_LABELS.items():  # legend
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{_COLOURS[key]}"/>')
        parts.append(f'<text x="{x + 16}" y="19">{escape(label)}</text>')
        x += 16 + 8 * len(label) + 18
    for row, est in enumerate(estimates):
        y = _TOP + row * _ROW_H
        arch = "managed APIs" if est.architecture == "managed" else "self-hosted fakescope"
        parts.append(f'<text x="{_LABEL_W - 8}" y="{y + 16}" text-anchor="end">'
                     f'{escape(est.provider_name)}, {arch}</text>')
        offset = Decimal(0)
        for item in est.items:
            if item.amount <= 0:
                continue
            x0 = _LABEL_W + float(offset / peak) * _BAR_W
            w = float(item.amount / peak) * _BAR_W
            offset += item.amount
            parts.append(
                f'<rect x="{x0:.2f}" y="{y}" width="{w:.2f}" height="{_BAR_H}" '
                f'fill="{_COLOURS[item.component]}"><title>{escape(item.label)}: '
                f'{escape(item.service)} {money(item.amount)}</title></rect>')
        end = _LABEL_W + float(est.total / peak) * _BAR_W
        parts.append(f'<text x="{end + 6:.2f}" y="{y + 16}">{money(est.total)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def to_html(report: CostReport) -> str:
    estimates = _estimates(report)
    rows = []
    for est in estimates:
        arch = "managed" if est.architecture == "managed" else "self-hosted"
        cells = "".join(f'<td class="num">{money(i.amount)}</td>' for i in est.items)
        rows.append(f"<tr><td>{escape(est.provider_name)}</td><td>{arch}</td>{cells}"
                    f'<td class="num"><b>{money(cents(est.total))}</b></td></tr>')
    head = "".join(f"<th>{escape(label)}</th>" for label in COMPONENT_LABELS.values())
    assumptions = "".join(f"<li>{escape(a)}</li>" for a in report.assumptions)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>fakescope cost estimate ({escape(report.preset)})</title>
<style>{_CSS}</style></head>
<body>
<h1>Monthly cost (USD), preset {escape(report.preset)}</h1>
{_svg(estimates)}
<h2>Components</h2>
<table><tr><th>Provider</th><th>Architecture</th>{head}<th>Total</th></tr>
{"".join(rows)}
</table>
<h2>Assumptions</h2>
<ul>{assumptions}</ul>
</body></html>
"""
