"""Face tracks: the same person's faces linked across sampled video frames.

Linking uses position and size (where the face was, how big) and appearance (a small
normalised grey thumbnail of the aligned face), greedily, frame by frame. Sampled frames
can be seconds apart, so position alone is not enough; appearance alone would merge
look-alikes. A face that matches no open track starts a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from fakescope.faces.types import Face

EMBED_SIDE = 24
# Crop used for appearance, independent of any model card: the face interior only.
EMBED_CROP = (96, 1.0)


def appearance(crop: np.ndarray) -> np.ndarray:
    """Unit vector describing an aligned face's grey pattern (identity-ish, lighting-free)."""
    g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g = cv2.resize(g, (EMBED_SIDE, EMBED_SIDE), interpolation=cv2.INTER_AREA)
    g -= g.mean()
    n = float(np.linalg.norm(g))
    return (g / n).ravel() if n > 1e-6 else g.ravel()


@dataclass
class TrackPoint:
    frame: int  # index among the sampled frames
    time_s: float
    face: Face
    embedding: np.ndarray
    crop: np.ndarray | None = None  # small aligned face (EMBED_CROP), for shading over time
    score: float | None = None  # face-forgery probability in this frame


@dataclass
class Track:
    id: int
    points: list[TrackPoint] = field(default_factory=list)  # may be thinned (dense mode)
    seen: int = 0  # frames the face was found in, thinned or not

    @property
    def last(self) -> TrackPoint:
        return self.points[-1]

    def mean_embedding(self) -> np.ndarray:
        e = np.mean([p.embedding for p in self.points[-5:]], axis=0)
        n = float(np.linalg.norm(e))
        return e / n if n > 1e-6 else e


def _link_cost(track: Track, face: Face, emb: np.ndarray) -> float:
    prev = track.last.face
    pw = prev.box[2] - prev.box[0]
    w = face.box[2] - face.box[0]
    pc = (prev.box[:2] + prev.box[2:]) / 2
    c = (face.box[:2] + face.box[2:]) / 2
    dist = float(np.linalg.norm(c - pc)) / max(pw, w, 1.0)
    size = abs(np.log(max(w, 1.0) / max(pw, 1.0)))
    look = 1.0 - float(track.mean_embedding() @ emb)  # 0 = same pattern, up to 2
    if dist > 2.5 or size > 0.9 or look > 0.9:
        return np.inf
    return dist + size + 2.0 * look


class Tracker:
    def __init__(self) -> None:
        self.tracks: list[Track] = []

    def add(self, frame: int, time_s: float, rgb: np.ndarray, faces: list[Face]) -> list[Track]:
        """Link this frame's faces; returns the track of each face, in order."""
        crops = [f.aligned(rgb, *EMBED_CROP)[0] for f in faces]
        embs = [appearance(c) for c in crops]
        open_tracks = [t for t in self.tracks if t.last.frame < frame]
        pairs = sorted(
            ((_link_cost(t, f, e), ti, fi) for ti, t in enumerate(open_tracks)
             for fi, (f, e) in enumerate(zip(faces, embs, strict=True))),
            key=lambda x: x[0],
        )
        assigned: dict[int, Track] = {}
        used_tracks: set[int] = set()
        for cost, ti, fi in pairs:
            if not np.isfinite(cost) or ti in used_tracks or fi in assigned:
                continue
            assigned[fi] = open_tracks[ti]
            used_tracks.add(ti)
        out = []
        for fi, (f, e) in enumerate(zip(faces, embs, strict=True)):
            track = assigned.get(fi)
            if track is None:
                track = Track(id=len(self.tracks))
                self.tracks.append(track)
            track.points.append(TrackPoint(frame=frame, time_s=time_s, face=f, embedding=e,
                                           crop=crops[fi]))
            track.seen += 1
            out.append(track)
        return out
