"""fakescope's dwtDctSvd codec against invisible-watermark 0.2.0's, and its round trip.

The library is only a test reference (fakescope does not need it at run time): the
comparisons skip when it is not installed. Embedding must be identical to the library's
encoder, pixel for pixel (no ±1 tolerance: the library truncates floats to uint8, and the
reimplementation repeats its float arithmetic exactly, so there is nothing to tolerate).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from fakescope.errors import UnsupportedMediaError
from fakescope.provenance import watermark as wm

PAYLOAD = 0xC0FFEE42


@lru_cache(maxsize=1)
def _library_codec() -> Any:
    """invisible-watermark's EmbedDwtDctSvd, loaded from its file: the package ``__init__``
    imports torch, which a fakescope test environment need not have."""
    spec = importlib.util.find_spec("imwatermark")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "dwtDctSvd.py"
    mspec = importlib.util.spec_from_file_location("_test_imwatermark_dwtdctsvd", path)
    if not path.is_file() or mspec is None or mspec.loader is None:
        return None
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module.EmbedDwtDctSvd


@pytest.fixture(scope="module")
def library() -> Any:
    codec = _library_codec()
    if codec is None:
        pytest.skip("invisible-watermark is not installed (the reference for these comparisons)")
    return codec


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _gradient(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([255 * x / (w - 1), 255 * y / (h - 1), 255 * (x + y) / (h + w - 2)],
                    axis=-1).round().astype(np.uint8)


def _photo_like(h: int, w: int) -> np.ndarray:
    from fakescope.demo import astronaut

    # An upscaled photo: smooth areas, edges and texture, plus a little sensor-like noise.
    up = cv2.resize(astronaut(), (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(up + np.random.default_rng(1).integers(-3, 4, up.shape), 0, 255).astype(np.uint8)


IMAGES = {
    "noise 512x640": lambda: _noise(512, 640),
    "gradient 600x800": lambda: _gradient(600, 800),
    "noise 301x517": lambda: _noise(301, 517, seed=2),
    "gradient 517x301": lambda: _gradient(517, 301),
    # Flat planes: every block lands on round numbers, where the truncation to uint8 is
    # decided by the last bits of the floats.
    "flat grey 300x300": lambda: np.full((300, 300, 3), 128, np.uint8),
    # The extremes of U (yellow 17, blue 239), where a cast could wrap.
    "yellow and blue 258x262": lambda: np.concatenate(
        [np.full((129, 262, 3), (255, 255, 0), np.uint8), np.full((129, 262, 3), (0, 0, 255), np.uint8)]),
    "photo-like 1920x1080": lambda: _photo_like(1080, 1920),
}


def _library_embed(library: Any, rgb: np.ndarray, payload: int) -> np.ndarray:
    codec = library(watermarks=list(wm.mark_bits(payload)), wmLen=wm.TOTAL_BITS,
                    scales=[0, wm.SCALE, 0], block=wm.BLOCK)
    return cv2.cvtColor(codec.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("name", list(IMAGES))
def test_embed_is_identical_to_the_library_encoder(library: Any, name: str) -> None:
    rgb = IMAGES[name]()
    ours = wm.embed(rgb, PAYLOAD)
    theirs = _library_embed(library, rgb, PAYLOAD)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.uint8
    assert np.array_equal(ours, theirs), f"{name}: {np.count_nonzero(ours != theirs)} values differ"


def test_embed_in_strips_matches_the_library(library: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Big images are embedded in strips of block rows; force many small strips (and a
    # last strip whose final 2 band rows hold no block) on a small image.
    monkeypatch.setattr(wm, "MAX_BLOCKS", 100)
    rgb = _noise(301, 517, seed=3)  # 64 blocks a row: strips of 8 pixel rows; h4 = 300
    assert np.array_equal(wm.embed(rgb, 0x12345678), _library_embed(library, rgb, 0x12345678))


def test_decoder_reads_what_the_library_reads(library: Any) -> None:
    decoder = library(watermarks=[], wmLen=wm.TOTAL_BITS, scales=[0, wm.SCALE, 0], block=wm.BLOCK)
    marked = wm.embed(_photo_like(540, 700), PAYLOAD)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(marked, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    jpeg60 = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for rgb in (marked, _photo_like(540, 700), jpeg60, _noise(301, 517)):
        expected = decoder.decode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)).astype(np.uint8)
        assert np.array_equal(wm.read_bits(rgb), expected)


# --- without the library ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload"), [("noise 301x517", 0), ("gradient 600x800", 0xFFFFFFFF),
                                               ("photo-like 1920x1080", PAYLOAD)])
def test_embed_then_detect_recovers_the_payload(name: str, payload: int) -> None:
    rgb = IMAGES[name]()
    assert not wm.detect(rgb).detected
    info = wm.detect(wm.embed(rgb, payload))
    assert info.checked and info.detected and info.payload == f"{payload:08x}" and info.bit_accuracy == 1.0
    assert np.array_equal(wm.read_bits(wm.embed(rgb, payload)), wm.mark_bits(payload))


def test_embed_changes_only_the_marked_region_slightly() -> None:
    rgb = _gradient(301, 517)
    marked = wm.embed(rgb, PAYLOAD)
    # The last h % 4 rows and w % 4 columns are outside the transformed region: there the
    # only change is the library's round trip through 8-bit YUV, which is not lossless.
    round_trip = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV), cv2.COLOR_YUV2RGB)
    assert np.array_equal(marked[300:], round_trip[300:])
    assert np.array_equal(marked[:, 516:], round_trip[:, 516:])
    diff = np.abs(marked.astype(int) - rgb.astype(int))
    assert 0 < diff.mean() < 8 and diff.max() < 64


def test_embed_rejects_images_too_small_or_too_narrow() -> None:
    with pytest.raises(UnsupportedMediaError, match="256x256"):
        wm.embed(np.zeros((200, 200, 3), np.uint8), PAYLOAD)
    with pytest.raises(UnsupportedMediaError, match="too narrow"):
        wm.embed(np.zeros((65536, 6, 3), np.uint8), PAYLOAD)
    with pytest.raises(ValueError, match="32 bits"):
        wm.embed(np.zeros((300, 300, 3), np.uint8), 1 << 32)
