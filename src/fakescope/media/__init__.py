"""Decoding and limits: the only part of fakescope that opens media files."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fakescope.config import MediaLimits
from fakescope.errors import (
    EmptyFileError,
    InputNotFoundError,
    MediaLimitError,
    UnsupportedMediaError,
)
from fakescope.media.audio import AudioMedia
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
from fakescope.media.video import VideoMedia

__all__ = [
    "AudioMedia",
    "ImageMedia",
    "LoadedFile",
    "Media",
    "MediaType",
    "decode",
    "load_bytes",
    "looks_like_media",
    "read_file",
]


@dataclass
class LoadedFile:
    path: Path
    data: bytes | None  # in memory: images and uploads; None: a video/audio file streamed from disk
    sha256: str
    media_type: MediaType | None
    format: str | None
    head: bytes = b""  # the first bytes, for sniffing and error messages
    size: int = 0

    @property
    def source(self) -> bytes | Path:
        """What decoders open: the bytes when held, else the file."""
        return self.data if self.data is not None else self.path

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")


def read_file(path: Path, limits: MediaLimits) -> LoadedFile:
    """Read a file (bounded by the limits), hash it and identify its content.

    Images are read into memory (bounded by ``limits.max_bytes``); video and audio files are
    only hashed here, in chunks, and later decoded straight from disk.
    """
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
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
            sniffed = sniff_bytes(head)
            if sniffed is not None and sniffed.media_type in ("video", "audio"):
                if st.st_size > limits.max_stream_bytes:
                    raise MediaLimitError(
                        f"file is {st.st_size / 2**30:.1f} GiB; the limit for video and audio is "
                        f"{limits.max_stream_bytes / 2**30:.0f} GiB"
                    )
                digest = hashlib.sha256(head)
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
                return LoadedFile(path=path, data=None, sha256=digest.hexdigest(),
                                  media_type=sniffed.media_type, format=sniffed.format, head=head,
                                  size=st.st_size)
    except OSError as exc:
        raise InputNotFoundError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if st.st_size > limits.max_bytes:
        raise MediaLimitError(
            f"file is {st.st_size / 2**20:.1f} MiB; the limit is {limits.max_bytes / 2**20:.0f} MiB"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputNotFoundError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return load_bytes(data, path, limits)


def load_bytes(data: bytes, name: Path, limits: MediaLimits) -> LoadedFile:
    """Bytes already in memory (an upload, a re-encoded copy); ``name`` is only a label."""
    if not data:
        raise EmptyFileError("file is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise MediaLimitError(
            f"file is {len(data) / 2**20:.1f} MiB; the limit is {limits.max_bytes / 2**20:.0f} MiB"
        )
    sniffed = sniff_bytes(data[:HEADER_BYTES])
    return LoadedFile(
        path=name,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=sniffed.media_type if sniffed else None,
        format=sniffed.format if sniffed else None,
        head=data[:HEADER_BYTES],
        size=len(data),
    )


def decode(loaded: LoadedFile, limits: MediaLimits) -> Media | VideoMedia | AudioMedia:
    """Decode a loaded file according to its content (not its name)."""
    if loaded.media_type is None:
        claimed = media_type_from_name(loaded.path)
        what = describe_unknown(loaded.head)
        if claimed:
            raise UnsupportedMediaError(
                f"named like {claimed} ({loaded.path.suffix}) but {what}"
            )
        raise UnsupportedMediaError(f"not a supported media file: {what}")
    if loaded.media_type == "video":
        from fakescope.media.video import probe_video

        try:
            return probe_video(loaded.source, loaded.format or "video", limits)
        except UnsupportedMediaError as exc:
            # An MP4/WebM holding only sound (voice notes, podcasts) is an audio file.
            if "audio only" not in str(exc):
                raise
        loaded.media_type = "audio"
    if loaded.media_type == "audio":
        from fakescope.media.audio import probe_audio

        return probe_audio(loaded.source, loaded.format or "audio", limits)
    if loaded.media_type != "image" or loaded.format == "heif" or loaded.data is None:
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
