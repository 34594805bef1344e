"""face-detail: is the face's fine detail that of a camera, frame after frame?

Two traces of synthesis the frame model (trained on blended swaps) does not read:
- the mouth: lip-sync dubbing and audio-driven heads repaint the lower face, so the
  mouth and lower face carry less (or differently sharp) detail than the eyes and the
  upper face of the same frame;
  Generated talking heads tend to the other side (a mouth as sharp as the eyes or
  sharper), so the clip model reads how far the mouth's detail is from real footage's in
  either direction (``mouth_off``): read one way only, a blurred, repainted mouth argued
  for `real` (docs/metrics.md, "Dubbing");
- over time: a camera keeps the skin's texture from one frame to the next, while
  frame-by-frame synthesis re-draws it, so the pose-normalised fine detail of the upper
  face correlates less between consecutive frames and its strength flickers.

Every statistic is a ratio or a correlation within one face, so the clip's size, codec
and brightness cancel out. Statistics come from the dense landmark series
(``LandmarkSeries.detail``); the score is a logistic model of them fitted on dev clips
(``COEF``; fitted by ``scripts/video_features.py`` with every source group weighed alike,
L2 10; held out by source group its AUC is 0.64 on video/dev and video/gen2). In a video's
verdict these statistics count through the fusion card's clip model, not through this
score.
"""

from __future__ import annotations

import numpy as np

from fakescope.analyzers.base import Evidence, VideoItem
from fakescope.evaluation.calibration import sigmoid
from fakescope.faces.landmark_series import DETAIL_COLUMNS

MIN_FRAMES = 10
FULL_EVIDENCE_S = 8.0
# Logistic model over the statistics (standardised by MEAN/SCALE), fitted on dev clips:
# detail that stays too alike from frame to frame, and a mouth as steady as the eyes,
# lean towards synthesis.
MEAN = {"mouth_vs_eyes": 0.2942, "lower_vs_upper": -0.0797, "detail_flicker": 0.0269,
        "detail_corr": 0.885, "mouth_vs_eyes_sd": 0.18}
SCALE = {"mouth_vs_eyes": 0.2526, "lower_vs_upper": 0.2536, "detail_flicker": 0.013,
         "detail_corr": 0.0939, "mouth_vs_eyes_sd": 0.0679}
COEF = {"mouth_vs_eyes": 0.0952, "lower_vs_upper": -0.1372, "detail_flicker": -0.371,
        "detail_corr": 0.4289, "mouth_vs_eyes_sd": -0.4589}
INTERCEPT = -0.0008
# log(mouth detail / eye detail) on the 87 real clips of video/dev and video/gen2
# (``python scripts/video_features.py study`` prints them): the median, and the 2.5th
# percentile below which a mouth is blurrier than real footage's.
REAL_MOUTH_VS_EYES = 0.343
REAL_MOUTH_VS_EYES_LOW = -0.216


def mouth_off(mouth_vs_eyes: float) -> float:
    """How far the mouth's detail (against the eyes') lies from real footage's, either way."""
    return abs(mouth_vs_eyes - REAL_MOUTH_VS_EYES)


def statistics(detail: np.ndarray, fps: float) -> dict[str, float] | None:
    """Per-clip summaries of the per-frame detail (None when too few frames were measured)."""
    d = {c: detail[:, i] for i, c in enumerate(DETAIL_COLUMNS)}
    ok = np.isfinite(d["mouth"]) & np.isfinite(d["eyes"]) & (d["eyes"] > 0) & (d["mouth"] > 0)
    if ok.sum() < MIN_FRAMES:
        return None
    mouth = np.log(d["mouth"][ok] / d["eyes"][ok])
    low_ok = np.isfinite(d["lower"]) & np.isfinite(d["upper"]) & (d["upper"] > 0) & (d["lower"] > 0)
    lower = np.log(d["lower"][low_ok] / d["upper"][low_ok]) if low_ok.any() else np.array([np.nan])
    up = np.log(np.where(low_ok, d["upper"], np.nan))
    steps = np.abs(np.diff(up))
    steps = steps[np.isfinite(steps)]
    corr = d["upper_corr"][np.isfinite(d["upper_corr"])]
    return {
        "mouth_vs_eyes": float(np.median(mouth)),
        "mouth_vs_eyes_sd": float(np.std(mouth)),
        "mouth_off": mouth_off(float(np.median(mouth))),
        "lower_vs_upper": float(np.nanmedian(lower)),
        "detail_flicker": float(np.median(steps)) if len(steps) else float("nan"),
        "detail_corr": float(np.median(corr)) if len(corr) else float("nan"),
        "frames": int(ok.sum()),
        "observed_s": float(ok.sum()) / fps,
    }


def score_of(stats: dict[str, float]) -> float | None:
    if not COEF:
        return None
    z = INTERCEPT
    for k, w in COEF.items():
        v = stats.get(k)
        if v is None or not np.isfinite(v):
            return None
        z += w * (v - MEAN[k]) / SCALE[k]
    return float(sigmoid(z))


class FaceDetailAnalyzer:
    name = "face-detail"
    version = "0.2.0"  # 0.2.0: mouth_off and the repainted-mouth finding
    card = None
    needs_faces = True
    media_types = frozenset({"video"})

    def analyze(self, item: VideoItem) -> Evidence:
        s = item.series
        if s is None or s.detail is None:
            return Evidence(score=None, details={"reason": "no face followed over time"})
        stats = statistics(s.detail, s.fps)
        if stats is None:
            return Evidence(score=None, details={"reason": "face not seen long enough"})
        p = score_of(stats)
        score = None
        if p is not None:
            reliability = min(1.0, stats["observed_s"] / FULL_EVIDENCE_S)
            score = round(0.5 + (p - 0.5) * reliability, 4)
        details: dict[str, object] = {k: (round(v, 4) if isinstance(v, float) else v)
                                      for k, v in stats.items()}
        details["findings"] = _findings(stats)
        return Evidence(score=score, details=details)


def _findings(stats: dict[str, float]) -> list[str]:
    out = []
    z_corr = (stats["detail_corr"] - MEAN["detail_corr"]) / SCALE["detail_corr"]
    z_flicker = (stats["detail_flicker"] - MEAN["detail_flicker"]) / SCALE["detail_flicker"]
    if z_corr > 1.0:
        out.append(f"skin detail unusually constant from frame to frame (r = {stats['detail_corr']:.2f})")
    if z_flicker < -1.0:
        out.append("fine detail steadier over time than camera footage")
    if stats["mouth_vs_eyes"] < REAL_MOUTH_VS_EYES_LOW:
        out.append("the mouth carries less fine detail than the eyes, beyond real footage "
                   "(a repainted mouth?)")
    return out or ["fine detail within the range of real footage"]
