"""motion: how faces move over time.

- landmark flicker: after removing the head's rigid motion frame to frame, real faces'
  landmarks move smoothly (expressions); swaps and generated heads shiver;
- box jitter: the head's own path, second differences (accelerations) of its centre;
- identity drift: how far each sampled face strays from its track's typical appearance;
- lighting: the left/right shading of the face should follow the head's turn; changes
  the pose does not explain are a known artefact of frame-by-frame synthesis.

Each statistic is compared with what real dev clips show (``NORMS``: the 95th
percentile over real talking-head and face clips, measured by
``scripts/video_norms.py``); the score grows with how far beyond the norm it lies.
"""

from __future__ import annotations

import numpy as np

from fakescope.analyzers.base import Evidence, VideoItem
from fakescope.evaluation.calibration import sigmoid
from fakescope.faces.align import similarity_transform, transform_points

# 95th percentile of each statistic on real clips of ../shared/data/video/dev.
NORMS = {"flicker": 0.012, "jitter": 0.05, "drift": 0.35, "lighting": 0.08}
FULL_EVIDENCE_S = 10.0


def landmark_flicker(mesh: np.ndarray, interocular: np.ndarray) -> float:
    """Median second-difference of pose-free landmark positions, per eye distance."""
    ok = ~np.isnan(mesh[:, 0, 0])
    vals = []
    for t in range(1, len(mesh) - 1):
        if not (ok[t - 1] and ok[t] and ok[t + 1]):
            continue
        ref = mesh[t, :468]
        prev = transform_points(mesh[t - 1, :468], similarity_transform(mesh[t - 1, :468], ref))
        nxt = transform_points(mesh[t + 1, :468], similarity_transform(mesh[t + 1, :468], ref))
        d2 = np.linalg.norm(prev - 2 * ref + nxt, axis=1)
        vals.append(float(np.median(d2)) / max(float(interocular[t]), 1e-6))
    return float(np.median(vals)) if vals else float("nan")


def box_jitter(mesh: np.ndarray, interocular: np.ndarray) -> float:
    ok = ~np.isnan(mesh[:, 0, 0])
    c = np.full((len(mesh), 2), np.nan)
    c[ok] = mesh[ok, :468].mean(axis=1)  # frames without a face stay NaN, without a warning
    vals = []
    for t in range(1, len(mesh) - 1):
        if ok[t - 1] and ok[t] and ok[t + 1]:
            accel = float(np.linalg.norm(c[t - 1] - 2 * c[t] + c[t + 1]))
            vals.append(accel / max(float(interocular[t]), 1e-6))
    return float(np.median(vals)) if vals else float("nan")


def identity_drift(track) -> float:  # type: ignore[no-untyped-def]
    """90th percentile cosine distance of a track's faces to its median appearance."""
    if len(track.points) < 3:
        return float("nan")
    e = np.stack([p.embedding for p in track.points])
    med = np.median(e, axis=0)
    med /= max(float(np.linalg.norm(med)), 1e-9)
    return float(np.percentile(1.0 - e @ med, 90))


def lighting_residual(track, rgbs: dict[int, np.ndarray] | None = None) -> float:  # type: ignore[no-untyped-def]
    """Spread of the face's left/right shading that the head's yaw does not explain."""
    shade, yaw = [], []
    for p in track.points:
        crop = getattr(p, "crop", None)
        if crop is None:
            continue
        g = crop.mean(axis=2)
        h, w = g.shape
        band = g[h // 4 : 3 * h // 4]
        left, right = band[:, w // 8 : w // 2].mean(), band[:, w // 2 : 7 * w // 8].mean()
        shade.append((right - left) / max(left + right, 1e-6))
        lm = p.face.landmarks5
        eye_mid = (lm[0] + lm[1]) / 2
        yaw.append((lm[2, 0] - eye_mid[0]) / max(float(np.linalg.norm(lm[1] - lm[0])), 1e-6))
    if len(shade) < 5:
        return float("nan")
    x, y = np.array(yaw), np.array(shade)
    a = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(np.std(y - a @ coef))


class MotionAnalyzer:
    name = "motion"
    version = "1.0.0"
    card = None
    needs_faces = True
    media_types = frozenset({"video"})

    def analyze(self, item: VideoItem) -> Evidence:
        stats: dict[str, float] = {}
        s = item.series
        reliability = 0.0
        if s is not None and s.found.sum() >= 5:
            io = s.interocular()
            stats["flicker"] = landmark_flicker(s.mesh, io)
            stats["jitter"] = box_jitter(s.mesh, io)
            reliability = min(1.0, float(s.found.sum()) / s.fps / FULL_EVIDENCE_S)
        main = item.followed or max(item.tracks, key=lambda t: len(t.points), default=None)
        if main is not None:
            stats["drift"] = identity_drift(main)
            stats["lighting"] = lighting_residual(main)
            reliability = max(reliability, min(1.0, len(main.points) / 16))
        stats = {k: v for k, v in stats.items() if not np.isnan(v)}
        if not stats:
            return Evidence(score=None, details={"reason": "not enough face frames"})
        # How far past the real-clip norm each statistic lies (0 = within it).
        excess = {k: max(0.0, v / NORMS[k] - 1.0) for k, v in stats.items()}
        a = float(np.clip(max(excess.values()) / 2.0, 0, 1))
        names = {"flicker": "landmarks flicker", "jitter": "the head's path jitters",
                 "drift": "the face's appearance drifts between frames",
                 "lighting": "the face's shading changes without the head turning"}
        findings = [f"{names[k]} ({stats[k]:.3f}, real clips ≤ {NORMS[k]})"
                    for k, e in excess.items() if e > 0]
        p = float(sigmoid(4.0 * a - 1.4))
        return Evidence(
            score=round(0.5 + (p - 0.5) * reliability, 4),
            details={
                **{k: round(v, 4) for k, v in stats.items()},
                "anomaly": round(a, 3),
                "findings": findings or ["motion within what real clips show"],
            },
        )
