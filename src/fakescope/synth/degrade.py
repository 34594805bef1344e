"""Degradations of real distribution channels: re-encoding, rescaling, blur, noise,
colour shifts. Used to augment training and to measure robustness."""

from __future__ import annotations

import re
from collections.abc import Callable

import cv2
import numpy as np


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def h264(img: np.ndarray, crf: int) -> np.ndarray:
    """One frame through H.264 (libx264 via PyAV, 4:2:0) and back: what a video codec does
    to a picture, for training detectors that must not take codec smoothing for evidence."""
    import io

    import av

    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": "ultrafast", "tune": "zerolatency"}
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h, :w]), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as src:
        decoded = next(src.decode(video=0)).to_ndarray(format="rgb24")
    if decoded.shape[:2] != img.shape[:2]:  # an odd side: keep the last row/column as it was
        full = img.copy()
        full[:h, :w] = decoded
        return full
    return decoded


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


# Where an evaluation crop starts: off the 8x8 JPEG grid and off any 2x upsampling phase,
# so a crop changes what a detector sees beyond the smaller field of view.
CROP_OFFSET = 13


def beauty_filter(img: np.ndarray) -> np.ndarray:
    """A heavy beauty/denoise filter (two strong edge-preserving bilateral passes), as cheap
    phone retouching applies: the generated-image evidence reads it as generated
    (benchmarks/bench_feedback.py's deployment)."""
    return cv2.bilateralFilter(cv2.bilateralFilter(np.ascontiguousarray(img), 15, 80, 80), 15, 80, 80)


def off_grid_crop(img: np.ndarray, keep: float) -> np.ndarray:
    """Keep ``keep`` of each side, starting CROP_OFFSET pixels in (no resampling)."""
    h, w = img.shape[:2]
    return img[CROP_OFFSET : CROP_OFFSET + max(32, round(h * keep)),
               CROP_OFFSET : CROP_OFFSET + max(32, round(w * keep))]


def channel(spec: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """A named distribution channel for measuring robustness: ``none``, ``jpegQ`` (JPEG at
    quality Q), ``resizeF`` (scale by F <= 1) or ``cropF`` (keep F of each side, off-grid).
    None for ``none``; ValueError for anything else."""
    if spec == "none":
        return None
    m = re.fullmatch(r"jpeg(\d{1,3})", spec)
    if m and 1 <= int(m.group(1)) <= 100:
        q = int(m.group(1))
        return lambda rgb: jpeg(rgb, q)
    m = re.fullmatch(r"(resize|crop)(0?\.\d+|1(\.0+)?)", spec)
    if m and 0 < float(m.group(2)) <= 1:
        f = float(m.group(2))
        if m.group(1) == "resize":
            return lambda rgb: rescale(rgb, f, back=False)
        return lambda rgb: off_grid_crop(rgb, f)
    raise ValueError(f"unknown degradation {spec!r}: use none, jpegQ (e.g. jpeg70), resizeF (e.g. "
                     "resize0.5) or cropF (e.g. crop0.75)")
