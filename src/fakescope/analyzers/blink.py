"""blink: eye blinks against human norms, from the eye-aspect ratio over time.

People blink roughly 8-30 times a minute, each blink lasting 100-400 ms, at irregular
intervals. Early face swaps and many generated talking heads blink rarely, never, or
like a metronome. A short clip holds few blinks, so the evidence is weak there, and the
analyzer says so: its score is pulled towards 0.5 (no opinion) the shorter the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fakescope.analyzers.base import Evidence, VideoItem
from fakescope.evaluation.calibration import sigmoid

NORMAL_RATE = (8.0, 30.0)  # blinks per minute (resting, conversation raises it)
NORMAL_DURATION = (0.1, 0.4)  # seconds
FULL_EVIDENCE_S = 40.0  # a clip this long gives the analyzer its full say


@dataclass
class Blinks:
    times: list[tuple[float, float]]  # (start, end) seconds
    observed_s: float  # seconds where the eyes were visible

    @property
    def count(self) -> int:
        return len(self.times)

    @property
    def rate_per_min(self) -> float:
        return 60.0 * self.count / self.observed_s if self.observed_s > 0 else float("nan")

    @property
    def durations(self) -> np.ndarray:
        return np.array([e - s for s, e in self.times])

    @property
    def interval_cv(self) -> float:
        starts = np.array([s for s, _ in self.times])
        if len(starts) < 3:
            return float("nan")
        iv = np.diff(starts)
        return float(iv.std() / iv.mean()) if iv.mean() > 0 else float("nan")


def find_blinks(ear: np.ndarray, times: np.ndarray, fps: float) -> Blinks:
    """Blinks are runs of frames where the eye-aspect ratio falls well below the clip's
    open-eye level (its 80th percentile), which adapts to eye shape and head pose."""
    ok = ~np.isnan(ear)
    if ok.sum() < 3:
        return Blinks([], 0.0)
    open_level = float(np.nanpercentile(ear, 80))
    closed = ok & (ear < 0.72 * open_level)
    # Bridge one-frame gaps so a blink straddling a missed frame counts once.
    c = closed.copy()
    c[1:-1] |= closed[:-2] & closed[2:]
    events: list[tuple[float, float]] = []
    i = 0
    dt = 1.0 / fps
    while i < len(c):
        if c[i]:
            j = i
            while j + 1 < len(c) and c[j + 1]:
                j += 1
            events.append((float(times[i]), float(times[j]) + dt))
            i = j + 1
        else:
            i += 1
    # A closure longer than 2 s is not a blink (eyes shut, looking down): not counted.
    events = [e for e in events if e[1] - e[0] <= 2.0]
    return Blinks(events, observed_s=float(ok.sum()) / fps)


def anomaly(b: Blinks) -> tuple[float, list[str]]:
    """0 (a human pattern) .. 1 (far outside it), with the reasons."""
    reasons, scores = [], []
    minutes = b.observed_s / 60.0
    if b.count == 0:
        # P(no blink in T s) for a resting 8/min Poisson blinker: exp(-8 T / 60).
        s = 1.0 - float(np.exp(-NORMAL_RATE[0] * minutes))
        scores.append(s)
        reasons.append(f"no blink in {b.observed_s:.0f} s")
    else:
        rate = b.rate_per_min
        if rate < NORMAL_RATE[0] / 2:
            shortfall = (NORMAL_RATE[0] / 2 - rate) / (NORMAL_RATE[0] / 2)
            scores.append(min(1.0, shortfall) * min(1.0, minutes * 2))
            reasons.append(f"{rate:.1f} blinks/min is unusually rare")
        elif rate > 2 * NORMAL_RATE[1]:
            scores.append(min(1.0, (rate - 2 * NORMAL_RATE[1]) / NORMAL_RATE[1]))
            reasons.append(f"{rate:.0f} blinks/min is unusually frequent")
        d = float(np.median(b.durations))
        if d > 2 * NORMAL_DURATION[1]:
            scores.append(min(1.0, (d - 2 * NORMAL_DURATION[1]) / 0.6))
            reasons.append(f"blinks last {1000 * d:.0f} ms (people: 100-400 ms)")
        cv = b.interval_cv
        if b.count >= 5 and cv < 0.15:
            scores.append(min(1.0, (0.15 - cv) / 0.1))
            reasons.append(f"blinks come at near-constant intervals (CV {cv:.2f})")
    return (max(scores) if scores else 0.0), reasons


class BlinkAnalyzer:
    name = "blink"
    version = "1.0.0"
    card = None
    needs_faces = True
    media_types = frozenset({"video"})

    def analyze(self, item: VideoItem) -> Evidence:
        s = item.series
        if s is None or s.found.sum() < max(5, int(2 * s.fps)):
            return Evidence(score=None, details={"reason": "eyes not visible long enough"})
        b = find_blinks(s.eye_aspect_ratio(), s.times, s.fps)
        a, reasons = anomaly(b)
        reliability = min(1.0, b.observed_s / FULL_EVIDENCE_S)
        # Anomaly 0 -> ~0.2, 1 -> ~0.85; then shrunk to 0.5 by how little was seen.
        p = float(sigmoid(4.0 * a - 1.4))
        score = 0.5 + (p - 0.5) * reliability
        return Evidence(
            score=round(score, 4),
            details={
                "blinks": b.count,
                "observed_s": round(b.observed_s, 1),
                "rate_per_min": None if np.isnan(b.rate_per_min) else round(b.rate_per_min, 1),
                "median_duration_ms": round(1000 * float(np.median(b.durations)), 0) if b.count else None,
                "interval_cv": None if np.isnan(b.interval_cv) else round(b.interval_cv, 3),
                "anomaly": round(a, 3),
                "evidence_strength": _strength(reliability),
                "findings": reasons or ["blinking within human norms"],
            },
        )


def _strength(reliability: float) -> str:
    if reliability < 0.34:
        return "weak (short clip)"
    return "moderate" if reliability < 0.99 else "full"
