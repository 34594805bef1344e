"""Copy-moves: a region of the picture repeated elsewhere in the same picture.

The local-edit net compares each cell's traces with the rest of the picture, which a copy
from the same picture shares (same camera, same JPEG history): it ranks real copy-moves at
chance. What gives a copy away is the repetition itself. SIFT keypoints are matched within
the picture (each against its nearest others, kept when clearly closer than the next:
the generalised 2NN test), pairs too close to each other dropped; RANSAC finds up to
``TRANSFORMS`` affine maps carried by many pairs, and the strongest map's inlier count is
the score. Where it holds, a dense check outlines both copies: the picture warped by the
map correlates with itself there (zero-mean correlation over 7x7 windows) and has texture
to correlate. Repeated objects of a real scene (two identical bottles, a row of windows)
match as well: the local-edit card's threshold on the inlier count was set on real photos
of many sources (scripts/local_edit_thresholds.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

# Keypoints are found at this long side at most. SIFT's cost grows with the pixels (it
# doubles the picture first) and the matching's with the keypoints squared. On the dev
# set (copy-moves against every authentic picture, research/copy_move_settings.py) 352 px
# ranks them at 0.880 for 39 ms (320 px 0.874, 384 px 0.891 for 46 ms; at ratio 0.5,
# 512 px 0.922 for 77 ms, 1024 px 0.921 for 179 ms). The photo scan's budget, 120 ms for
# a 512 px photo (benchmarks/bench_photos.py), leaves room for 352 px.
SIDE = 352
FEATURES = 1500
RATIO = 0.6
TRANSFORMS = 3
NEIGHBOURS = 6
MIN_CORRELATION = 0.85
WINDOW = 7


@dataclass(frozen=True)
class CopyMove:
    inliers: int  # pairs carried by the strongest transform (0: none)
    mask: np.ndarray | None  # bool, at the picture's size: both copies, where inliers > 0
    shift_px: float  # how far the copy moved, in the picture's pixels


def _pairs(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kps, des = cv2.SIFT_create(nfeatures=FEATURES, contrastThreshold=0.02).detectAndCompute(grey, None)
    if des is None or len(kps) < 8:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    pts = np.float32([k.pt for k in kps])
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des, des, k=min(NEIGHBOURS, len(kps)))
    min_shift = max(10.0, 0.02 * max(grey.shape))
    src, dst = [], []
    for i, ms in enumerate(knn):
        ms = [m for m in ms if m.trainIdx != i]
        for a, b in itertools.pairwise(ms):
            if a.distance >= RATIO * max(b.distance, 1e-6):
                break
            j = a.trainIdx
            if j > i and np.hypot(*(pts[i] - pts[j])) >= min_shift:
                src.append(pts[i])
                dst.append(pts[j])
    return np.float32(src).reshape(-1, 2), np.float32(dst).reshape(-1, 2)


def _strongest(src: np.ndarray, dst: np.ndarray) -> tuple[int, np.ndarray | None, np.ndarray]:
    best, best_a, best_in = 0, None, np.zeros(len(src), bool)
    left = np.ones(len(src), bool)
    for _ in range(TRANSFORMS):
        if left.sum() < 4:
            break
        a, inl = cv2.estimateAffine2D(src[left], dst[left], ransacReprojThreshold=3.0,
                                      maxIters=2000, refineIters=10)
        if a is None:
            break
        inl = inl.ravel().astype(bool)
        idx = np.flatnonzero(left)[inl]
        if len(idx) > best:
            best, best_a = len(idx), a
            best_in = np.zeros(len(src), bool)
            best_in[idx] = True
        left[idx] = False
    return best, best_a, best_in


def _outline(grey: np.ndarray, a: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Both copies: where the picture moved by ``a`` correlates with itself, in the
    connected regions that hold the transform's keypoints."""
    h, w = grey.shape
    g = grey.astype(np.float32)
    moved = cv2.warpAffine(g, a, (w, h), flags=cv2.INTER_LINEAR, borderValue=-1.0)
    inside = cv2.warpAffine(np.ones_like(g), a, (w, h), flags=cv2.INTER_NEAREST) > 0
    k = (WINDOW, WINDOW)
    mg, mm = cv2.blur(g, k), cv2.blur(moved, k)
    vg = cv2.blur(g * g, k) - mg * mg
    vm = cv2.blur(moved * moved, k) - mm * mm
    cov = cv2.blur(g * moved, k) - mg * mm
    ncc = cov / np.sqrt(np.maximum(vg * vm, 1e-6))
    target = (ncc >= MIN_CORRELATION) & inside & (vg > 4.0)
    target = cv2.morphologyEx(target.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    target = cv2.morphologyEx(target, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    n, lab = cv2.connectedComponents(target)
    keep = np.zeros(n, bool)
    for x, y in anchors:
        xi, yi = min(w - 1, max(0, round(float(x)))), min(h - 1, max(0, round(float(y))))
        keep[lab[yi, xi]] = True
    keep[0] = False
    target = keep[lab].astype(np.uint8)
    source = cv2.warpAffine(target, cv2.invertAffineTransform(a), (w, h), flags=cv2.INTER_NEAREST)
    return (target | source).astype(bool)


def _at_most(grey: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    h, w = grey.shape
    f = min(1.0, side / max(h, w))
    if f < 1.0:
        grey = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return grey, f


def find_copies(rgb: np.ndarray) -> CopyMove:
    """The strongest repetition inside ``rgb`` (uint8 RGB), outlined at its size."""
    h, w = rgb.shape[:2]
    grey, f = _at_most(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), SIDE)
    src, dst = _pairs(grey)
    if len(src) < 4:
        return CopyMove(0, None, 0.0)
    n, a, inl = _strongest(src, dst)
    if a is None:
        return CopyMove(0, None, 0.0)
    mask = _outline(grey, a, dst[inl])
    if f < 1.0:
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    shift = float(np.median(np.hypot(*(dst[inl] - src[inl]).T))) / f
    return CopyMove(n, mask, shift)
