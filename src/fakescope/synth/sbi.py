"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): pseudo-fakes from real faces.

A real face is blended with a slightly altered copy of itself inside a mask derived from
its own landmarks. The result carries the traces every face swap leaves (a blending
boundary, colour and sharpness mismatch, a small misregistration) and nothing else: no
other identity is ever involved, so this cannot be used to put one person's face on
another. Detectors trained on such images generalise to swaps they never saw.

Only numpy and OpenCV: usable at training time and for generating demo media.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# FaceMesh contour of the whole face (forehead to chin), and a lower-face variant
# (brows to chin) used by some swap methods.
FACE_OVAL = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
]
INNER_FACE = [
    70, 63, 105, 66, 107, 55, 8, 285, 336, 296, 334, 293, 300, 383, 372, 345, 352, 376, 433,
    416, 434, 430, 431, 262, 428, 199, 208, 32, 211, 210, 214, 192, 213, 147, 123, 116, 143,
    156,
]


@dataclass(frozen=True)
class SBIConfig:
    """Ranges of the random choices; defaults follow the paper where it gives them."""

    scale: tuple[float, float] = (0.95, 1.05)
    shift: float = 0.03  # of the crop side
    boundary_blur: tuple[int, int] = (5, 31)  # odd kernel sizes drawn in this range
    mask_deform: float = 0.04  # elastic deformation amplitude, of the crop side
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    inner_mask_p: float = 0.3


def landmark_mask(shape: tuple[int, int], mesh: np.ndarray, rng: np.random.Generator,
                  cfg: SBIConfig = SBIConfig()) -> np.ndarray:
    """Float mask in [0, 1]: the face region, deformed and with a soft edge."""
    h, w = shape
    idx = INNER_FACE if rng.random() < cfg.inner_mask_p else FACE_OVAL
    pts = mesh[idx].astype(np.float32)
    hull = cv2.convexHull(pts).astype(np.int32)
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    # Elastic deformation: a smooth random displacement field warps the mask outline.
    amp = cfg.mask_deform * max(h, w)
    grid = 4
    dx = cv2.resize(rng.uniform(-amp, amp, (grid, grid)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.uniform(-amp, amp, (grid, grid)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)
    # Erode or dilate a little, then blur: the boundary width varies like real swaps'.
    k = int(rng.integers(1, max(2, w // 20)))
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    lo, hi = cfg.boundary_blur
    ks = int(rng.integers(lo // 2, hi // 2 + 1)) * 2 + 1
    mask = cv2.GaussianBlur(mask, (ks, ks), 0)
    if rng.random() < 0.5:  # a second blur only inside: a hard-edged inner region, soft rim
        mask = np.minimum(mask, cv2.GaussianBlur(mask, (ks, ks), 0) * 1.5)
    return np.clip(mask, 0.0, 1.0)


def _colour_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    if rng.random() < 0.7:  # per-channel shift
        out += rng.uniform(-20, 20, 3).astype(np.float32)
    if rng.random() < 0.5:  # hue/saturation in HSV
        hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
        hsv = hsv.astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
        hsv[..., 1] *= rng.uniform(0.8, 1.2)
        hsv[..., 2] *= rng.uniform(0.85, 1.15)
        out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(
            np.float32
        )
    if rng.random() < 0.5:  # brightness/contrast
        mean = out.mean()
        out = (out - mean) * rng.uniform(0.85, 1.15) + mean + rng.uniform(-15, 15)
    return np.clip(out, 0, 255).astype(np.uint8)


def _frequency_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    r = rng.random()
    if r < 0.4:  # resolution loss, as when a generated face is upscaled into the frame
        f = rng.uniform(0.35, 0.8)
        small = cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))),
                           interpolation=cv2.INTER_AREA)
        interp = [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST][int(rng.integers(0, 3))]
        return cv2.resize(small, (w, h), interpolation=interp)
    if r < 0.6:  # over-sharpened
        blur = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 2.0))
        return cv2.addWeighted(img, 1.6, blur, -0.6, 0)
    if r < 0.8:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    return img


def restyle(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The appearance change self-blending applies to one side, applied to a whole image."""
    return _frequency_jitter(_colour_jitter(img, rng), rng)


def self_blend(face: np.ndarray, mesh: np.ndarray, rng: np.random.Generator,
               cfg: SBIConfig = SBIConfig(), alter: str = "random",
               ) -> tuple[np.ndarray, np.ndarray]:
    """A pseudo-fake of ``face`` (aligned RGB crop) and the blend mask that made it.

    ``mesh`` holds the 478 FaceMesh points in the crop's pixel coordinates. ``alter``
    says which side gets the altered appearance: ``inside`` (the blended-in face),
    ``outside`` (its surroundings) or ``random``. With ``inside``, pixels where the mask
    is 0 are untouched, so the crop can be pasted back into its photo.
    """
    h, w = face.shape[:2]
    altered = restyle(face, rng)
    inside = rng.random() < 0.5 if alter == "random" else alter == "inside"
    source, target = (altered, face) if inside else (face, altered)
    # Misregister the source: a small scale change and shift about the face centre.
    s = rng.uniform(*cfg.scale)
    cx, cy = mesh[:, 0].mean(), mesh[:, 1].mean()
    tx, ty = rng.uniform(-cfg.shift, cfg.shift, 2) * np.array([w, h])
    m = np.array([[s, 0, (1 - s) * cx + tx], [0, s, (1 - s) * cy + ty]], np.float32)
    source = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    mask = landmark_mask((h, w), mesh, rng, cfg)
    mask *= float(rng.choice(cfg.blend_ratios))
    out = source.astype(np.float32) * mask[..., None] + target.astype(np.float32) * (
        1.0 - mask[..., None]
    )
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), mask
