"""Audio decoding with PyAV: probing and streamed decoding to mono float32 at one rate.

Audio is never held whole: ``chunks`` yields fixed-length blocks, so an hour-long file
costs the memory of one block (plus whatever the consumer keeps). Any container and
codec FFmpeg reads works (WAV, FLAC, MP3, AAC/M4A, Ogg Vorbis/Opus, WebM/MKV audio, and
the audio track of a video).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from fakescope.config import MediaLimits
from fakescope.errors import CorruptMediaError, MediaLimitError, UnsupportedMediaError
from fakescope.media.container import Source, _open, one_line

RATE = 16000  # what the voice analyzer and lip-sync expect
CHUNK_S = 30.0


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float  # 0.0 when the container does not say
    sample_rate: int  # of the stream as stored
    channels: int
    codec: str
    container: str


@dataclass
class AudioMedia:
    """An audio stream ready to be decoded in chunks; each pass reopens the source."""

    source: Source
    info: AudioInfo
    format: str
    limits: MediaLimits
    notes: list[str] = field(default_factory=list)
    media_type: str = "audio"
    stream_index: int = 0  # among the container's audio streams

    # Audio has no pixels; these keep code that lists media sizes working.
    width: int = 0
    height: int = 0

    def chunks(self, rate: int = RATE, chunk_s: float = CHUNK_S) -> Iterator[np.ndarray]:
        """Mono float32 blocks of ``chunk_s`` seconds at ``rate`` Hz (the last one shorter).

        Decoding stops at ``limits.max_duration_s`` even when the container understated
        its duration, so a lying header cannot buy unbounded work.
        """
        yield from stream_samples(self.source, rate, chunk_s, self.limits.max_duration_s,
                                  self.stream_index, self.notes)

    def samples(self, rate: int = RATE, max_seconds: float | None = None) -> np.ndarray:
        """The whole stream (or its first ``max_seconds``) in memory: for short clips only."""
        out: list[np.ndarray] = []
        total, limit = 0, int(rate * max_seconds) if max_seconds else None
        for block in self.chunks(rate):
            out.append(block)
            total += len(block)
            if limit is not None and total >= limit:
                break
        x = np.concatenate(out) if out else np.zeros(0, np.float32)
        return x[:limit] if limit is not None else x


def stream_samples(source: Source, rate: int, chunk_s: float, max_seconds: float,
                   stream_index: int = 0, notes: list[str] | None = None) -> Iterator[np.ndarray]:
    """Decode one audio stream to mono float32 at ``rate``, yielding ``chunk_s`` blocks."""
    import av

    block = max(1, int(rate * chunk_s))
    limit = int(rate * max_seconds)
    with _open(source) as c:
        if len(c.streams.audio) <= stream_index:
            return
        stream = c.streams.audio[stream_index]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pending: list[np.ndarray] = []
        have = emitted = decoded = 0
        try:
            for frame in c.decode(stream):
                decoded += 1
                try:
                    converted = resampler.resample(frame)
                except ValueError:
                    # The stream changed rate, layout or sample format mid-way (concatenated
                    # ADTS, a damaged header): finish the old resampler, start one for the new.
                    converted = resampler.resample(None)
                    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
                    converted += resampler.resample(frame)
                for res in converted:
                    arr = res.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    pending.append(arr)
                    have += len(arr)
                while have >= block:
                    buf = np.concatenate(pending)
                    out, rest = buf[:block], buf[block:]
                    pending, have = ([rest] if len(rest) else []), len(rest)
                    emitted += len(out)
                    yield out
                    if emitted >= limit:
                        return
            for res in resampler.resample(None):  # flush the resampler's delay line
                pending.append(res.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except av.FFmpegError as exc:
            if decoded == 0 and emitted == 0:
                raise CorruptMediaError(f"audio cannot be decoded: {one_line(exc)}") from exc
            if notes is not None:
                notes.append(f"audio decoding stopped at {emitted / rate:.1f} s: {one_line(exc)}")
        if pending:
            tail = np.concatenate(pending)[: max(0, limit - emitted)]
            if len(tail):
                yield tail


def probe_audio(source: Source, fmt: str, limits: MediaLimits) -> AudioMedia:
    """Open a container, check limits and describe its first audio stream."""
    notes: list[str] = []
    with _open(source) as c:
        if not c.streams.audio:
            raise UnsupportedMediaError("the file has no audio stream")
        stream = c.streams.audio[0]
        cc = stream.codec_context
        if cc is None:  # PyAV gives no context for a codec it does not know (a damaged tag)
            raise CorruptMediaError("the audio stream's codec is unknown or its header is damaged")
        rate = int(cc.sample_rate or 0)
        if rate <= 0:
            raise CorruptMediaError("audio stream has no sample rate")
        channels = int(getattr(cc, "channels", 0) or getattr(cc.layout, "nb_channels", 0) or 1)
        tb = float(stream.time_base or 0)
        duration = 0.0
        if stream.duration and tb:
            duration = float(stream.duration) * tb
        elif c.duration:
            duration = float(c.duration) / 1e6
        if duration > limits.max_duration_s:
            raise MediaLimitError(
                f"audio lasts {duration / 60:.0f} min; the limit is {limits.max_duration_s / 60:.0f} min"
            )
        if len(c.streams.audio) > 1:
            notes.append(f"{len(c.streams.audio)} audio streams; the first was analysed")
        info = AudioInfo(duration_s=duration, sample_rate=rate, channels=channels,
                         codec=cc.name or "unknown", container=c.format.name if c.format else fmt)
    if duration <= 0:
        notes.append("the container states no duration; the audio is analysed as decoded")
    if channels > 1:
        notes.append(f"{channels} channels mixed down to mono")
    return AudioMedia(source=source, info=info, format=fmt, limits=limits, notes=notes)
