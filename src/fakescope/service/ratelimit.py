"""Per-key token buckets: ``rate`` uploads a minute, in bursts of up to ``rate``.

Kept in memory, per server process: behind several servers the effective limit is the sum,
which is the usual trade-off for not putting a write on every request into the database.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str, rate_per_min: int) -> float:
        """0 when allowed (a token is spent), else the seconds to wait before one is available."""
        return self._spend(key, rate_per_min, 1.0)

    def peek(self, key: str, rate_per_min: int) -> float:
        """As ``take``, without spending the token."""
        return self._spend(key, rate_per_min, 0.0)

    def _spend(self, key: str, rate_per_min: int, cost: float) -> float:
        now = self.clock()
        capacity = float(rate_per_min)
        refill = rate_per_min / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * refill)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / refill


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
