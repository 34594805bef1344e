"""Face detection (BlazeFace short and full range) and landmarks (FaceMesh, 478 points).

The three models are mediapipe 0.10.21's (Apache-2.0), converted once to ONNX
(``scripts/convert_face_models.py``) and run by onnxruntime like every other model:
``faces/blazeface.py`` and ``faces/facemesh.py`` are mediapipe's graphs around them, so
boxes and landmarks are the ones mediapipe gave (docs/metrics.md "Face models").
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np

from fakescope.config import FaceSettings
from fakescope.faces import facemesh
from fakescope.faces.blazeface import FULL, SHORT, BlazeFace, Detection
from fakescope.faces.types import Face

# FaceMesh indices (478 points, irises at 468..477).
# mediapipe names sides after the subject: its "right" eye is on the image's left.
MESH_RIGHT_IRIS = 468
MESH_LEFT_IRIS = 473
MESH_NOSE_TIP = 1
MESH_MOUTH_RIGHT = 61
MESH_MOUTH_LEFT = 291
MESH_POINTS = 478

# Mouth width / eye distance in the ArcFace template: places mouth corners when only the
# detector's mouth centre is known.
_MOUTH_HALF_RATIO = 0.415
# Tight crops (the face fills the picture) defeat BlazeFace; padding the canvas lets it
# see a whole head. Fractions of the longer side added on every edge, tried in turn.
_RETRY_PADS = (0.25, 0.5)
# A mesh whose eyes and nose sit further than this (in eye distances) from the detector's
# own keypoints landed on something else: on 400 dfdc-dev faces the largest gap was 0.71,
# on flowers and animals the detector mistook for faces it was above 1.
_MESH_AGREEMENT = 1.0
# Images whose shorter side reaches this are also searched in a 2x2 grid for small faces.
_GRID_MIN_SIDE = 800
# The full-range model's own score floor (mediapipe applied 0.6 to it whatever the
# requested minimum; the figures in docs/metrics.md were measured so).
_FULL_RANGE_MIN_SCORE = 0.6
# FaceMesh inside a detection window: the window's own detection at this score (mediapipe
# FaceMesh's min_detection_confidence as fakescope set it), a mesh kept when the model's
# face-presence probability reaches 0.5.
_MESH_DETECTION_SCORE = 0.3
_MESH_PRESENCE = 0.5

_Det = tuple[np.ndarray, float, np.ndarray]  # box (x0,y0,x1,y1), score, 6 keypoints


def _clip_box(box: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.array([max(0.0, box[0]), max(0.0, box[1]), min(w, box[2]), min(h, box[3])])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceDetector:
    """BlazeFace short- and full-range detection, FaceMesh landmarks per face.

    onnxruntime sessions are thread-safe, but one detector is used by one scan at a time
    (a lock), as the scan flows expect; run one detector per process for parallelism.
    """

    def __init__(self, settings: FaceSettings | None = None) -> None:
        self.settings = settings or FaceSettings()
        s = self.settings
        self._short = BlazeFace(SHORT, s.min_detection_score)
        self._full = BlazeFace(FULL, max(s.min_detection_score, _FULL_RANGE_MIN_SCORE))
        self._mesh_detector = BlazeFace(SHORT, _MESH_DETECTION_SCORE)
        self._mesh = facemesh.FaceMesh()
        self._lock = threading.Lock()

    # -- detection ---------------------------------------------------------------
    @staticmethod
    def _run_detector(model: BlazeFace, rgb: np.ndarray) -> list[_Det]:
        return [(d.box, d.score, d.keypoints) for d in model(rgb)]

    def _tiles(self, rgb: np.ndarray) -> list[tuple[int, int, int]]:
        """Square tiles (x0, y0, side) where small faces become big enough for BlazeFace:
        along the long axis of elongated images, and a 2x2 grid over large ones."""
        h, w = rgb.shape[:2]
        tiles: list[tuple[int, int, int]] = []
        side = min(h, w)
        if max(h, w) > 1.3 * side:
            n = int(np.ceil((max(h, w) - side) / (0.75 * side))) + 1
            for k in range(n):
                off = round(k * (max(h, w) - side) / (n - 1))
                tiles.append((off, 0, side) if w > h else (0, off, side))
        if side >= _GRID_MIN_SIDE:
            half = int(side * 0.6)
            for y0 in (0, h - half):
                for x0 in np.linspace(0, w - half, max(2, round(w / half))).round().astype(int):
                    tiles.append((int(x0), int(y0), half))
        return tiles

    def _detect_boxes(self, rgb: np.ndarray, tiles: bool = True) -> tuple[list[_Det], bool]:
        """Detections, best first, and whether they came from the padded retry (which
        only tight face crops need, and which must then be confirmed by FaceMesh).
        Without ``tiles`` the small-face search runs only when the whole frame shows none."""
        dets = self._run_detector(self._short, rgb) + self._run_detector(self._full, rgb)
        for x0, y0, side in (self._tiles(rgb) if tiles or not dets else []):
            tile = np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side])
            off = np.array([x0, y0], dtype=np.float64)
            dets += [(b + np.tile(off, 2), sc, k + off) for b, sc, k in
                     self._run_detector(self._full, tile)]
        padded_pass = False
        if not dets:
            h, w = rgb.shape[:2]
            for frac in _RETRY_PADS:
                pad = round(frac * max(h, w))
                padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
                dets = [
                    (box - pad, score, kps - pad)
                    for box, score, kps in self._run_detector(self._short, padded)
                ]
                if dets:
                    padded_pass = True
                    break
        dets.sort(key=lambda d: -d[1])
        kept: list[_Det] = []
        for d in dets:
            if all(_iou(d[0], k[0]) < 0.3 for k in kept):
                kept.append(d)
        return kept, padded_pass

    # -- landmarks ---------------------------------------------------------------
    @staticmethod
    def _mesh_agrees(mesh: np.ndarray, kps: np.ndarray) -> bool:
        """The mesh's eyes and nose are where the detector put them (in eye distances)."""
        a, b = landmarks5_from_mesh(mesh)[:3], landmarks5_from_detector(kps)[:3]
        eye = max(float(np.linalg.norm(b[1] - b[0])), 1e-6)
        return float(np.linalg.norm(a - b, axis=1).max()) / eye <= _MESH_AGREEMENT

    def _mesh_for(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """FaceMesh on a square window around one detection, so it sees exactly that face."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = 2.0 * max(box[2] - box[0], box[3] - box[1])
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        s = round(side)
        if s < 8:
            return None
        h, w = rgb.shape[:2]
        # Window may leave the image: pad with black rather than shift it off-centre.
        px0, py0 = max(0, -x0), max(0, -y0)
        px1, py1 = max(0, x0 + s - w), max(0, y0 + s - h)
        window = rgb[max(0, y0) : min(h, y0 + s), max(0, x0) : min(w, x0 + s)]
        if window.size == 0:
            return None
        if px0 or py0 or px1 or py1:
            window = cv2.copyMakeBorder(window, py0, py1, px0, px1, cv2.BORDER_CONSTANT, value=0)
        scale = 1.0
        if s > 640:  # the mesh model's input is 192 px; huge windows only cost time
            scale = 640 / s
            window = cv2.resize(window, (640, 640), interpolation=cv2.INTER_AREA)
        window = np.ascontiguousarray(window)
        # As mediapipe's static FaceMesh: the window's best detection places the mesh.
        dets: list[Detection] = self._mesh_detector(window)
        if not dets:
            return None
        pts, presence = self._mesh(window, facemesh.roi_from_detection(dets[0].box, dets[0].keypoints))
        if presence < _MESH_PRESENCE:
            return None
        pts = pts / scale
        pts += np.array([x0, y0], dtype=np.float64)
        if len(pts) != MESH_POINTS:
            return None
        # Reject a mesh that landed on a different face in the window.
        mesh_box = np.array([*pts.min(0), *pts.max(0)])
        if _iou(mesh_box, box) < 0.25:
            return None
        return pts

    def detect(self, rgb: np.ndarray, tiles: bool = True) -> list[Face]:
        """All faces in an RGB image, largest-confidence first, at most ``max_faces``.

        ``tiles=False`` (video frames between full searches) looks for small faces in
        tiles only when the whole frame shows none: the tiles cost two thirds of the time
        on a 720p frame, and a small face already seen is picked up again by the next full
        search.
        """
        s = self.settings
        h, w = rgb.shape[:2]
        scale = min(1.0, s.detect_max_side / max(h, w))
        small = (
            cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            if scale < 1.0
            else rgb
        )
        with self._lock:
            dets, padded_pass = self._detect_boxes(np.ascontiguousarray(small), tiles)
            faces = []
            for box, score, kps in dets[: s.max_faces]:
                box, kps = box / scale, kps / scale
                mesh = self._mesh_for(rgb, box)
                if mesh is not None and not self._mesh_agrees(mesh, kps):
                    mesh = None
                if mesh is None and padded_pass:
                    continue  # the padded retry finds faces in clouds; FaceMesh must agree
                if mesh is not None:
                    five = landmarks5_from_mesh(mesh)
                    source = "facemesh"
                else:
                    five = landmarks5_from_detector(kps)
                    source = "detector"
                box = _clip_box(box, w, h)
                faces.append(
                    Face(box=box, score=score, landmarks5=five, mesh=mesh, landmarks_source=source)
                )
        return faces

    def follow(self, rgb: np.ndarray, faces: list[Face]) -> list[Face | None]:
        """The same faces in the next frame of a video, without the detectors: FaceMesh
        in a window around each previous face. None where a face was lost (or had no
        mesh to follow); the caller then runs ``detect``."""
        out: list[Face | None] = []
        h, w = rgb.shape[:2]
        with self._lock:
            for f in faces:
                if f.mesh is None:
                    out.append(None)
                    continue
                mesh = self._mesh_for(rgb, f.box)
                if mesh is None:
                    out.append(None)
                    continue
                # Move and scale the detector's box as the mesh moved: boxes stay
                # comparable with detected ones for tracking and reports.
                lo0, hi0 = f.mesh.min(0), f.mesh.max(0)
                lo1, hi1 = mesh.min(0), mesh.max(0)
                k = float(np.mean((hi1 - lo1) / np.maximum(hi0 - lo0, 1e-6)))
                c0, c1 = (lo0 + hi0) / 2, (lo1 + hi1) / 2
                box = np.concatenate([c1 + (f.box[:2] - c0) * k, c1 + (f.box[2:] - c0) * k])
                box = _clip_box(box, w, h)
                out.append(Face(box=box, score=f.score, landmarks5=landmarks5_from_mesh(mesh),
                                mesh=mesh, landmarks_source="facemesh"))
        return out

    def close(self) -> None:
        """Nothing to release: the sessions are cached per process (models.load_model)."""


def landmarks5_from_mesh(mesh: np.ndarray) -> np.ndarray:
    return mesh[[MESH_RIGHT_IRIS, MESH_LEFT_IRIS, MESH_NOSE_TIP, MESH_MOUTH_RIGHT, MESH_MOUTH_LEFT]]


def landmarks5_from_detector(kps: np.ndarray) -> np.ndarray:
    """BlazeFace gives eyes, nose tip and mouth centre; mouth corners are placed from them."""
    right_eye, left_eye, nose, mouth = kps[0], kps[1], kps[2], kps[3]
    half = _MOUTH_HALF_RATIO * (left_eye - right_eye)
    return np.stack([right_eye, left_eye, nose, mouth - half, mouth + half])


@lru_cache(maxsize=4)
def get_detector(settings_json: str = "{}") -> FaceDetector:
    """One detector per process and settings: model loading is the expensive part."""
    return FaceDetector(FaceSettings.model_validate_json(settings_json))
