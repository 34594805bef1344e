"""Dense FaceMesh landmarks over a stretch of video, for the temporal analyzers.

FaceMesh runs as mediapipe's video mode did: it tracks the face from frame to frame (the
next region comes from the last landmarks) and only re-detects when it loses it, which is
several times cheaper than detecting every frame.
The series follows the most prominent face; other faces are judged on the sampled frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from fakescope.faces import facemesh
from fakescope.faces.blazeface import SHORT, BlazeFace

# Eye contour points per eye (p1..p6 of the eye-aspect-ratio of Soukupová & Čech 2016).
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)
INNER_LIP_TOP, INNER_LIP_BOTTOM = 13, 14
MOUTH_CORNERS = (61, 291)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
BROWS_AND_EYES = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300, *RIGHT_EYE, *LEFT_EYE)
NOSE_TIP, CHIN = 1, 152
# Per dense frame, fine detail (mean |Laplacian|) of the mouth, the eyes and brows, the
# lower and the upper face, and how well the upper face's fine detail matches the
# previous frame's (DETAIL_COLUMNS order). Lip-sync dubbing repaints the lower face;
# frame-by-frame synthesis re-draws skin texture every frame, where a camera keeps it.
DETAIL_COLUMNS = ("mouth", "eyes", "lower", "upper", "upper_corr")
DETAIL_SIDE = 64
# A face is compared with itself this long before, after the best homography between the
# two: what a flat picture moved across the frame (shifted, scaled, turned, tilted) would
# show. A live face changes beyond it within a second (speech, blinks, parallax).
RIGID_LAG_S = 1.0
RIGID_SIDE = 64
RIGID_EVERY = 2  # dense frames per registration: half the cost, the same percentiles


@dataclass
class LandmarkSeries:
    times: np.ndarray  # (T,) seconds
    mesh: np.ndarray  # (T, 478, 2) pixels; NaN where no face was found
    fps: float
    detail: np.ndarray | None = None  # (T, len(DETAIL_COLUMNS)); NaN where not measured
    rigid: np.ndarray | None = None  # (T,) RigidChange residual; NaN where not measured

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.mesh[:, 0, 0])

    @property
    def duration_s(self) -> float:
        return float(self.times[-1] - self.times[0]) if len(self.times) > 1 else 0.0

    def eye_aspect_ratio(self) -> np.ndarray:
        """Mean EAR of both eyes per frame: ~0.25-0.35 open, below ~0.15 closed."""
        def ear(idx: tuple[int, ...]) -> np.ndarray:
            p = self.mesh[:, list(idx)]
            v = np.linalg.norm(p[:, 1] - p[:, 5], axis=-1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=-1)
            h = np.linalg.norm(p[:, 0] - p[:, 3], axis=-1)
            return v / (2.0 * np.maximum(h, 1e-6))
        return (ear(RIGHT_EYE) + ear(LEFT_EYE)) / 2.0

    def interocular(self) -> np.ndarray:
        return np.linalg.norm(self.mesh[:, 468] - self.mesh[:, 473], axis=-1)

    def mouth_opening(self) -> np.ndarray:
        """Inner-lip gap relative to the eye distance (scale- and distance-free)."""
        gap = np.linalg.norm(self.mesh[:, INNER_LIP_TOP] - self.mesh[:, INNER_LIP_BOTTOM], axis=-1)
        return gap / np.maximum(self.interocular(), 1e-6)


class DenseLandmarker:
    """FaceMesh in tracking mode; make one per video (it keeps the last landmarks).

    As mediapipe's FaceMesh(static_image_mode=False, max_num_faces=1): the short-range
    detector (score 0.5) places the first region; later frames use the region of the
    previous landmarks; a frame whose face-presence probability falls below 0.5 gives
    nothing, and the next frame detects again."""

    MIN_DETECTION = 0.5
    MIN_TRACKING = 0.5

    def __init__(self) -> None:
        self._detector = BlazeFace(SHORT, self.MIN_DETECTION)
        self._mesh = facemesh.FaceMesh()
        self._last: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        if self._last is not None:
            roi = facemesh.roi_from_landmarks(self._last)
        else:
            dets = self._detector(rgb)
            if not dets:
                return None
            roi = facemesh.roi_from_detection(dets[0].box, dets[0].keypoints)
        pts, presence = self._mesh(rgb, roi)
        if presence < self.MIN_TRACKING:
            self._last = None
            return None
        self._last = pts
        return pts.astype(np.float32)

    def close(self) -> None:
        self._last = None


WINDOW_SCALE = 2.2  # the face box grows this much into the window FaceMesh sees
WINDOW_SIDE = 256


def track_box_at(track) -> Callable[[float], np.ndarray | None]:  # type: ignore[no-untyped-def]
    """Where a track's face is at any time: its sampled boxes, linearly interpolated."""
    ts = np.array([p.time_s for p in track.points])
    boxes = np.stack([p.face.box for p in track.points])

    def at(t: float) -> np.ndarray | None:
        if len(ts) == 0:
            return None
        return np.array([np.interp(t, ts, boxes[:, k]) for k in range(4)])

    return at


