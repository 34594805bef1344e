"""What kind of media a file is, from its first bytes (and, failing that, its name).

Content wins over the name: a PNG saved as ``.jpg`` is still read as a PNG, and a text
file named ``.jpg`` is refused with a clear reason instead of confusing a decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MediaType = Literal["image", "video", "audio"]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus"})

HEADER_BYTES = 64


@dataclass(frozen=True)
class Sniffed:
    media_type: MediaType
    format: str


def sniff_bytes(head: bytes) -> Sniffed | None:
    """Identify media from a file's first bytes; None when nothing matches."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "webp")
    if head.startswith(b"BM") and len(head) >= 14:
        return Sniffed("image", "bmp")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed("image", "tiff")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "gif")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return Sniffed("audio", "m4a")
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"heim", b"heis"):
            return Sniffed("image", "heif")
        return Sniffed("video", "mp4" if brand != b"qt  " else "mov")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return Sniffed("video", "mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "webm" if b"webm" in head else "mkv")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "avi")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed("audio", "wav")
    if head.startswith(b"fLaC"):
        return Sniffed("audio", "flac")
    if head.startswith(b"OggS"):
        return Sniffed("audio", "ogg")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        # MPEG audio frame sync; AAC ADTS shares the first 12 bits.
        return Sniffed("audio", "aac" if head[1] & 0x06 == 0 else "mp3")
    return None


def media_type_from_name(path: Path) -> MediaType | None:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    return None


def sniff_file(path: Path) -> Sniffed | None:
    with open(path, "rb") as fh:
        return sniff_bytes(fh.read(HEADER_BYTES))


def looks_like_media(path: Path) -> bool:
    """Cheap test used when walking folders: a known extension or a known signature."""
    if media_type_from_name(path) is not None:
        return True
    try:
        return sniff_file(path) is not None
    except OSError:
        return False


def describe_unknown(head: bytes) -> str:
    """A few words on what a non-media file seems to be, for error messages."""
    if not head:
        return "it is empty"
    if head.lstrip().startswith((b"<!DOCTYPE html", b"<html", b"<HTML")):
        return "it looks like an HTML page"
    if head.startswith(b"%PDF"):
        return "it looks like a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "its content matches no supported format"
    return "it looks like text"
