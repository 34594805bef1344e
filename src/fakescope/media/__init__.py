"""Decoding and limits: the only part of fakescope that opens media files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fakescope.config import MediaLimits
from fakescope.errors import (
    EmptyFileError,
    InputNotFoundError,
    MediaLimitError,
    UnsupportedMediaError,
)
from fakescope.media.image import decode_image
from fakescope.media.sniff import (
    HEADER_BYTES,
    MediaType,
    describe_unknown,
    looks_like_media,
    media_type_from_name,
    sniff_bytes,
)
from fakescope.media.types import ImageMedia, Media

__all__ = [
    "ImageMedia",
    "LoadedFile",
    "Media",
    "MediaType",
    "decode",
    "looks_like_media",
    "read_file",
]


@dataclass
class LoadedFile:
    path: Path
    data: bytes
    sha256: str
    media_type: MediaType | None
    format: str | None


def read_file(path: Path, limits: MediaLimits) -> LoadedFile:
    """Read a file (bounded by ``limits.max_bytes``), hash it and identify its content."""
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"no such file: {path}") from exc
    except OSError as exc:
        raise InputNotFoundError(f"cannot access {path}: {exc.strerror or exc}") from exc
    if path.is_dir():
        raise UnsupportedMediaError(f"{path} is a folder")
    if st.st_size == 0:
        raise EmptyFileError("file is empty (0 bytes)")
    if st.st_size > limits.max_bytes:
        raise MediaLimitError(
            f"file is {st.st_size / 2**20:.1f} MiB; the limit is {limits.max_bytes / 2**20:.0f} MiB"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputNotFoundError(f"cannot read {path}: {exc.strerror or exc}") from exc
    sniffed = sniff_bytes(data[:HEADER_BYTES])
    return LoadedFile(
        path=path,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=sniffed.media_type if sniffed else None,
        format=sniffed.format if sniffed else None,
    )


def decode(loaded: LoadedFile, limits: MediaLimits) -> Media:
    """Decode a loaded file according to its content (not its name)."""
    if loaded.media_type is None:
        claimed = media_type_from_name(loaded.path)
        what = describe_unknown(loaded.data[:HEADER_BYTES])
        if claimed:
            raise UnsupportedMediaError(
                f"named like {claimed} ({loaded.path.suffix}) but {what}"
            )
        raise UnsupportedMediaError(f"not a supported media file: {what}")
    if loaded.media_type != "image" or loaded.format == "heif":
        raise UnsupportedMediaError(
            f"{loaded.format} {loaded.media_type} files are not supported yet"
        )
    media = decode_image(loaded.data, limits)
    claimed = media_type_from_name(loaded.path)
    suffix = loaded.path.suffix.lower().lstrip(".")
    if claimed == "image" and suffix and not _same_format(suffix, media.format):
        media.notes.append(f"named .{suffix} but the content is {media.format}")
    return media


def _same_format(suffix: str, fmt: str) -> bool:
    aliases = {"jpg": "jpeg", "jpe": "jpeg", "jfif": "jpeg", "tif": "tiff", "dib": "bmp"}
    return aliases.get(suffix, suffix) == fmt
