"""BlazeFace face detection (short and full range) from the bundled ONNX files.

The models are mediapipe's (Apache-2.0), converted once by
``scripts/convert_face_models.py``; this module is mediapipe's face-detection graph around
them, step for step, so boxes and keypoints match what mediapipe 0.10.21 gave: the image
letterboxed into the model's square input (values in [-1, 1]), SSD anchors, box and
keypoint decoding, score sigmoid, weighted non-maximum suppression, and projection back
to image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from fakescope.models import load_model


@dataclass(frozen=True)
class DetectorSpec:
    model: str
    size: int
    strides: tuple[int, ...]
    # mediapipe's "interpolated_scale_aspect_ratio": 1.0 gives each cell a second anchor
    two_anchors: bool


SHORT = DetectorSpec("face-detect-short", 128, (8, 16, 16, 16), True)
FULL = DetectorSpec("face-detect-full", 192, (4,), False)
_NMS_IOU = 0.3
_SCORE_CLIP = 100.0


@dataclass
class Detection:
    box: np.ndarray  # x0, y0, x1, y1 in pixels
    score: float
    keypoints: np.ndarray  # (6, 2) pixels: right eye, left eye, nose, mouth, right ear, left ear


@lru_cache(maxsize=2)
def anchors(spec: DetectorSpec) -> np.ndarray:
    """Anchor centres (N, 2) in [0, 1]; every anchor has size 1 (fixed_anchor_size), layers
    of equal stride share one grid, as mediapipe's SsdAnchorsCalculator lays them out."""
    out = []
    layer = 0
    strides = spec.strides
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2 if spec.two_anchors else 1
            last += 1
        n = -(-spec.size // strides[layer])
        ys, xs = np.mgrid[0:n, 0:n]
        centres = np.stack([(xs + 0.5) / n, (ys + 0.5) / n], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
        layer = last
    return np.concatenate(out).astype(np.float32)


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The image fitted into a size x size square (centred, zero borders), as mediapipe's
    ImageToTensorCalculator with keep_aspect_ratio does (a perspective warp of the padded
    ROI's corners, bilinear, 8-bit), and the ROI (x0, y0, side) in image pixels."""
    h, w = rgb.shape[:2]
    side = float(max(w, h))
    x0, y0 = (w - side) / 2.0, (h - side) / 2.0
    src = np.array([[x0, y0 + side], [x0, y0], [x0 + side, y0], [x0 + side, y0 + side]], np.float32)
    dst = np.array([[0, size], [0, 0], [size, 0], [size, size]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(rgb, m, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, np.array([x0, y0, side])


def weighted_nms(boxes: np.ndarray, kps: np.ndarray,
                 scores: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """mediapipe's WEIGHTED non-maximum suppression: each cluster (IoU above 0.3 with its
    best member) becomes one detection with the best score and the score-weighted mean of
    the members' boxes and keypoints."""
    order = np.argsort(-scores, kind="stable")
    out = []
    remaining = order
    while remaining.size:
        top = remaining[0]
        b = boxes[remaining]
        ix0 = np.maximum(b[:, 0], boxes[top, 0])
        iy0 = np.maximum(b[:, 1], boxes[top, 1])
        ix1 = np.minimum(b[:, 2], boxes[top, 2])
        iy1 = np.minimum(b[:, 3], boxes[top, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        union = area + (boxes[top, 2] - boxes[top, 0]) * (boxes[top, 3] - boxes[top, 1]) - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        member = iou > _NMS_IOU
        member[0] = True
        idx = remaining[member]
        wts = scores[idx][:, None]
        total = float(wts.sum())
        box = (boxes[idx] * wts).sum(0) / total
        kp = (kps[idx] * wts[:, :, None]).sum(0) / total
        out.append((box, kp, float(scores[top])))
        remaining = remaining[~member]
    return out


class BlazeFace:
    """One of the two detectors; ``__call__`` gives detections in image pixels, best first."""

    def __init__(self, spec: DetectorSpec, min_score: float, threads: int = 1) -> None:
        self.spec = spec
        self.min_score = min_score
        self._session = load_model(spec.model, threads=threads).session
        self._input = self._session.get_inputs()[0].name  # type: ignore[attr-defined]
        self._anchors = anchors(spec)

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Decoded candidates above the score threshold: boxes (x0,y0,x1,y1) and keypoints
        in [0, 1] of the letterboxed square, scores, and the ROI (x0, y0, side)."""
        size = self.spec.size
        square, roi = letterbox(rgb, size)
        x = (square.astype(np.float32) * (2.0 / 255.0) - 1.0)[None]
        reg, cls = self._session.run(None, {self._input: x})  # type: ignore[attr-defined]
        reg, logits = reg[0], cls[0, :, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -_SCORE_CLIP, _SCORE_CLIP)))
        keep = scores >= self.min_score
        reg, scores, anc = reg[keep] / size, scores[keep], self._anchors[keep]
        cx, cy = reg[:, 0] + anc[:, 0], reg[:, 1] + anc[:, 1]
        bw, bh = reg[:, 2], reg[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
        kps = reg[:, 4:16].reshape(-1, 6, 2) + anc[:, None, :]
        return boxes, kps, scores, roi

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        boxes, kps, scores, roi = self.raw(rgb)
        if not len(scores):
            return []
        x0, y0, side = roi
        out = []
        for box, kp, score in weighted_nms(boxes, kps, scores):
            out.append(Detection(box=box * side + np.array([x0, y0, x0, y0]), score=score,
                                 keypoints=kp * side + np.array([x0, y0])))
        return out
