"""Decode still images to 8-bit RGB safely.

Dimensions are checked from the header before any pixel is decoded, so a decompression
bomb or a header claiming absurd dimensions is refused without allocating its pixels.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fakescope.config import MediaLimits
from fakescope.errors import (
    CorruptMediaError,
    MediaLimitError,
    TruncatedFileError,
    UnsupportedMediaError,
)
from fakescope.media.metadata import read_metadata
from fakescope.media.types import ImageMedia

_PILLOW_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "DIB": "bmp",
                   "TIFF": "tiff", "GIF": "gif", "MPO": "jpeg"}


def check_dimensions(width: int, height: int, limits: MediaLimits) -> None:
    if width <= 0 or height <= 0:
        raise CorruptMediaError(f"image header gives invalid dimensions {width}x{height}")
    if max(width, height) > limits.max_side:
        raise MediaLimitError(
            f"image is {width}x{height}; the longest side allowed is {limits.max_side} px"
        )
    if width * height > limits.max_pixels:
        raise MediaLimitError(
            f"image has {width * height / 1e6:.0f} megapixels; the limit is "
            f"{limits.max_pixels / 1e6:.0f} (possible decompression bomb)"
        )


def decode_image(data: bytes, limits: MediaLimits) -> ImageMedia:
    """Decode image bytes; raises a typed :class:`FakescopeError` on anything unreadable."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        # Pillow warns (corrupt EXIF, odd chunks) through `warnings`; they become notes.
        warnings.simplefilter("always")
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise MediaLimitError(
                "image header claims more pixels than any limit allows (possible "
                "decompression bomb)"
            ) from exc
        except UnidentifiedImageError as exc:
            raise UnsupportedMediaError("image content could not be identified") from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise CorruptMediaError(f"image header is unreadable: {exc}") from exc

        fmt = _PILLOW_FORMATS.get(im.format or "", (im.format or "unknown").lower())
        check_dimensions(im.width, im.height, limits)
        if getattr(im, "n_frames", 1) > 1:
            notes.append(f"{fmt} has {im.n_frames} frames; the first one was analysed")
        try:
            im.load()
        except Image.DecompressionBombError as exc:
            raise MediaLimitError(f"image refused as a decompression bomb: {exc}") from exc
        except OSError as exc:
            msg = str(exc)
            if "truncated" in msg or "broken data stream" in msg or "premature end" in msg.lower():
                detail = msg.split("truncated", 1)[-1].strip(" ()") if "truncated" in msg else msg
                raise TruncatedFileError(
                    "image data is truncated" + (f" ({detail})" if detail else "")
                ) from exc
            raise CorruptMediaError(f"image data cannot be decoded ({msg})") from exc
        except (ValueError, SyntaxError, EOFError, MemoryError) as exc:
            raise CorruptMediaError(f"image data cannot be decoded ({exc})") from exc

        source_mode = im.mode
        metadata = read_metadata(im)
        orientation = _orientation(im)
        oriented = im
        if orientation not in (None, 1):
            # Only when there is something to turn: exif_transpose copies the whole picture
            # otherwise too (317 MB for an 8900x8900 PNG, on top of the decode).
            try:
                oriented = ImageOps.exif_transpose(im)
            except Exception as exc:  # malformed EXIF must not cost the pixels
                notes.append(f"EXIF orientation ignored: {exc}")
            else:
                notes.append(f"EXIF orientation {orientation} applied")
        rgb = to_rgb8(oriented, notes)
        del oriented
        im.close()  # the decoded pixels now live in ``rgb`` only
    for w in caught:
        if not issubclass(w.category, Image.DecompressionBombWarning):  # our limits rule
            msg = " ".join(str(w.message).split())
            if msg not in notes:
                notes.append(msg)
    return ImageMedia(rgb=rgb, format=fmt, source_mode=source_mode, notes=notes, metadata=metadata)


def _orientation(im: Image.Image) -> int | None:
    try:
        return im.getexif().get(0x0112)
    except Exception:
        return None


_STRIP = 512  # rows converted at a time


def to_rgb8(im: Image.Image, notes: list[str]) -> np.ndarray:
    """Any Pillow mode to (H, W, 3) uint8, scaling high bit depths instead of clipping them."""
    mode = im.mode
    if mode in ("RGB",):
        arr = np.asarray(im)
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im if mode == "RGBA" else im.convert("RGBA")
        # Flatten onto white, as a viewer shows it; the hidden colour under alpha=0 is arbitrary.
        # In strips of rows read from Pillow: whole-picture copies of an 80 MP RGBA image
        # (array, compositing, conversion) were GBs.
        w, h = rgba.size
        arr = np.empty((h, w, 3), np.uint8)
        for y in range(0, h, _STRIP):
            blk = np.asarray(rgba.crop((0, y, w, min(h, y + _STRIP)))).astype(np.uint16)
            a = blk[..., 3:4]
            arr[y : y + _STRIP] = (blk[..., :3] * a + 255 * (255 - a) + 127) // 255
        notes.append("alpha channel flattened onto white")
    elif mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im)
        if mode == "F":
            top = float(np.nanmax(a)) if a.size else 1.0
            hi = 1.0 if top <= 1.0 else (top or 1.0)
        elif mode.startswith("I;16"):
            hi = 65535.0
        else:
            hi = float(max(np.max(a), 255.0)) if a.size else 255.0
        grey = np.empty(a.shape, np.uint8)
        for y in range(0, a.shape[0], _STRIP):  # float32 strips, not a float64 copy of it all
            blk = np.nan_to_num(a[y : y + _STRIP].astype(np.float32))
            grey[y : y + _STRIP] = np.clip(blk / np.float32(hi) * 255.0 + 0.5, 0, 255)
        del a
        arr = np.repeat(grey[..., None], 3, axis=2)
        notes.append(f"{mode} samples scaled to 8 bits")
    elif mode == "CMYK":
        arr = np.asarray(im.convert("RGB"))
        notes.append("CMYK converted to RGB")
    else:
        arr = np.asarray(im.convert("RGB"))
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise CorruptMediaError(f"unexpected pixel layout {arr.shape} {arr.dtype} from mode {mode}")
    return np.ascontiguousarray(arr)
