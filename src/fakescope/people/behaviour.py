"""How an enrolled person moves, blinks and speaks, against how a scanned clip of them
does (issue 31, item 3; the idea of ID-Reveal and "Protecting World Leaders", without
their training): a few statistics the video scan measures anyway, kept per enrolled clip,
and a clip whose matching face is far outside the person's own range in one of them is
"unlike the enrolled references in …".

The statistics are read from the video report's analyzer details (the clip's main
person): blinks per minute and their median length (``blink``), how much the face drifts
and jitters (``motion``), how much the mouth moves against the eyes (``face-detail``), and
how closely the mouth follows the speech (``lip-sync``). A statistic the clip does not
give (no blink seen in a short clip, no speech) is left out of the comparison.

"Far outside": beyond the person's enrolled range widened by ``tolerance(n)`` times the
spread one person shows between recordings (``WITHIN_SD``, on the log of drift and
jitter: a face that hardly moves is far from one that moves a little; measured on MEAD's
three people, eight recordings each, research/people_behaviour_study.py; lips against
speech is not measured there, MEAD's clips being silent, and is set loosely). With fewer
than three enrolled recordings there is no range to speak of, so the tolerance is wider.
Read it as a hint, not a verdict: one recording of a person can be unlike their others
(an angry take, another camera).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fakescope.report.schema import ScanReport

# (analyzer, detail, words, unit)
FEATURES: tuple[tuple[str, str, str, str], ...] = (
    ("blink", "rate_per_min", "blinking rate", "/min"),
    ("blink", "median_duration_ms", "blink length", " ms"),
    ("motion", "drift", "head movement", ""),
    ("motion", "jitter", "landmark jitter", ""),
    ("face-detail", "mouth_vs_eyes", "mouth movement against the eyes", ""),
    ("lip-sync", "r_in_sync", "lips following the speech", ""),
)
DIM = len(FEATURES)
LOG = np.array([False, False, True, True, False, False])  # compared as log(value)
# One person's spread between recordings, per statistic (log for LOG ones): the pooled
# within-person SD of MEAD's three people (research/people_behaviour_study.py); the last,
# unmeasured there, set loosely.
WITHIN_SD = np.array([13.3, 66.9, 0.41, 0.35, 0.19, 0.2])


def tolerance(n_references: int) -> float:
    """How many within-person SDs beyond the enrolled range count as far outside: 3 with
    three or more enrolled recordings (none of MEAD's 24 real recordings against the other
    seven of its person), 4 with fewer (one recording against one other: 1.2 %)."""
    return 3.0 if n_references >= 3 else 4.0


def _scaled(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64).copy()
    v[..., LOG] = np.log(np.maximum(v[..., LOG], 1e-4))
    return v


def of_report(report: ScanReport) -> np.ndarray:
    """The statistics of a video report (NaN where the clip does not give one)."""
    out = np.full(DIM, np.nan, np.float32)
    by = {a.name: a for a in report.analyzers}
    for i, (name, key, _, _) in enumerate(FEATURES):
        a = by.get(name)
        v = a.details.get(key) if a is not None and a.score is not None else None
        if isinstance(v, int | float) and math.isfinite(v):
            out[i] = float(v)
    blink = by.get("blink")
    if blink is not None and not blink.details.get("blinks"):
        # no blink seen: no length to compare, and a rate of 0 only from a long enough look
        out[1] = np.nan
        if float(blink.details.get("observed_s") or 0.0) < 20.0:
            out[0] = np.nan
    return out


def unlike(probe: np.ndarray, references: Sequence[np.ndarray],
           within_sd: np.ndarray = WITHIN_SD) -> list[tuple[int, float, float, float]]:
    """The statistics on which ``probe`` lies beyond the references' range widened by
    tolerance(n) x ``within_sd``: (index, value, lowest, highest of the references), in the
    statistics' own units."""
    if not len(references):
        return []
    raw = np.stack([np.asarray(r, np.float64) for r in references])
    refs, p = _scaled(raw), _scaled(np.asarray(probe, np.float64))
    tol = tolerance(len(raw))
    out = []
    for i in range(DIM):
        ok = np.isfinite(refs[:, i])
        v = float(p[i])
        if not ok.any() or not math.isfinite(v) or not math.isfinite(float(within_sd[i])):
            continue
        lo, hi = float(refs[ok, i].min()), float(refs[ok, i].max())
        if v < lo - tol * within_sd[i] or v > hi + tol * within_sd[i]:
            out.append((i, float(probe[i]), float(raw[ok, i].min()), float(raw[ok, i].max())))
    return out


def wording(person: str, probe: np.ndarray, references: Sequence[np.ndarray]) -> str | None:
    far = unlike(probe, references)
    if not far:
        return None

    def fmt(x: float, unit: str) -> str:
        return f"{x:.0f}{unit}" if unit else f"{x:.3f}"

    parts = [f"{FEATURES[i][2]} {fmt(v, FEATURES[i][3])} (enrolled {fmt(lo, FEATURES[i][3])}"
             + (f"–{fmt(hi, FEATURES[i][3])}" if hi > lo else "") + ")" for i, v, lo, hi in far]
    n = len(references)
    return (f"unlike {person}'s {n} enrolled recording{'s' if n != 1 else ''} in " + "; ".join(parts)
            + ": a hint, not a verdict")
