"""Pseudo-edits made from real photos, with exact masks: the training data of ``local-edit``.

Nobody publishes thousands of real splices with masks under an open licence, but every edit
leaves a region whose camera and compression history differ from the rest of the picture.
These edits reproduce the traces, never the intent: a region pasted from another photo
(splice), from elsewhere in the same photo (copy-move), re-synthesised (classic inpainting,
a latent autoencoder's reconstruction: the trace of generative fill, resampling, smoothing,
denoising) or compressed differently (a region from another JPEG generation, its 8x8 grid
shifted). Both classes then go through the same chain (``after_edit``: resize, JPEG, crop),
so only the edit tells them apart.

Everything is drawn from a ``numpy`` generator: one seed, one dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

Autoencoder = Callable[[np.ndarray], np.ndarray]  # RGB uint8 -> its reconstruction, same size

KINDS = ("splice", "copy-move", "inpaint", "autoencoder", "resample", "jpeg", "noise")


@dataclass
class Edited:
    rgb: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) float32 in [0, 1]: how much of each pixel the edit replaced
    kind: str  # one of KINDS, or "none" for an untouched photo


def region_mask(rng: np.random.Generator, h: int, w: int,
                area: tuple[float, float] = (0.01, 0.25)) -> np.ndarray:
    """A binary region (uint8 0/1) covering a share of the picture in ``area``: a smooth blob,
    an ellipse, a polygon or a rectangle (what hand selections and object masks look like)."""
    target = rng.uniform(*area) * h * w
    side = np.sqrt(target)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    m = np.zeros((h, w), np.uint8)
    shape = rng.choice(["blob", "ellipse", "polygon", "rect"], p=[0.4, 0.2, 0.25, 0.15])
    if shape == "ellipse":
        ax = side * rng.uniform(0.5, 1.2)
        ay = target / (np.pi * ax / 1.0) if ax > 0 else side
        cv2.ellipse(m, (int(cx), int(cy)), (max(2, int(ax)), max(2, int(ay))), float(rng.uniform(0, 180)),
                    0, 360, 1, -1)
    elif shape == "rect":
        rw = side * rng.uniform(0.6, 1.6)
        rh = target / max(rw, 1.0)
        cv2.rectangle(m, (int(cx - rw / 2), int(cy - rh / 2)), (int(cx + rw / 2), int(cy + rh / 2)), 1, -1)
    elif shape == "polygon":
        n = int(rng.integers(4, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = side * 0.6 * rng.uniform(0.5, 1.3, n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(m, [pts], 1)
    else:
        noise = cv2.GaussianBlur(rng.normal(size=(h, w)).astype(np.float32), (0, 0), max(2.0, side / 4))
        yy, xx = np.mgrid[0:h, 0:w]
        bump = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (side * 0.6) ** 2)))
        field = bump + 0.5 * noise / (noise.std() + 1e-6) * bump.max() * 0.3
        thr = np.quantile(field, 1 - min(target / (h * w), 0.6))
        m = (field >= thr).astype(np.uint8)
    if m.sum() < 16:  # degenerate draw: a small square at the centre
        m[int(cy) - 4:int(cy) + 4, int(cx) - 4:int(cx) + 4] = 1
    return m


def _soft(rng: np.random.Generator, m: np.ndarray) -> np.ndarray:
    """Feathered edges (a selection's soft brush) or hard ones."""
    a = m.astype(np.float32)
    r = float(rng.choice([0, 0, 1, 2, 4]))
    return np.clip(cv2.GaussianBlur(a, (0, 0), r), 0, 1) if r else a


def _paste(base: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = base.astype(np.float32) * (1 - alpha[..., None]) + src.astype(np.float32) * alpha[..., None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _match_colour(src: np.ndarray, ref: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Shift ``src``'s region statistics toward ``ref``'s surroundings (a careful editor's
    colour match: the seam should not be what gives it away)."""
    sel = m > 0
    s, r = src.astype(np.float32), ref.astype(np.float32)
    mu_s, sd_s = s[sel].mean(0), s[sel].std(0) + 1e-3
    mu_r, sd_r = r[~sel].mean(0), r[~sel].std(0) + 1e-3
    return np.clip((s - mu_s) / sd_s * sd_r + mu_r, 0, 255).astype(np.uint8)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else rgb


def make_edit(rng: np.random.Generator, rgb: np.ndarray, donor: np.ndarray | None = None,
              kind: str | None = None, autoencoder: Autoencoder | None = None) -> Edited:
    """One local edit of ``rgb`` (uint8 RGB). ``donor``: another photo for splices;
    ``autoencoder``: for the generative-fill trace (skipped without one)."""
    h, w = rgb.shape[:2]
    kinds = [k for k in KINDS if (k != "splice" or donor is not None) and (k != "autoencoder" or autoencoder)]
    kind = kind or str(rng.choice(kinds))
    m = region_mask(rng, h, w)
    alpha = _soft(rng, m)
    if kind == "splice":
        assert donor is not None
        shrink = donor.shape[0] > h
        d = cv2.resize(donor, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            d = _match_colour(d, rgb, m)
        out = _paste(rgb, d, alpha)
    elif kind == "copy-move":
        dx, dy = (rng.uniform(-0.4, 0.4, 2) * (w, h)).astype(int)
        s, ang = rng.uniform(0.8, 1.25), rng.uniform(-20, 20) if rng.random() < 0.4 else 0.0
        ys, xs = np.nonzero(m)
        c = (float(xs.mean()), float(ys.mean()))
        t = cv2.getRotationMatrix2D(c, ang, s)
        t[:, 2] += (dx, dy)
        moved = cv2.warpAffine(rgb, t, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        m = cv2.warpAffine(m, t, (w, h), flags=cv2.INTER_NEAREST)
        if m.sum() < 16:
            return make_edit(rng, rgb, donor, "inpaint", autoencoder)
        alpha = _soft(rng, m)
        out = _paste(rgb, moved, alpha)
    elif kind == "inpaint":
        flag = cv2.INPAINT_TELEA if rng.random() < 0.5 else cv2.INPAINT_NS
        filled = cv2.inpaint(np.ascontiguousarray(rgb), m, float(rng.uniform(3, 9)), flag)
        out = _paste(rgb, filled, alpha)
    elif kind == "autoencoder":
        assert autoencoder is not None
        out = _paste(rgb, autoencoder(rgb), alpha)
    elif kind == "resample":
        f = rng.uniform(0.3, 0.7)
        small = cv2.resize(rgb, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
        how = cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR
        up = cv2.resize(small, (w, h), interpolation=how)
        if rng.random() < 0.3:
            up = cv2.GaussianBlur(up, (0, 0), rng.uniform(0.5, 1.5))
        out = _paste(rgb, up, alpha)
    elif kind == "jpeg":
        dx, dy = (int(v) for v in rng.integers(1, 8, 2))
        shifted = np.pad(rgb, ((dy, 0), (dx, 0), (0, 0)), mode="reflect")
        other = _jpeg(shifted, int(rng.integers(40, 85)))[dy:, dx:]
        out = _paste(rgb, other, alpha)
    elif kind == "noise":
        if rng.random() < 0.5:
            other = cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(rgb), None, 7, 7, 5, 11)
        else:
            other = np.clip(rgb + rng.normal(0, rng.uniform(3, 10), rgb.shape), 0, 255).astype(np.uint8)
        out = _paste(rgb, other, alpha)
    else:
        raise ValueError(f"unknown edit kind {kind!r}")
    return Edited(out, alpha, kind)


def after_edit(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray,
               size: int) -> tuple[np.ndarray, np.ndarray]:
    """What happens to a picture after its edit, the same for both classes: sometimes a
    resize, usually a JPEG save, then a ``size`` square crop (centred near the region when
    there is one, so most training crops show both sides of a seam)."""
    h, w = rgb.shape[:2]
    if rng.random() < 0.3:
        f = rng.uniform(0.6, 1.0)
        if min(h, w) * f >= size:
            rgb = cv2.resize(rgb, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.75:
        rgb = _jpeg(rgb, int(rng.integers(65, 101)))
    h, w = rgb.shape[:2]
    if min(h, w) < size:
        f = size / min(h, w)
        rgb = cv2.resize(rgb, (max(size, round(w * f)), max(size, round(h * f))),
                         interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        h, w = rgb.shape[:2]
    if mask.max() > 0 and rng.random() < 0.8:
        ys, xs = np.nonzero(mask > 0.5)
        if len(ys) == 0:
            ys, xs = np.nonzero(mask > 0)
        i = int(rng.integers(len(ys)))
        y0 = int(np.clip(ys[i] - rng.integers(size // 4, 3 * size // 4), 0, h - size))
        x0 = int(np.clip(xs[i] - rng.integers(size // 4, 3 * size // 4), 0, w - size))
    else:
        y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return rgb[y0:y0 + size, x0:x0 + size].copy(), mask[y0:y0 + size, x0:x0 + size].copy()
