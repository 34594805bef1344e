"""Raw metadata read while an image is decoded: EXIF, XMP, IPTC, text chunks, JPEG
quantisation tables. Facts only; what they suggest is the ``metadata`` analyzer's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image

_MAX_TEXT = 4096  # a prompt or a comment is kept, a megabyte of junk is not
_MAX_XMP = 256 * 1024


@dataclass
class ImageMetadata:
    exif: dict[str, Any] = field(default_factory=dict)  # tag name -> value (IFD0, Exif, GPS)
    xmp: str | None = None
    iptc: dict[str, str] = field(default_factory=dict)  # "record:dataset" -> text
    text: dict[str, str] = field(default_factory=dict)  # PNG text chunks, comments
    quantization: dict[int, list[int]] | None = None  # JPEG tables, natural (row-major) order
    progressive: bool = False
    icc_profile: bool = False
    orientation: int | None = None


def _clean(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace("\x00", "").strip()[:_MAX_TEXT]
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, tuple) and len(value) <= 16:
        return [_clean(v) for v in value]
    try:
        return float(value)  # IFDRational
    except (TypeError, ValueError):
        return str(value)[:_MAX_TEXT]


def read_metadata(im: Image.Image) -> ImageMetadata:
    """Everything worth knowing from an opened Pillow image; never raises on bad metadata."""
    meta = ImageMetadata()
    try:
        exif = im.getexif()
        for ifd_tag, names in ((None, ExifTags.TAGS), (0x8769, ExifTags.TAGS),
                               (0x8825, ExifTags.GPSTAGS)):
            table = exif if ifd_tag is None else exif.get_ifd(ifd_tag)
            for tag, value in table.items():
                if tag in (0x8769, 0x8825, 0x927C, 0x02BC):  # IFD pointers, MakerNote, XMP blob
                    continue
                name = names.get(tag, f"0x{tag:04x}")
                meta.exif["GPS" + name if ifd_tag == 0x8825 else name] = _clean(value)
        meta.orientation = exif.get(0x0112)
    except Exception:  # corrupt EXIF: the pixels still count, the anomaly shows as absence
        pass
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if xmp:
        meta.xmp = (xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp))[:_MAX_XMP]
    try:
        from PIL import IptcImagePlugin

        for (record, dataset), value in (IptcImagePlugin.getiptcinfo(im) or {}).items():
            meta.iptc[f"{record}:{dataset}"] = str(_clean(value))
    except Exception:
        pass
    for key, value in im.info.items():
        if key in ("xmp", "XML:com.adobe.xmp", "exif", "icc_profile", "dpi", "jfif", "jfif_version",
                   "jfif_unit", "jfif_density", "adobe", "adobe_transform", "progression",
                   "progressive", "mp", "transparency", "gamma", "interlace", "duration", "loop",
                   "background", "version", "aspect"):
            continue
        if isinstance(value, (str, bytes)):
            meta.text[str(key)] = str(_clean(value))
    meta.quantization = {int(k): list(v) for k, v in getattr(im, "quantization", {}).items()} or None
    meta.progressive = bool(im.info.get("progressive") or im.info.get("progression"))
    meta.icc_profile = bool(im.info.get("icc_profile"))
    return meta