def window_region(box: np.ndarray | None) -> tuple[int, int, int, int] | None:
    """The part of a frame FaceMesh's window around ``box`` covers (x0, y0, x1, y1)."""
    if box is None:
        return None
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = WINDOW_SCALE * max(box[2] - box[0], box[3] - box[1], 8.0) / 2 + 2
    return (int(np.floor(cx - half)), int(np.floor(cy - half)),
            int(np.ceil(cx + half)), int(np.ceil(cy + half)))


def collect(frames, fps: float,  # type: ignore[no-untyped-def]
            box_at: Callable[[float], np.ndarray | None] | None = None) -> LandmarkSeries:
    """Landmarks for every ``Frame`` of an iterable already spaced at ``fps``.

    With ``box_at`` FaceMesh looks at a square window around that face (a small face in a
    wide frame is beyond its short-range detector, and a window is cheaper); landmarks are
    mapped back to frame pixels. Frames may be cut to that window already
    (``Frame.origin``, see ``window_region``).
    """
    marker = DenseLandmarker()
    times, meshes, details, rigid = [], [], [], []
    empty = np.full((478, 2), np.nan, np.float32)
    detail = FineDetail()
    change = RigidChange(max(1, round(RIGID_LAG_S * fps)), every=RIGID_EVERY)
    try:
        for fr in frames:
            times.append(fr.time_s)
            box = box_at(fr.time_s) if box_at is not None else None
            if box is None:
                seen = fr.rgb
                m = marker(seen)
                m_seen = m
            else:
                ox, oy = fr.origin
                seen, m_img2win = _window(fr.rgb, box - np.array([ox, oy, ox, oy]))
                m = m_seen = marker(seen)
                if m is not None:
                    inv = cv2.invertAffineTransform(m_img2win)
                    m = (m @ inv[:, :2].T + inv[:, 2] + np.array([ox, oy])).astype(np.float32)
            ok = m is not None and len(m) == 478
            meshes.append(m if ok else empty)
            details.append(detail(seen, m_seen if ok else None))
            rigid.append(change(seen, m_seen if ok else None))
    finally:
        marker.close()
    mesh = np.stack(meshes) if meshes else np.zeros((0, 478, 2), np.float32)
    return LandmarkSeries(times=np.array(times, np.float64), mesh=mesh, fps=fps,
                          detail=np.array(details, np.float64).reshape(-1, len(DETAIL_COLUMNS)),
                          rigid=np.array(rigid, np.float64))


def _box_mean(lap: np.ndarray, pts: np.ndarray, grow_y: float = 0.0) -> float:
    h, w = lap.shape
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    dy = (y1 - y0) * grow_y
    x0, x1 = int(max(0, np.floor(x0))), int(min(w, np.ceil(x1)))
    y0, y1 = int(max(0, np.floor(y0 - dy))), int(min(h, np.ceil(y1 + dy)))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return float("nan")
    return float(lap[y0:y1, x0:x1].mean())


