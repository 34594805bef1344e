"""Video and audio containers through PyAV, from bytes already read: keyframes, mono
samples and container metadata. Used by fingerprinting and metadata today; the video and
audio pipelines will build on it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.config import MediaLimits
from fakescope.errors import CorruptMediaError, DependencyMissingError
from fakescope.media.image import check_dimensions

Source = bytes | Path  # bytes in memory (uploads) or a file streamed from disk (large video)


@contextmanager
def _open(data: Source) -> Iterator[Any]:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - PyAV is a runtime dependency
        raise DependencyMissingError("video and audio need PyAV: pip install av") from exc
    try:
        container = av.open(str(data) if isinstance(data, Path) else io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise CorruptMediaError(f"container cannot be opened: {' '.join(str(exc).split())}") from exc
    try:
        yield container
    finally:
        container.close()


def one_line(exc: BaseException) -> str:
    """A decoder's message on one line (PyAV's can span several)."""
    return " ".join(str(exc).split())


def keyframes(data: Source, limits: MediaLimits | None = None, max_frames: int = 64) -> list[np.ndarray]:
    """RGB keyframes of the first video stream (only keyframes are decoded: cheap)."""
    import av

    limits = limits or MediaLimits()
    out: list[np.ndarray] = []
    with _open(data) as c:
        if not c.streams.video:
            return out
        stream = c.streams.video[0]
        check_dimensions(stream.codec_context.width or 1, stream.codec_context.height or 1, limits)
        stream.codec_context.skip_frame = "NONKEY"
        try:
            for frame in c.decode(stream):
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) >= max_frames:
                    break
        except av.FFmpegError as exc:
            if not out:
                raise CorruptMediaError(f"video cannot be decoded: {exc}") from exc
    return out


def audio_samples(data: Source, rate: int, max_seconds: float = 120.0) -> np.ndarray:
    """The first audio stream as mono float32 at ``rate`` Hz (at most ``max_seconds``)."""
    from fakescope.media.audio import stream_samples

    chunks = list(stream_samples(data, rate, max_seconds, max_seconds))
    return np.concatenate(chunks)[: int(rate * max_seconds)] if chunks else np.zeros(0, np.float32)


def container_metadata(data: Source) -> dict[str, Any]:
    """Format, duration, container tags and per-stream codec and tags (encoder, dates)."""
    with _open(data) as c:
        streams = []
        for s in c.streams:
            cc = s.codec_context
            streams.append({
                "type": s.type, "codec": cc.name if cc else None,
                "width": getattr(cc, "width", None) if s.type == "video" else None,
                "height": getattr(cc, "height", None) if s.type == "video" else None,
                "sample_rate": getattr(cc, "sample_rate", None) if s.type == "audio" else None,
                "tags": {str(k): str(v) for k, v in (s.metadata or {}).items()},
            })
        return {
            "format": c.format.name if c.format else None,
            "duration_s": round(c.duration / 1e6, 3) if c.duration else None,
            "tags": {str(k): str(v) for k, v in (c.metadata or {}).items()},
            "streams": streams,
        }
