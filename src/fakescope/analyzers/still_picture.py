"""still-picture: is the followed face a photograph moved across the frame?

A still photo slid, zoomed or tilted across a video (a slideshow, a "Ken Burns" pan, a
portrait held up to a webcam) is not camera footage of a person, real or generated: it
never blinks, speaks or turns, and its fine detail stays constant, which the clip model
reads as synthesis. Over each second, the face is compared with itself after the best
homography (``faces.landmark_series.RigidChange``); a live face changes beyond it, a flat
picture does not. When the face is still, the clip's temporal evidence (blink, motion,
face-detail, lip-sync and the clip model over them) says nothing either way and the
video fusion leaves it out; the frames are still judged (a swapped or generated face in a
photo is still one).

The threshold lies between the slides of real and generated portraits (90th percentile
residual ≤ 0.025) and the stillest clips of video/dev and video/gen2 (≥ 0.038) and of
the issue-28 corpus (≥ 0.031, generated listening heads): docs/metrics.md, "Video of
2025".
"""

from __future__ import annotations

import numpy as np

from fakescope.analyzers.base import Evidence, VideoItem

STILL_BELOW = 0.03  # 90th percentile of the per-second residual
MIN_MEASURES = 12  # seconds' worth of comparisons needed to call a face still (~1 s at 12.5 fps)
QUANTILE = 90


def rigid_residual(rigid: np.ndarray | None) -> tuple[float | None, int]:
    """The clip's residual (a high percentile: one moment of life is enough) and how many
    comparisons it rests on."""
    if rigid is None:
        return None, 0
    v = rigid[np.isfinite(rigid)]
    if len(v) == 0:
        return None, 0
    return float(np.percentile(v, QUANTILE)), len(v)


def is_still(rigid: np.ndarray | None) -> bool:
    r, n = rigid_residual(rigid)
    return r is not None and n >= MIN_MEASURES and r < STILL_BELOW


# To follow another person instead of a still one, that person must be clearly live: a
# false detection in the same photo (hair, a pattern) can read a little above STILL_BELOW
# on a few comparisons where FaceMesh slips.
LIVE_ABOVE = 0.04


def is_live(rigid: np.ndarray | None) -> bool:
    r, n = rigid_residual(rigid)
    return r is not None and n >= MIN_MEASURES and r >= LIVE_ABOVE


class StillPictureAnalyzer:
    name = "still-picture"
    version = "1.0.0"
    card = None
    needs_faces = True
    media_types = frozenset({"video"})

    def analyze(self, item: VideoItem) -> Evidence:
        s = item.series
        rigid = s.rigid if s is not None else None
        r, n = rigid_residual(rigid)
        if r is None:
            return Evidence(score=None, details={"reason": "no face followed over time"})
        still = is_still(rigid)
        finding = ("the face moves only as a flat picture would (a still photo moved across the "
                   "frame): its timing is no evidence either way" if still else
                   "the face changes as a live face does")
        # No score: a still picture is neither real nor fake footage; the fusion reads
        # ``still`` to leave the temporal evidence out.
        return Evidence(score=None, details={"residual": round(r, 4), "comparisons": n,
                                             "still": still, "findings": [finding]})
