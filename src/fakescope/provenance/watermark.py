"""Invisible watermarks: invisible-watermark's ``dwtDctSvd`` with a fakescope payload.

The mark is 64 bits: a fixed 32-bit magic followed by a 32-bit payload. Detection reads
the 64 bits and calls the mark present when at least 28 of the 32 magic bits agree: on an
unmarked image the bits are coin flips, so that happens by chance with probability
sum(C(32,k), k=28..32) / 2^32 ≈ 1e-5. The magic has as many ones as zeros, so flat images
(which read all-0 or all-1) never pass.

Embedding uses invisible-watermark's own encoder. Its package ``__init__`` imports torch
(for RivaGAN), which fakescope's runtime never loads, so the one module needed is loaded
from the installed package on its own. Detection runs in every scan, so it is a vectorised
reimplementation of the same decoder: the largest singular value of a 4x4 block's
orthonormal DCT equals the block's own (the DCT is orthogonal), so one batched SVD over
all blocks replaces a Python loop of DCT+SVD per block. The tests check that it reads
exactly the bits the library's decoder reads.

TrustMark is not supported: its PyPI package downloads its model weights at run time
(and needs torch), and fakescope never downloads anything at run time.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fakescope.errors import DependencyMissingError, UnsupportedMediaError
from fakescope.provenance.models import WatermarkInfo

METHOD = "dwtDctSvd"
MAGIC = 0xF0A53C96  # 16 ones, 16 zeros
MAGIC_BITS = 32
PAYLOAD_BITS = 32
TOTAL_BITS = MAGIC_BITS + PAYLOAD_BITS
MIN_MAGIC_AGREEMENT = 28
SCALE = 36  # invisible-watermark's default strength on the U channel
BLOCK = 4
MIN_PIXELS = 256 * 256  # the library refuses smaller images
# Above this many blocks (images over ~4 megapixels) detection reads every k-th row of
# blocks: each bit still gets over a thousand votes and a scan stays cheap.
MAX_BLOCKS = 1 << 16


def to_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def from_bits(bits: np.ndarray) -> int:
    return int("".join(str(int(b)) for b in bits), 2) if len(bits) else 0


def mark_bits(payload: int) -> np.ndarray:
    if not 0 <= payload < 2**PAYLOAD_BITS:
        raise ValueError(f"payload must fit in {PAYLOAD_BITS} bits")
    return np.concatenate([to_bits(MAGIC, MAGIC_BITS), to_bits(payload, PAYLOAD_BITS)])


@lru_cache(maxsize=1)
def _reference_codec() -> Any:
    spec = importlib.util.find_spec("imwatermark")  # finds without importing (no torch)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyMissingError(
            "watermark embedding needs invisible-watermark: pip install --no-deps "
            "invisible-watermark PyWavelets"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "dwtDctSvd.py"
    mspec = importlib.util.spec_from_file_location("fakescope._imwatermark_dwtdctsvd", path)
    if mspec is None or mspec.loader is None:
        raise DependencyMissingError(f"invisible-watermark is incomplete: {path} is missing")
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module.EmbedDwtDctSvd


def embed(rgb: np.ndarray, payload: int) -> np.ndarray:
    """The image with the fakescope mark carrying ``payload`` (32 bits), RGB uint8."""
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        raise UnsupportedMediaError(f"image is {w}x{h}; watermarking needs at least 256x256 pixels")
    codec = _reference_codec()(watermarks=list(mark_bits(payload)), wmLen=TOTAL_BITS,
                               scales=[0, SCALE, 0], block=BLOCK)
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(codec.encode(bgr), cv2.COLOR_BGR2RGB)


def read_scores(rgb: np.ndarray, n_bits: int = TOTAL_BITS) -> np.ndarray:
    """Per bit, the share of blocks voting 1 (the library's ``avgScores``), vectorised."""
    h, w = rgb.shape[:2]
    h4, w4 = h // 4 * 4, w // 4 * 4
    nr, nc = (h4 // 2) // BLOCK, (w4 // 2) // BLOCK
    rows = np.arange(0, nr, max(1, -(-nr * nc // MAX_BLOCKS)))
    # Only the block rows read are converted, one strip at a time: the whole picture's U
    # plane in float64 was 8 bytes a pixel (634 MB for 8900x8900) for a sample of it.
    strips = []
    for r in rows:
        strip = np.ascontiguousarray(rgb[2 * BLOCK * r : 2 * BLOCK * (r + 1), :w4])
        u = cv2.cvtColor(strip, cv2.COLOR_RGB2YUV)[..., 1].astype(np.float64)
        # The Haar DWT's approximation band is each 2x2 cell's sum / 2: the same numbers as
        # pywt.dwt2(u, "haar")[0], without computing the three detail bands (5x faster).
        ca = u.reshape(BLOCK, 2, w4 // 2, 2).sum(axis=(1, 3)) / 2.0
        strips.append(ca[:, : nc * BLOCK])
    if not strips:
        return np.zeros(n_bits)
    b = np.stack(strips).reshape(len(rows), BLOCK, nc, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)
    # The largest singular value, as the root of the largest eigenvalue of B^T B: equal to
    # the SVD's to 1e-12 and faster on many small blocks.
    gram = np.einsum("nij,nik->njk", b, b)
    s0 = np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0))
    votes = (s0 % SCALE) > SCALE * 0.5
    # Blocks carry bits round-robin in raster order: block (i, j) carries (i*nc + j) % n.
    which = ((rows[:, None] * nc + np.arange(nc)[None, :]) % n_bits).ravel()
    ones = np.bincount(which, weights=votes, minlength=n_bits)
    count = np.bincount(which, minlength=n_bits)
    return ones / np.maximum(count, 1)


def read_bits(rgb: np.ndarray, n_bits: int = TOTAL_BITS) -> np.ndarray:
    return (read_scores(rgb, n_bits) * 255 > 127).astype(np.uint8)  # the library's rounding


def detect(rgb: np.ndarray) -> WatermarkInfo:
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        return WatermarkInfo(method=METHOD, checked=False,
                             reason="image smaller than 256x256 pixels: too small to carry the mark")
    bits = read_bits(rgb)
    agree = int(np.sum(bits[:MAGIC_BITS] == to_bits(MAGIC, MAGIC_BITS)))
    found = agree >= MIN_MAGIC_AGREEMENT
    return WatermarkInfo(
        method=METHOD, checked=True, detected=found,
        payload=f"{from_bits(bits[MAGIC_BITS:]):08x}" if found else None,
        bit_accuracy=round(agree / MAGIC_BITS, 4),
    )
