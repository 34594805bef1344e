"""Video decoding with PyAV: probing, evenly spaced and dense frame sampling, audio.

Frames are streamed: nothing holds more than a few frames, so an hour of 4K costs the
same memory as a second of it. Times come from each frame's own timestamp, so variable
frame rate files are sampled by time, not by frame count. Rotation metadata (phones) is
applied to every frame handed out.

Decoding and colour conversion run in a background thread a few frames ahead of the
caller (libavcodec and swscale release the GIL), so they overlap with the models on the
second core. Sparse sampling asks the decoder to skip frames nothing refers to (B-frames
mostly): about half the decoding work, and the frame used for a time is the first
remaining one at or after it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import cv2
import numpy as np

from fakescope.config import MediaLimits
from fakescope.errors import CorruptMediaError, MediaLimitError, UnsupportedMediaError
from fakescope.media.container import Source, _open, one_line
from fakescope.media.image import check_dimensions

# Files longer than this are sampled by seeking instead of decoding every frame.
SEEK_ABOVE_S = 150.0
# Frames decoded ahead of the caller: enough to ride out a slow model call, few enough
# that 4K frames (25 MB each) stay cheap.
READ_AHEAD = 4

T = TypeVar("T")


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed (after rotation)
    height: int
    fps: float  # nominal (average) frame rate
    duration_s: float
    codec: str
    container: str
    rotation: int  # degrees the stored frames are turned to display them
    has_audio: bool
    audio_codec: str | None = None
    audio_rate: int | None = None


@dataclass
class Frame:
    time_s: float
    rgb: np.ndarray  # (H, W, 3) uint8, rotation applied; only ``region`` of it when cropped
    origin: tuple[int, int] = (0, 0)  # where ``rgb``'s top-left pixel is in the whole frame


def in_background(gen: Iterator[T], depth: int = READ_AHEAD) -> Iterator[T]:
    """Run a generator in a thread, ``depth`` items ahead; errors reach the caller.

    The thread owns the generator from start to end (PyAV containers are not shared
    between threads); stopping early tells it to close the generator and finish.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for x in gen:
                while not stop.is_set():
                    try:
                        q.put((True, x), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            q.put((False, exc))
            return
        finally:
            gen.close()
        q.put((True, done))

    worker = threading.Thread(target=produce, name="fakescope-decode", daemon=True)
    worker.start()
    try:
        while True:
            ok, x = q.get()
            if not ok:
                raise x
            if x is done:
                return
            yield x
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        worker.join()


@dataclass
class VideoMedia:
    """A video ready to be sampled; opening it again per pass keeps memory bounded."""

    source: Source
    info: VideoInfo
    format: str
    limits: MediaLimits
    notes: list[str] = field(default_factory=list)
    media_type: str = "video"

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height

    # -- sampling -----------------------------------------------------------------------
    def sample_times(self, n: int) -> list[float]:
        """``n`` times evenly spaced over the clip (centres of n equal slices)."""
        d = self.info.duration_s
        if d <= 0:
            return [0.0]
        return [(k + 0.5) * d / n for k in range(n)]

    def frames_at(self, times: list[float]) -> Iterator[Frame]:
        """The first frame at or after each time, in order (seeks on long files)."""
        return in_background(self._frames_at(sorted(times)))

    def _frames_at(self, times: list[float]) -> Iterator[Frame]:
        if not times:
            return
        if self.info.duration_s > SEEK_ABOVE_S:
            yield from self._seek_frames(times)
            return
        k = 0
        last = None
        for t, raw in self._decode(skip_nonref=True):
            last = (t, raw)
            if t + 1e-6 >= times[k]:
                frame = Frame(t, self.rgb_of(raw))  # convert only frames that are used
                while k < len(times) and t + 1e-6 >= times[k]:
                    yield frame
                    k += 1
            if k >= len(times):
                return
        # Duration metadata can overstate the stream: the last frame stands for the rest.
        if last is not None and k < len(times):
            yield Frame(last[0], self.rgb_of(last[1]))

    def frames_every(self, fps: float, start_s: float = 0.0, end_s: float | None = None,
                     region_at: Callable[[float], tuple[int, int, int, int] | None] | None = None,
                     ) -> Iterator[Frame]:
        """Frames at most ``fps`` per second between ``start_s`` and ``end_s``.

        ``region_at(t)`` (x0, y0, x1, y1 in display pixels) asks for only that part of
        each frame: converting a face window instead of a whole 4K frame to RGB.
        """
        return in_background(self._frames_every(fps, start_s, end_s, region_at))

    def _frames_every(self, fps: float, start_s: float, end_s: float | None,
                      region_at: Callable[[float], tuple[int, int, int, int] | None] | None,
                      ) -> Iterator[Frame]:
        step = 1.0 / fps
        next_t = start_s
        for t, raw in self._decode(start_s if start_s > 0 else None):
            if end_s is not None and t > end_s:
                return
            if t + 1e-6 >= next_t:
                region = region_at(t) if region_at is not None else None
                yield self._cropped(t, raw, region) if region is not None else Frame(t, self.rgb_of(raw))
                next_t = max(next_t + step, t + step * 0.5)

    def _decode(self, seek_s: float | None = None,
                skip_nonref: bool = False) -> Iterator[tuple[float, Any]]:
        """(time, undecoded-to-RGB frame) pairs: converting costs more than decoding."""
        import av

        with _open(self.source) as c:
            stream = c.streams.video[0]
            # Frame threads cost more than they give here: the models want the other core.
            stream.thread_type = "SLICE"
            if skip_nonref:
                stream.codec_context.skip_frame = "NONREF"
            tb = float(stream.time_base or 0) or 1.0 / max(self.info.fps, 1.0)
            start = float(stream.start_time or 0) * tb
            if seek_s:
                c.seek(int((seek_s + start) / tb), stream=stream, backward=True, any_frame=False)
            n = 0
            try:
                for fr in c.decode(stream):
                    t = (float(fr.pts) * tb - start) if fr.pts is not None else n / self.info.fps
                    n += 1
                    yield max(0.0, t), fr
            except av.FFmpegError as exc:
                if n == 0:
                    raise CorruptMediaError(f"video cannot be decoded: {one_line(exc)}") from exc
                self.notes.append(f"decoding stopped after {n} frames: {one_line(exc)}")

    def _seek_frames(self, times: list[float]) -> Iterator[Frame]:
        for target in times:
            for t, raw in self._decode(seek_s=target, skip_nonref=True):
                if t + 1e-6 >= target:
                    yield Frame(t, self.rgb_of(raw))
                    break

    def _cropped(self, t: float, fr, region: tuple[int, int, int, int]) -> Frame:  # type: ignore[no-untyped-def]
        """Only ``region`` of a frame in RGB, cut from the YUV planes before conversion."""
        w, h = self.info.width, self.info.height
        # Even bounds: chroma planes have half the resolution.
        x0, y0 = max(0, region[0]) & ~1, max(0, region[1]) & ~1
        x1, y1 = min(w, region[2] + 1) & ~1, min(h, region[3] + 1) & ~1
        if self.info.rotation % 360 or fr.format.name != "yuv420p" or \
                x1 - x0 < 2 or y1 - y0 < 2:
            rgb = self.rgb_of(fr)
            return Frame(t, np.ascontiguousarray(rgb[y0:y1, x0:x1]), (x0, y0))
        planes = []
        for i, (py0, py1, px0, px1) in enumerate(
                ((y0, y1, x0, x1), (y0 // 2, y1 // 2, x0 // 2, x1 // 2),
                 (y0 // 2, y1 // 2, x0 // 2, x1 // 2))):
            p = fr.planes[i]
            a = np.frombuffer(p, np.uint8).reshape(-1, p.line_size)
            planes.append(a[py0:py1, px0:px1].reshape(-1))
        i420 = np.concatenate(planes).reshape((y1 - y0) * 3 // 2, x1 - x0)
        return Frame(t, cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), (x0, y0))

    def rgb_of(self, fr) -> np.ndarray:  # type: ignore[no-untyped-def]
        """A decoded PyAV frame as displayed: RGB, the rotation applied."""
        rgb = fr.to_ndarray(format="rgb24")
        rot = self.info.rotation % 360
        # Display matrix angles are counter-clockwise; np.rot90 turns counter-clockwise too.
        if rot:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=rot // 90))
        return rgb

    def audio(self, rate: int = 16000, max_seconds: float = 3600.0) -> np.ndarray | None:
        if not self.info.has_audio:
            return None
        from fakescope.media.container import audio_samples

        return audio_samples(self.source, rate, max_seconds=max_seconds)


def probe_video(source: Source, fmt: str, limits: MediaLimits) -> VideoMedia:
    """Open a container, check limits, describe its first video stream."""
    notes: list[str] = []
    with _open(source) as c:
        if not c.streams.video:
            raise UnsupportedMediaError(
                "the file has no video stream" + (" (audio only)" if c.streams.audio else "")
            )
        stream = c.streams.video[0]
        cc = stream.codec_context
        if cc is None:  # PyAV gives no context for a codec it does not know (a damaged tag)
            raise CorruptMediaError("the video stream's codec is unknown or its header is damaged")
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w <= 0 or h <= 0:
            raise CorruptMediaError("video stream has no frame size")
        check_dimensions(w, h, limits)
        tb = float(stream.time_base or 0)
        duration = 0.0
        if stream.duration and tb:
            duration = float(stream.duration) * tb
        elif c.duration:
            duration = float(c.duration) / 1e6
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if duration <= 0 and stream.frames:
            duration = stream.frames / fps
        if duration > limits.max_duration_s:
            raise MediaLimitError(
                f"video lasts {duration / 60:.0f} min; the limit is {limits.max_duration_s / 60:.0f} min"
            )
        rotation = _rotation(c, stream)
        if rotation % 180:
            w, h = h, w
        if rotation:
            notes.append(f"rotation metadata {rotation}° applied")
        audio = c.streams.audio[0] if c.streams.audio else None
        if audio is not None and audio.codec_context is None:
            notes.append("the audio stream's codec is unknown or its header is damaged: sound not analysed")
            audio = None
        info = VideoInfo(
            width=w, height=h, fps=fps, duration_s=duration, codec=cc.name or "unknown",
            container=c.format.name if c.format else fmt, rotation=rotation,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_rate=int(audio.codec_context.sample_rate or 0) if audio is not None else None,
        )
    if duration <= 0:
        notes.append("the container states no duration; frames are sampled as decoded")
    return VideoMedia(source=source, info=info, format=fmt, limits=limits, notes=notes)


def _rotation(container, stream) -> int:  # type: ignore[no-untyped-def]
    """Degrees (0/90/180/270) the frames must turn, from the first frame's display matrix."""
    try:
        for fr in container.decode(stream):
            rot = round(float(getattr(fr, "rotation", 0) or 0))
            return rot % 360 if rot % 90 == 0 else 0
    except Exception:
        return 0
    return 0
