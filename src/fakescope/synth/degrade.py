"""Degradations of real distribution channels: re-encoding, rescaling, blur, noise,
colour shifts. Used to augment training and to measure robustness."""

from __future__ import annotations

import cv2
import numpy as np


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def rescale(img: np.ndarray, factor: float, back: bool = True) -> np.ndarray:
    """Resize by ``factor`` (and back to the original size when ``back``)."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w * factor)), max(1, round(h * factor))),
                       interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    if not back:
        return small
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def random_degrade(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A random chain of channel degradations; ``strength`` scales every probability."""
    out = img
    if rng.random() < 0.3 * strength:  # colour/brightness drift
        f = out.astype(np.float32)
        f = (f - 128) * rng.uniform(0.85, 1.15) + 128 + rng.uniform(-12, 12)
        f += rng.uniform(-8, 8, 3).astype(np.float32)
        out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.25 * strength:
        out = rescale(out, rng.uniform(0.4, 0.9))
    r = rng.random()
    if r < 0.1 * strength:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.4))
    elif r < 0.25 * strength:
        # Sharpened as phones and editors do: on both classes, so that sharpness alone is
        # never evidence (self-blended fakes are sometimes sharpened inside the face only).
        blur = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 2.0))
        out = cv2.addWeighted(out, 1.0 + (amount := rng.uniform(0.3, 1.0)), blur, -amount, 0)
    if rng.random() < 0.1 * strength:
        noise = rng.normal(0, rng.uniform(2, 8), out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.1 * strength:  # display gamma of a screenshot or re-export
        g = rng.uniform(0.8, 1.25)
        out = (255.0 * (out.astype(np.float32) / 255.0) ** g + 0.5).astype(np.uint8)
    if rng.random() < 0.4 * strength:
        out = jpeg(out, int(rng.integers(50, 96)))
        if rng.random() < 0.3:  # re-shared: a second, different compression
            out = jpeg(out, int(rng.integers(60, 96)))
    return out


def random_geometry(img: np.ndarray, rng: np.random.Generator, shift: float = 0.03,
                    scale: float = 0.05, rotate: float = 6.0) -> np.ndarray:
    """Small similarity jitter, as landmark noise moves real alignments."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-rotate, rotate),
                                rng.uniform(1 - scale, 1 + scale))
    m[:, 2] += rng.uniform(-shift, shift, 2) * np.array([w, h])
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
