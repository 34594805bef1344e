"""Milliseconds for the report's ``timing_ms``."""

from __future__ import annotations

import time


def ms_since(t0: float) -> float:
    """Milliseconds since ``t0`` (a ``time.perf_counter()`` reading), to 0.01 ms."""
    return round((time.perf_counter() - t0) * 1000.0, 2)
