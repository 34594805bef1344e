"""Invisible watermark: round trip, robustness, scans (agreement with invisible-watermark's
codec: tests/test_watermark_codec.py)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from fakescope.provenance import watermark as wm


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def marked() -> np.ndarray:
    from fakescope.demo import astronaut

    return wm.embed(astronaut(), 0xC0FFEE42)


def test_round_trip_and_jpeg_80(marked: np.ndarray) -> None:
    info = wm.detect(marked)
    assert info.detected and info.payload == "c0ffee42" and info.bit_accuracy == 1.0
    after = wm.detect(_jpeg(marked, 80))
    assert after.detected and after.payload == "c0ffee42"


def test_unmarked_and_flat_images_are_not_detected(astronaut: np.ndarray) -> None:
    from fakescope.demo import no_face_photo

    for rgb in (astronaut, no_face_photo(), np.full((300, 300, 3), 128, np.uint8),
                np.zeros((300, 300, 3), np.uint8)):
        info = wm.detect(rgb)
        assert info.checked and not info.detected and info.payload is None


def test_small_images_are_not_checked() -> None:
    info = wm.detect(np.zeros((100, 100, 3), np.uint8))
    assert not info.checked and "256x256" in (info.reason or "")


def test_resize_breaks_the_block_layout_unless_undone(marked: np.ndarray) -> None:
    h, w = marked.shape[:2]
    small = cv2.resize(marked, (w * 3 // 4, h * 3 // 4), interpolation=cv2.INTER_AREA)
    assert not wm.detect(small).detected  # documented limit of dwtDctSvd
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    assert wm.detect(back).payload == "c0ffee42"


def test_scan_reports_the_watermark(tmp_path, marked: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.scan.scanner import Scanner

    Image.fromarray(marked).save(tmp_path / "m.png")
    r = Scanner(ScanSettings(analyzers=["metadata"], provenance=ProvenanceSettings(registry=None))).scan(
        tmp_path / "m.png")
    assert r.provenance is not None and r.provenance.watermark is not None
    assert r.provenance.watermark.detected and r.provenance.watermark.payload == "c0ffee42"
