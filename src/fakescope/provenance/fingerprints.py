"""Perceptual fingerprints that survive re-compression and resizing.

- Images: pHash (signs of the low DCT frequencies of a 32x32 grey thumbnail against their
  median) and dHash (signs of horizontal gradients of a 9x8 thumbnail), 64 bits each, of
  the whole image and of nine 95 % crops on a 3x3 grid of offsets. A cropped copy is then
  within about 1 % of one registered variant: on the dev faces this took the recall after
  JPEG 70 + 0.5x + 5 % crop from 43 % (whole image only, same thresholds) to 99.5 %.
- Video: the pHash of each keyframe (PyAV decodes keyframes only; see media/container.py).
- Audio: Haitsma-Kalker style sub-fingerprints: for each 1/8 s frame of mono 5.5 kHz
  audio, 16 bits = signs of the time-difference of energy-band differences.

Near-duplicate decisions compare Hamming distances with thresholds measured on the dev
faces (benchmarks/bench_registry_false_match.py); the constants below carry the numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np

# Largest Hamming distances (of 64 bits) still called a near duplicate; both must hold.
# Measured on 400 dev faces (JPEG 70 + 0.5x + 5 % crop): recall 99.5 %, one false pair
# in 160,000 across different source videos.
PHASH_NEAR = 6
DHASH_NEAR = 6
# Video: a keyframe has a twin within this pHash distance; a share of the query's
# keyframes must have one (re-encoding moves keyframes, so the share is not 1).
KEYFRAME_PHASH_NEAR = 10
KEYFRAME_SHARE = 0.5
CROP_KEEP = 0.95  # registered crop variants keep 95 % of each side
CROP_STEPS = 3
# Audio: largest bit error rate between aligned sub-fingerprint runs.
AUDIO_BER_NEAR = 0.30


def _grey(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _pack(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.astype(np.uint8).ravel()).tobytes(), "big")


def phash(rgb: np.ndarray) -> int:
    small = cv2.resize(_grey(rgb), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8]
    return _pack(low > np.median(low))


def dhash(rgb: np.ndarray) -> int:
    small = cv2.resize(_grey(rgb), (9, 8), interpolation=cv2.INTER_AREA)
    return _pack(small[:, 1:] > small[:, :-1])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass
class Fingerprint:
    """What the registry keeps about one file besides its SHA-256."""

    media_type: str
    # (pHash, dHash) of the whole image first, then of its crop variants (registered
    # entries only: a query carries the whole image's pair alone).
    hashes: list[tuple[int, int]] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)  # pHash per keyframe (video)
    audio: bytes | None = None  # 16-bit sub-fingerprints, big-endian (audio track)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"media_type": self.media_type}
        if self.hashes:
            out["image"] = [f"{p:016x}{d:016x}" for p, d in self.hashes]
        if self.keyframes:
            out["keyframes"] = [f"{h:016x}" for h in self.keyframes]
        if self.audio:
            out["audio"] = self.audio.hex()
        return out

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Fingerprint:
        image = [str(x) for x in data.get("image") or []]  # type: ignore[attr-defined]
        return cls(
            media_type=str(data.get("media_type", "")),
            hashes=[(int(x[:16], 16), int(x[16:], 16)) for x in image],
            keyframes=[int(str(x), 16) for x in data.get("keyframes") or []],  # type: ignore[attr-defined]
            audio=bytes.fromhex(str(data["audio"])) if data.get("audio") else None,
        )


def crop_variants(rgb: np.ndarray) -> list[np.ndarray]:
    h, w = rgb.shape[:2]
    kh, kw = max(1, round(h * CROP_KEEP)), max(1, round(w * CROP_KEEP))
    out = []
    for fy in np.linspace(0.0, 1.0, CROP_STEPS):
        for fx in np.linspace(0.0, 1.0, CROP_STEPS):
            y0, x0 = round((h - kh) * fy), round((w - kw) * fx)
            out.append(rgb[y0:y0 + kh, x0:x0 + kw])
    return out


def image_fingerprint(rgb: np.ndarray, variants: bool = False) -> Fingerprint:
    """Hashes of the image; with ``variants`` (registration) also of its crop variants."""
    images = [rgb, *crop_variants(rgb)] if variants else [rgb]
    return Fingerprint(media_type="image", hashes=[(phash(x), dhash(x)) for x in images])


def popcount64(x: np.ndarray) -> np.ndarray:
    """Bits set per uint64, vectorised."""
    return np.unpackbits(np.ascontiguousarray(x, dtype=np.uint64).view(np.uint8)).reshape(
        -1, 64).sum(axis=1)


def image_distance(query: Fingerprint, entry: Fingerprint) -> float | None:
    """Normalised distance 0..1 of the closest variant when near duplicates, else None."""
    if not query.hashes or not entry.hashes:
        return None
    qp, qd = query.hashes[0]
    ent = np.array(entry.hashes, dtype=np.uint64)
    dp = popcount64(ent[:, 0] ^ np.uint64(qp))
    dd = popcount64(ent[:, 1] ^ np.uint64(qd))
    near = (dp <= PHASH_NEAR) & (dd <= DHASH_NEAR)
    if not near.any():
        return None
    return round(float((dp + dd)[near].min()) / 128.0, 4)


def keyframe_distance(query: list[int], entry: list[int]) -> float | None:
    """Share of query keyframes without a near twin in the entry; None when not near."""
    if not query or not entry:
        return None
    ent = np.array(entry, dtype=np.uint64)
    hits = sum(int(popcount64(ent ^ np.uint64(q)).min()) <= KEYFRAME_PHASH_NEAR for q in query)
    share = hits / len(query)
    return round(1.0 - share, 4) if share >= KEYFRAME_SHARE else None


# --- audio -----------------------------------------------------------------------------

AUDIO_RATE = 5512
_FRAME = 2048  # ~0.37 s window
_HOP = 512  # ~0.09 s between sub-fingerprints
_BANDS = 17  # 16 band differences -> 16 bits per frame


def audio_fingerprint(samples: np.ndarray, rate: int = AUDIO_RATE) -> bytes:
    """Sub-fingerprints of mono float samples at ``rate`` (see module docstring)."""
    x = np.asarray(samples, dtype=np.float32).ravel()
    if len(x) < _FRAME + _HOP:
        return b""
    n = 1 + (len(x) - _FRAME) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(_FRAME)[None, :], axis=1)) ** 2
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / rate)
    edges = np.geomspace(300.0, 2000.0, _BANDS + 1)  # the band HK found most robust
    energy = np.stack([spec[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
                       for lo, hi in itertools.pairwise(edges)], axis=1)
    d = np.diff(energy, axis=1)  # (n, 16) band differences
    bits = (d[1:] - d[:-1]) > 0  # their change over time
    words = np.packbits(bits.astype(np.uint8), axis=1)  # (n-1, 2) bytes
    return words.tobytes()


def audio_distance(query: bytes, entry: bytes, max_shift: int = 64) -> float | None:
    """Lowest bit error rate over small alignments; None when above the near threshold."""
    if not query or not entry:
        return None
    q = np.unpackbits(np.frombuffer(query, np.uint8)).reshape(-1, 16)
    e = np.unpackbits(np.frombuffer(entry, np.uint8)).reshape(-1, 16)
    best = 1.0
    for shift in range(-max_shift, max_shift + 1):
        a0, b0 = max(0, -shift), max(0, shift)
        n = min(len(q) - a0, len(e) - b0)
        if n < 16:
            continue
        ber = float(np.mean(q[a0:a0 + n] != e[b0:b0 + n]))
        best = min(best, ber)
    return round(best, 4) if best <= AUDIO_BER_NEAR else None