class FineDetail:
    """Per-frame fine-detail statistics of the face FaceMesh found (``DETAIL_COLUMNS``).

    Keeps the previous frame's upper-face detail, pose-normalised, to compare with the
    next; make one per series."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray, mesh: np.ndarray | None) -> list[float]:
        nan = float("nan")
        if mesh is None:
            self._prev = None
            return [nan] * len(DETAIL_COLUMNS)
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
        lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
        mouth = _box_mean(lap, mesh[list(LIPS_OUTER)])
        eyes = _box_mean(lap, mesh[list(BROWS_AND_EYES)], grow_y=0.2)
        face_x = mesh[[234, 454], 0]  # cheek edges: the face's width
        nose, chin, brow = mesh[NOSE_TIP], mesh[CHIN], mesh[list(BROWS_AND_EYES)].min(axis=0)
        lower = _box_mean(lap, np.array([[face_x.min(), nose[1]], [face_x.max(), chin[1]]]))
        upper = _box_mean(lap, np.array([[face_x.min(), brow[1]], [face_x.max(), nose[1]]]))
        corr = nan
        # Upper face (brows to nose tip) mapped onto a fixed square: the same skin lands
        # on the same pixels frame after frame; its high-pass part is the fine detail.
        src = np.float32([[face_x.min(), brow[1]], [face_x.max(), brow[1]], [face_x.min(), nose[1]]])
        if np.all(np.isfinite(src)) and face_x.max() - face_x.min() > 8 and nose[1] - brow[1] > 4:
            dst = np.float32([[0, 0], [DETAIL_SIDE, 0], [0, DETAIL_SIDE]])
            patch = cv2.warpAffine(grey, cv2.getAffineTransform(src, dst), (DETAIL_SIDE, DETAIL_SIDE),
                                   flags=cv2.INTER_AREA)
            hp = patch - cv2.GaussianBlur(patch, (0, 0), 2.0)
            hp = (hp - hp.mean()) / (hp.std() + 1e-6)
            if self._prev is not None:
                corr = float(np.mean(hp * self._prev))
            self._prev = hp
        else:
            self._prev = None
        return [mouth, eyes, lower, upper, corr]


class RigidChange:
    """How much the face changed since ``lag`` frames before, beyond a homography.

    The face (its landmarks' bounding square) is cut to ``RIGID_SIDE`` px; the earlier cut
    is registered onto this one by the homography that fits best (ECC), and the mean
    absolute difference left, over the mean gradient, is the residual: codec noise and
    resampling for a photograph moved across the frame (about 0.01-0.02 on the slides
    measured in docs/metrics.md), several times that for a live face. Make one per series;
    frames without a face break the chain."""

    def __init__(self, lag: int, every: int = 1) -> None:
        self.lag = lag
        self.every = every  # registration on every ``every``-th frame only (it costs ~4 ms)
        self._past: list[np.ndarray] = []
        self._n = 0
        self._box: tuple[float, float, float] | None = None  # last cut's centre and side

    def __call__(self, rgb: np.ndarray, mesh: np.ndarray | None) -> float:
        if mesh is None or not np.all(np.isfinite(mesh[:468])):
            self._past.clear()
            self._box = None
            return float("nan")
        self._n += 1
        x0, y0 = mesh[:468].min(axis=0)
        x1, y1 = mesh[:468].max(axis=0)
        side = max(x1 - x0, y1 - y0) * 1.05
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        h, w = rgb.shape[:2]
        # Too small, or the part compared (the inner three quarters) partly outside what was
        # seen (the window's border would move against the face and read as change): not
        # measured, and the chain restarts.
        r = 0.375 * side
        if side < 8 or cx - r < 0 or cy - r < 0 or cx + r > w or cy + r > h:
            self._past.clear()
            self._box = None
            return float("nan")
        if self._box is not None:
            # FaceMesh lost the face and found something else: a new chain, never compared
            # with the old one (a face does not halve or leap half its size in one frame).
            px, py, ps = self._box
            if not 0.8 < side / ps < 1.25 or np.hypot(cx - px, cy - py) > 0.5 * ps:
                self._past.clear()
        self._box = (cx, cy, side)
        f = RIGID_SIDE / side
        half = RIGID_SIDE / 2
        m = np.float32([[f, 0, half - f * cx], [0, f, half - f * cy]])
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
        patch = cv2.GaussianBlur(cv2.warpAffine(grey, m, (RIGID_SIDE, RIGID_SIDE), flags=cv2.INTER_AREA),
                                 (0, 0), 1.0)
        self._past.append(patch)
        if len(self._past) <= self.lag:
            return float("nan")
        before = self._past.pop(0)
        if self._n % self.every:
            return float("nan")
        warp = np.eye(3, dtype=np.float32)
        try:
            _, warp = cv2.findTransformECC(patch, before, warp, cv2.MOTION_HOMOGRAPHY,
                                           (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5),
                                           None, 1)
        except cv2.error:  # no convergence: no flat motion maps one onto the other
            return 1.0
        moved = cv2.warpPerspective(before, warp, (RIGID_SIDE, RIGID_SIDE),
                                    flags=cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP)
        inner = slice(RIGID_SIDE // 8, RIGID_SIDE - RIGID_SIDE // 8)
        grad = np.hypot(cv2.Sobel(patch, cv2.CV_32F, 1, 0), cv2.Sobel(patch, cv2.CV_32F, 0, 1))
        return float(np.abs(patch - moved)[inner, inner].mean() / (grad[inner, inner].mean() + 1e-6))


def _window(rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = WINDOW_SCALE * max(box[2] - box[0], box[3] - box[1], 8.0)
    f = WINDOW_SIDE / side
    m = np.array([[f, 0, WINDOW_SIDE / 2 - f * cx], [0, f, WINDOW_SIDE / 2 - f * cy]], np.float64)
    win = cv2.warpAffine(rgb, m, (WINDOW_SIDE, WINDOW_SIDE), flags=cv2.INTER_AREA if f < 1 else
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return win, m
