"""Decoding: every supported format, odd pixel layouts, and hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fakescope.config import MediaLimits
from fakescope.errors import (
    CorruptMediaError,
    EmptyFileError,
    InputNotFoundError,
    MediaLimitError,
    TruncatedFileError,
    UnsupportedMediaError,
)
from fakescope.media import decode, read_file

LIMITS = MediaLimits()


def load(path: Path, limits: MediaLimits = LIMITS):
    return decode(read_file(path, limits), limits)


def encode(rgb: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "ext", "lossless"),
    [("JPEG", "jpg", False), ("PNG", "png", True), ("WEBP", "webp", False),
     ("BMP", "bmp", True), ("TIFF", "tif", True)],
)
def test_formats_decode_to_the_same_pixels(tmp_path: Path, astronaut: np.ndarray, fmt: str,
                                           ext: str, lossless: bool) -> None:
    p = tmp_path / f"a.{ext}"
    p.write_bytes(encode(astronaut, fmt, **({"quality": 95} if not lossless else {})))
    m = load(p)
    assert (m.width, m.height) == (512, 512)
    assert m.rgb.dtype == np.uint8 and m.rgb.shape == (512, 512, 3)
    err = np.abs(m.rgb.astype(int) - astronaut.astype(int)).mean()
    assert err == 0 if lossless else err < 4


def test_exif_orientation_is_applied(tmp_path: Path, astronaut: np.ndarray) -> None:
    from fakescope.demo import rotated_with_exif

    rotated_with_exif(astronaut, tmp_path / "r.jpg")
    m = load(tmp_path / "r.jpg")
    assert (m.width, m.height) == (512, 512)
    # Upright again: pixels match the original, not its rotation.
    assert np.abs(m.rgb.astype(int) - astronaut.astype(int)).mean() < 4
    assert any("orientation 6" in n for n in m.notes)


def test_exif_orientation_on_non_square(tmp_path: Path, astronaut: np.ndarray) -> None:
    from fakescope.demo import rotated_with_exif

    wide = np.ascontiguousarray(astronaut[:256])
    rotated_with_exif(wide, tmp_path / "r.jpg")
    assert Image.open(tmp_path / "r.jpg").size == (256, 512)  # stored rotated
    m = load(tmp_path / "r.jpg")
    assert (m.width, m.height) == (512, 256)


def test_cmyk_jpeg(tmp_path: Path, astronaut: np.ndarray) -> None:
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(astronaut).convert("CMYK").save(p, quality=95)
    m = load(p)
    assert m.source_mode == "CMYK"
    assert np.abs(m.rgb.astype(int) - astronaut.astype(int)).mean() < 12


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = (np.linspace(0, 65535, 256).astype(np.uint16)[None, :]).repeat(16, 0)
    p = tmp_path / "g16.png"
    Image.fromarray(ramp).save(p)
    m = load(p)
    assert m.rgb[0, 0, 0] == 0 and m.rgb[0, -1, 0] == 255
    assert 120 <= m.rgb[0, 128, 1] <= 135  # mid-grey stays mid-grey


def test_16_bit_rgb_png(tmp_path: Path, astronaut: np.ndarray) -> None:
    p = tmp_path / "rgb16.png"
    bgr16 = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    cv2.imwrite(str(p), bgr16)
    m = load(p)
    assert np.abs(m.rgb.astype(int) - astronaut.astype(int)).max() <= 1


def test_alpha_is_flattened_onto_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200  # red hidden under alpha 0 on the left half
    rgba[:, 4:, 3] = 255
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    m = load(p)
    assert tuple(m.rgb[0, 0]) == (255, 255, 255)
    assert tuple(m.rgb[0, 7]) == (200, 0, 0)
    assert any("alpha" in n for n in m.notes)


def test_palette_and_greyscale(tmp_path: Path, astronaut: np.ndarray) -> None:
    for mode in ("P", "L", "1"):
        p = tmp_path / f"{mode}.png"
        Image.fromarray(astronaut).convert(mode).save(p)
        assert load(p).rgb.shape == (512, 512, 3)


def test_mislabelled_but_valid_image_is_read_with_a_note(tmp_path: Path,
                                                         astronaut: np.ndarray) -> None:
    p = tmp_path / "really_png.jpg"
    p.write_bytes(encode(astronaut, "PNG"))
    m = load(p)
    assert m.format == "png"
    assert any("named .jpg but the content is png" in n for n in m.notes)


def test_text_named_jpg_is_refused_with_reason(tmp_path: Path) -> None:
    p = tmp_path / "x.jpg"
    p.write_text("this is not a photo")
    with pytest.raises(UnsupportedMediaError, match=r"named like image .*looks like text"):
        load(p)


def test_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(EmptyFileError):
        load(tmp_path / "e.png")
    with pytest.raises(InputNotFoundError):
        load(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files(tmp_path: Path, astronaut: np.ndarray, fmt: str) -> None:
    data = encode(astronaut, fmt)
    p = tmp_path / f"t.{fmt.lower()}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises((TruncatedFileError, CorruptMediaError)):
        load(p)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds a single tiny IDAT."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(30_000, 30_000))  # 900 MP claimed in 60 bytes
    with pytest.raises(MediaLimitError, match="decompression bomb"):
        load(p, MediaLimits(max_side=50_000))
    p.write_bytes(_png_header_only(12_000, 12_000))  # under Pillow's own limit, over ours
    with pytest.raises(MediaLimitError, match="144 megapixels"):
        load(p, MediaLimits(max_pixels=50_000_000))


def test_absurd_dimensions_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "wide.png"
    p.write_bytes(_png_header_only(1_000_000, 1))
    with pytest.raises(MediaLimitError, match="longest side"):
        load(p)


def test_real_zip_bomb_png_is_refused(tmp_path: Path) -> None:
    # 12000x12000 of zeros compresses to a few hundred KB: a real decompression bomb.
    p = tmp_path / "zeros.png"
    rows = zlib.compress(b"\x00" * (12_000 * 3 + 1) * 12_000, 9)
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12_000, 12_000,
                                                                    8, 2, 0, 0, 0))
                  + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    assert p.stat().st_size < 1_000_000
    with pytest.raises(MediaLimitError):
        load(p, MediaLimits(max_pixels=50_000_000))


def test_file_size_limit(tmp_path: Path, astronaut: np.ndarray) -> None:
    p = tmp_path / "a.png"
    p.write_bytes(encode(astronaut, "PNG"))
    with pytest.raises(MediaLimitError, match="MiB"):
        load(p, MediaLimits(max_bytes=1000))


def test_random_garbage_never_crashes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    from fakescope.errors import FakescopeError

    for i, head in enumerate([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"GIF89a"]):
        p = tmp_path / f"g{i}.bin"
        p.write_bytes(head + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
        with pytest.raises(FakescopeError):
            load(p)
