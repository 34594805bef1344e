"""``fakescope cost``: what a monthly deepfake-detection workload costs on managed cloud APIs,
and on fakescope itself sized from its own measured throughput.

Prices are data (``prices/*.yaml``, one sheet per provider and date, grouped by presets in
``prices/presets.yaml``); the arithmetic is exact (``decimal``). See ``docs/cost.md``.
"""

from __future__ import annotations

from fakescope.cost.estimate import Estimate, LineItem, cents, estimate_managed, tiered_cost
from fakescope.cost.prices import PriceSheet, load_preset, load_sheet
from fakescope.cost.report import DEFAULT_PRESET, CostReport, build_report
from fakescope.cost.workload import Workload, make_workload

__all__ = [
    "DEFAULT_PRESET",
    "CostReport",
    "Estimate",
    "LineItem",
    "PriceSheet",
    "Workload",
    "build_report",
    "cents",
    "estimate_managed",
    "load_preset",
    "load_sheet",
    "make_workload",
    "tiered_cost",
]
