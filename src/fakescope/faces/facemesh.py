"""FaceMesh with attention (478 landmarks, irises included) from the bundled ONNX file.

mediapipe's face-landmark graph around the converted model (scripts/convert_face_models.py),
step for step: a region of interest from a detection (rotated so the eyes are level,
square, 1.5x the box) or from the previous frame's landmarks (video tracking), cropped
into the model's 192x192 input (values in [0, 1]), landmarks projected back to image
pixels, and the face-presence score that tells a tracker it lost the face. The lips,
eyes and irises refinement happens inside the ONNX graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fakescope.models import load_model

SIZE = 192
MODEL = "face-mesh"
_ROI_SCALE = 1.5
# Eye corners that level a landmark-based ROI (mediapipe: outer corners of both eyes).
_LEVEL_FROM, _LEVEL_TO = 33, 263


@dataclass(frozen=True)
class Roi:
    """A square region in image pixels, rotated by ``rotation`` radians (mediapipe's
    convention: positive turns the picture clockwise on screen)."""

    cx: float
    cy: float
    side: float
    rotation: float


def _normalize_radians(a: float) -> float:
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def _roi(cx: float, cy: float, w: float, h: float, p0: np.ndarray, p1: np.ndarray) -> Roi:
    """DetectionsToRects (rotation from p0 to p1 made level) then RectTransformation
    (square on the long side, 1.5x), all in pixels."""
    rotation = _normalize_radians(-math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0]))
    return Roi(cx, cy, max(w, h) * _ROI_SCALE, rotation)


def roi_from_detection(box: np.ndarray, keypoints: np.ndarray) -> Roi:
    x0, y0, x1, y1 = (float(v) for v in box)
    return _roi((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, keypoints[0], keypoints[1])


def roi_from_landmarks(pts: np.ndarray) -> Roi:
    lo, hi = pts.min(0), pts.max(0)
    return _roi(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, float(hi[0] - lo[0]),
                float(hi[1] - lo[1]), pts[_LEVEL_FROM], pts[_LEVEL_TO])


def crop(rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray]:
    """The ROI warped into SIZE x SIZE (bilinear, edge pixels repeated outside the image,
    as mediapipe's ImageToTensorCalculator does) and the 3x3 map from crop to image."""
    box = cv2.boxPoints(((roi.cx, roi.cy), (roi.side, roi.side), math.degrees(roi.rotation)))
    dst = np.array([[0, SIZE], [0, 0], [SIZE, 0], [SIZE, SIZE]], np.float32)
    m = cv2.getPerspectiveTransform(box.astype(np.float32), dst)
    out = cv2.warpPerspective(rgb, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return out, m


def project(pts: np.ndarray, roi: Roi) -> np.ndarray:
    """Landmarks in crop pixels back to image pixels (mediapipe's LandmarkProjection)."""
    rel = pts / SIZE - 0.5
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    x = (c * rel[:, 0] - s * rel[:, 1]) * roi.side + roi.cx
    y = (s * rel[:, 0] + c * rel[:, 1]) * roi.side + roi.cy
    return np.stack([x, y], -1)


class FaceMesh:
    def __init__(self, threads: int = 1) -> None:
        self._session = load_model(MODEL, threads=threads).session
        self._input = self._session.get_inputs()[0].name  # type: ignore[attr-defined]

    def __call__(self, rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """478 landmarks (x, y in image pixels) and the face-presence probability."""
        patch, _ = crop(rgb, roi)
        x = (patch.astype(np.float32) / 255.0)[None]
        pts, flag = self._session.run(None, {self._input: x})  # type: ignore[attr-defined]
        presence = 1.0 / (1.0 + math.exp(-float(flag[0, 0])))
        return project(pts[0].astype(np.float64), roi), presence
