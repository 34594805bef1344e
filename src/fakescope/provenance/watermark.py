"""Invisible watermarks: the ``dwtDctSvd`` scheme of invisible-watermark, with a fakescope payload.

The mark is 64 bits: a fixed 32-bit magic followed by a 32-bit payload. Detection reads
the 64 bits and calls the mark present when at least 28 of the 32 magic bits agree: on an
unmarked image the bits are coin flips, so that happens by chance with probability
sum(C(32,k), k=28..32) / 2^32 ≈ 1e-5. The magic has as many ones as zeros, so flat images
(which read all-0 or all-1) never pass.

Both directions are fakescope's own code; the invisible-watermark package is not needed
at run time (its package ``__init__`` imports torch, and its metadata pulls torch). They
follow invisible-watermark 0.2.0's ``EmbedDwtDctSvd`` (U channel of OpenCV's YUV, Haar
DWT, 4x4 blocks of the approximation band, the largest singular value of each block's DCT
quantised with step 36), so marks made by either are read by both.

Embedding reproduces the library's arithmetic operation for operation, batched over all
blocks instead of a Python loop per block (1920x1080: 0.27 s, the library 1.3 s), and its
output is identical to the library encoder's, pixel for pixel: the floats are truncated
to uint8, so even last-bit differences would show (``tests/test_watermark_codec.py``
compares the two whenever the library is installed). Detection runs in every scan, so it
takes shortcuts that give the same bits rather than the same floats: the largest singular
value of a 4x4 block's orthonormal DCT equals the block's own (the DCT is orthogonal), so
one batched eigenvalue problem over all blocks replaces DCT+SVD per block. The tests
check that it reads exactly the bits the library's decoder reads.

TrustMark is not supported: its PyPI package downloads its model weights at run time
(and needs torch), and fakescope never downloads anything at run time.
"""

from __future__ import annotations

import cv2
import numpy as np
import pywt

from fakescope.errors import UnsupportedMediaError
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


def _dct_blocks(blocks: np.ndarray, flags: int = 0) -> np.ndarray:
    """cv2.dct (or, with DCT_INVERSE, cv2.idct) of each 4x4 block of an (n, 4, 4) float64 array.

    OpenCV's 2-D DCT of a small matrix is its 1-D DCT of every row, then of every column.
    DCT_ROWS runs the same 1-D transform over all rows of all blocks in one call, so two
    calls (rows, then the transposed blocks' rows) give the library's per-block
    ``cv2.dct(block)`` bit for bit, which a matrix product (D @ B @ D.T) would not: its
    last-bit differences can move a pixel across an integer, and the result is truncated.
    """
    n = len(blocks)
    rows = cv2.dct(np.ascontiguousarray(blocks).reshape(-1, BLOCK), flags=flags | cv2.DCT_ROWS)
    cols = np.ascontiguousarray(rows.reshape(n, BLOCK, BLOCK).swapaxes(1, 2)).reshape(-1, BLOCK)
    return cv2.dct(cols, flags=flags | cv2.DCT_ROWS).reshape(n, BLOCK, BLOCK).swapaxes(1, 2)


def _diffuse(blocks: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """The library's ``diffuse_dct_svd`` on every block at once: block i carries bits[i]."""
    u, s, vt = np.linalg.svd(_dct_blocks(blocks))  # batched LAPACK: the same call per block
    # Quantise the largest singular value: bit 0 puts it at 1/4 of a step of 36, bit 1 at
    # 3/4; the decoder reads which half of the step it is in. Same expression and order of
    # operations as the library, so the same float.
    s[:, 0] = (s[:, 0] // SCALE + 0.25 + 0.5 * bits) * SCALE
    # u @ diag(s) @ vt as the library writes it: diag(s) @ vt is exactly each row of vt
    # times its s (the other products are zeros), and the batched matmul calls the same
    # BLAS product per block as np.dot.
    return _dct_blocks(u @ (s[:, :, None] * vt), cv2.DCT_INVERSE)


def embed(rgb: np.ndarray, payload: int) -> np.ndarray:
    """The image with the fakescope mark carrying ``payload`` (32 bits), RGB uint8.

    Pixel for pixel what invisible-watermark 0.2.0's dwtDctSvd encoder returns (scales
    [0, 36, 0], 4x4 blocks, the 64 bits of ``mark_bits``), in strips of rows and with all
    the blocks of a strip transformed together.
    """
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        raise UnsupportedMediaError(f"image is {w}x{h}; watermarking needs at least 256x256 pixels")
    # Like the library, only the top-left region of whole 4x4 pixel cells is transformed;
    # the last h % 4 rows and w % 4 columns keep their U values.
    h4, w4 = h // 4 * 4, w // 4 * 4
    nc = (w4 // 2) // BLOCK  # blocks per row of the approximation band
    if nc * ((h4 // 2) // BLOCK) < TOTAL_BITS:
        raise UnsupportedMediaError(f"image is {w}x{h}; too narrow to carry {TOTAL_BITS} bits")
    bits = mark_bits(payload).astype(np.float64)
    # The library converts BGR to YUV; OpenCV's RGB2YUV is the same conversion with the
    # channels named the other way round (same integer arithmetic, same bytes).
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV)
    # The Haar DWT works on 2x2 cells, so strips of whole block rows (8 pixel rows each)
    # transform exactly as the whole plane does; the float64 working set is one strip of
    # ~64k blocks (~8 MB an array) instead of the library's several float64 copies of the
    # whole U plane (8 bytes a pixel each: 634 MB for 8900x8900).
    step = max(1, MAX_BLOCKS // nc) * 2 * BLOCK
    for y0 in range(0, h4, step):
        y1 = min(h4, y0 + step)
        # pywt itself, not the cell sums read_scores uses: its round trip is off by ~1e-14
        # (69 comes back as 68.99999999999999 for about 6% of noise pixels, and truncates
        # to 68), so only the same float operations give the library's pixels.
        ca, (ch, cv, cd) = pywt.dwt2(yuv[y0:y1, :w4, 1], "haar")
        # A strip ends with 2 band rows that hold no block when h4 is not a multiple of 8
        # (the last strip, or all of it for a strip of 4 pixel rows).
        nr = ca.shape[0] // BLOCK
        if nr:
            region = ca[: nr * BLOCK, : nc * BLOCK]
            blocks = region.reshape(nr, BLOCK, nc, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)
            # Bits go round-robin over blocks in raster order of the whole image.
            number = (y0 // (2 * BLOCK)) * nc + np.arange(nr * nc)
            marked = _diffuse(blocks, bits[number % TOTAL_BITS])
            region[...] = marked.reshape(nr, nc, BLOCK, BLOCK).swapaxes(1, 2).reshape(nr * BLOCK, -1)
        # The library inverts with the detail bands in the order (vertical, horizontal,
        # diagonal) where pywt returned (horizontal, vertical, diagonal): that transposes
        # every 2x2 cell's detail (swaps its top-right and bottom-left U values), in marked
        # and unmarked cells alike. Kept, so that the output matches the library's.
        # The float64 result goes into the uint8 plane by numpy's cast, which truncates
        # (126.9999 becomes 126) as the library's assignment does. It cannot wrap: OpenCV's
        # U lies in [17, 239] and a block's change in the DCT domain is at most 27 (3/4 of a
        # step), which spreads to at most 13.5 on one pixel.
        yuv[y0:y1, :w4, 1] = pywt.idwt2((ca, (cv, ch, cd)), "haar")
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)


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
