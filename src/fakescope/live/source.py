"""Live sources: open a stream with PyAV, decode it in a thread, hand over the newest frame.

Decoding never waits for the analysis: the decoder thread puts each frame in a one-frame
``FrameSlot``, replacing the one there if the analysis has not taken it yet. A replaced
frame is counted as *skipped* when the analysis was not due to take a frame yet (its
``--fps`` cap) and as *dropped* when it was due but still busy: the analysis always
sees the newest frame and never falls behind the stream. If decoding itself falls
behind (a stream too heavy for the machine), the decoder is told to skip the frames
nothing refers to, then everything but keyframes, until it has caught up.

A network source that breaks, stalls for ``timeout_s`` or ends is opened again, with
back-off, up to ``max_reconnects`` consecutive failed attempts; stream time carries on
across the gap. A file is read with FFmpeg's ``follow`` option (a file still being
written is read as it grows) and ends when it has not grown for ``timeout_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from fakescope.errors import FakescopeError, LiveSourceError

log = logging.getLogger("fakescope.live")

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "rtp", "udp", "tcp", "http",
                             "https", "srt"})
# Input formats that read a capture device or a generator rather than a file or URL.
DEVICE_FORMATS = frozenset({"v4l2", "video4linux2", "avfoundation", "dshow", "x11grab",
                            "gdigrab", "kmsgrab", "lavfi", "decklink"})
# FFmpeg options that make an input wait for a publisher, per scheme. (RTSP's default
# listen_timeout, -1, fails at once in FFmpeg 8; the watch's own timeout bounds the wait.)
LISTEN_OPTIONS = {"rtsp": {"rtsp_flags": "listen", "listen_timeout": "86400"},
                  "rtmp": {"listen": "1"}, "tcp": {"listen": "1"}, "http": {"listen": "1"},
                  "srt": {"mode": "listener"}}
# Probing: enough to find a keyframe's parameters, not the 5 s FFmpeg takes by default.
# (Not ``fflags=nobuffer``: it throws away the frames read while probing.)
PROBE_OPTIONS = {"analyzeduration": "2000000"}
RECONNECT_BASE_S = 0.5
RECONNECT_MAX_S = 5.0
# Pacing (network sources and devices): a frame is handed over at its stream time plus
# the largest delay any frame had in the last JITTER_WINDOW_S (at most MAX_JITTER_S), so
# a source that delivers in bursts (HLS: a segment at once, then nothing for its
# duration) reaches the analysis evenly. The frames of a connection's first SETTLE_S
# (the probe's backlog, an HLS join) go straight through and do not count.
JITTER_WINDOW_S = 15.0
MAX_JITTER_S = 10.0
SETTLE_S = 1.0
# A file's reader has caught up with its writer when a read waited this long.
CAUGHT_UP_S = 0.2
# Decoding that takes more than DECODER_BUSY of the stream time it decodes (over
# LOAD_WINDOW_S) turns on skipping the frames nothing refers to, then everything but
# keyframes; below DECODER_IDLE for LOAD_WINDOW_S it steps back.
LOAD_WINDOW_S = 3.0
DECODER_BUSY = 0.9
DECODER_IDLE = 0.35
SKIP_LEVELS = ("DEFAULT", "NONREF", "NONKEY")
# A stream time that jumps further than this between two frames (a timestamp
# discontinuity: an encoder restart, a wrapped MPEG-TS clock) is re-anchored.
MAX_JUMP_S = 10.0
# A connection that delivered frames for this long was a good one: the count of failed
# reconnection attempts starts again. (Shorter ones do not reset it, so a server that
# hands out the same few seconds again and again cannot keep a watch reconnecting forever.)
GOOD_CONNECTION_S = 5.0


def redact(url: str) -> str:
    """The source as it may be printed: a password in it replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class SourceSpec:
    """What to open: ``url`` as FFmpeg takes it, the input ``format`` (devices), options."""

    url: str
    kind: Literal["network", "file", "device"]
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    listen: bool = False
    # A service watch: a policy.SourcePolicy that every connection is checked against
    # (live.egress opens the loopback gateway or relay FFmpeg connects to instead).
    egress: Any = field(default=None, compare=False, repr=False)

    @property
    def display(self) -> str:
        return redact(self.url)

    @property
    def reconnects(self) -> bool:
        """Whether an end or a break is followed by a new connection (files just end)."""
        return self.kind != "file"


def parse_source(source: str, *, fmt: str | None = None, listen: bool = False,
                 options: dict[str, str] | None = None) -> SourceSpec:
    """A SOURCE argument as a ``SourceSpec``; LiveSourceError when it names nothing
    fakescope can watch."""
    source = source.strip()
    if not source:
        raise LiveSourceError("no source given")
    opts: dict[str, str] = {}
    if (fmt is not None and fmt in DEVICE_FORMATS) or source.startswith("/dev/"):
        fmt = fmt or "v4l2"
        if listen:
            raise LiveSourceError("--listen is for network sources, not capture devices")
        return SourceSpec(source, "device", fmt, {**opts, **(options or {})})
    try:
        scheme = urlsplit(source).scheme.lower()
    except ValueError as exc:
        raise LiveSourceError(f"the source is not a valid URL ({exc})") from None
    if scheme in NETWORK_SCHEMES:
        opts.update(PROBE_OPTIONS)
        if scheme in ("rtsp", "rtsps") and not listen:
            opts["rtsp_transport"] = "tcp"  # no lost packets behind NATs and firewalls
        if scheme == "udp":
            opts["overrun_nonfatal"] = "1"  # a late reader loses packets, not the stream
        if scheme in ("http", "https"):
            opts["live_start_index"] = "-1"  # HLS: start at the newest segment
        if listen:
            if scheme not in LISTEN_OPTIONS:
                raise LiveSourceError(
                    f"--listen is not available for {scheme}:// (rtsp, rtmp, tcp, http and srt "
                    "can wait for a publisher; udp always receives)")
            opts.update(LISTEN_OPTIONS[scheme])
        return SourceSpec(source, "network", fmt, {**opts, **(options or {})}, listen)
    if scheme and len(scheme) > 1 and scheme != "file":
        raise LiveSourceError(
            f"{scheme}:// is not a source fakescope watches (rtsp, rtmp, udp, tcp, http(s) incl. "
            "HLS, srt, a file or a capture device)")
    if listen:
        raise LiveSourceError("--listen is for network sources, not files")
    path = Path(source[7:] if source.startswith("file://") else source)
    if not path.is_file():
        raise LiveSourceError(f"{path}: no such file (and not a URL fakescope watches)")
    # follow: at the end of the file, wait for it to grow (a recording still being written).
    return SourceSpec(str(path), "file", fmt, {"follow": "1", **PROBE_OPTIONS, **(options or {})})


@dataclass
class LiveFrame:
    """A decoded frame, converted to RGB only when the analysis takes it."""

    seq: int
    time_s: float  # stream time, continuous across reconnections
    arrived: float  # time.monotonic() when it was decoded
    raw: Any  # av.VideoFrame
    rotation: int = 0

    def rgb(self) -> np.ndarray:
        rgb = self.raw.to_ndarray(format="rgb24")
        if self.rotation % 360:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=(self.rotation % 360) // 90))
        return rgb


class FrameSlot:
    """A one-frame handoff from the decoder to the analysis (see the module docstring)."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._cond = threading.Condition()
        self._frame: LiveFrame | None = None
        self._ended = False
        self.due = 0.0  # time.monotonic() from which the analysis wants its next frame
        self.received = self.taken = self.dropped = self.skipped = 0

    def put(self, frame: LiveFrame) -> None:
        with self._cond:
            self.received += 1
            if self._frame is not None:
                if time.monotonic() >= self.due:
                    self.dropped += 1
                else:
                    self.skipped += 1
            self._frame = frame
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._frame is None

    def take(self, until: float) -> LiveFrame | None:
        """The newest frame once the analysis is due for one; None when ``until``
        (time.monotonic()) comes first or the source has ended."""
        with self._cond:
            while True:
                now = time.monotonic()
                if now >= self.due and self._frame is not None:
                    frame, self._frame = self._frame, None
                    self.taken += 1
                    self.due = now + self.interval
                    return frame
                if (self._ended and self._frame is None) or now >= until:
                    return None
                wake = until if now >= self.due else min(self.due, until)
                self._cond.wait(max(0.0, wake - now))


@dataclass
class SourceState:
    """What the decoder thread tells the watch (read under no lock: plain counters)."""

    connections: int = 0
    reconnects: int = 0
    decoder_skipped: int = 0
    last_time_s: float | None = None
    end_reason: str | None = None
    error: str | None = None
    failed: bool = False  # ended on an error rather than at the end of the stream or a stop


EventSink = Callable[[Any], None]


class LiveSource:
    """Reads ``spec`` in a thread into ``slot`` until stopped, ended or out of reconnections."""

    def __init__(self, spec: SourceSpec, slot: FrameSlot, emit: EventSink, *,
                 timeout_s: float = 10.0, max_reconnects: int = 10,
                 max_pixels: int = 80_000_000) -> None:
        self.spec = spec
        self.slot = slot
        self.emit = emit
        self.timeout_s = timeout_s
        self.max_reconnects = max_reconnects
        self.max_pixels = max_pixels
        self.state = SourceState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._offset = 0.0  # stream time of this connection's first frame
        self._last_arrival: float | None = None
        self._failures = 0  # consecutive failed attempts since frames last came
        self._use_relay = False
        self._relay: Any = None  # fakescope.live.relay.Relay while one runs
        self._guard: Any = None  # fakescope.live.egress.Guard of a service watch

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fakescope-live-source", daemon=True)
        self._thread.start()

    def stop(self, wait_s: float = 0.0) -> None:
        self._stop.set()
        relay = self._relay
        if relay is not None:
            relay.close()  # a pipe read has no timeout: end it
        guard = self._guard
        if guard is not None:
            guard.close()  # its connections end now, and FFmpeg's reads with them
        if self._thread is not None and wait_s > 0:
            self._thread.join(wait_s)

    @property
    def alive(self) -> bool:
        """Whether the reading thread still runs (and may hold a connection)."""
        return self._thread is not None and self._thread.is_alive()

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        from fakescope.live.events import ReconnectEvent

        try:
            if self.spec.egress is not None:
                from fakescope.live.egress import open_guard

                try:
                    self._guard = open_guard(self.spec, self.timeout_s, self._note)
                except (OSError, FakescopeError) as exc:  # no loopback port; the source refused
                    self.state.error, self.state.failed = _one_line(exc), True
                    self.state.end_reason = f"source failed: {self.state.error}"
                    return
                if self._stop.is_set():
                    self._guard.close()
            while not self._stop.is_set():
                try:
                    conn = self._connect_and_read()
                except _Fatal as exc:
                    self.state.error, self.state.failed = str(exc), True
                    self.state.end_reason = f"source failed: {exc}"
                    return
                self.state.error = conn.error
                if self._stop.is_set():
                    break
                if not self.spec.reconnects or (conn.recording and conn.error is None):
                    # A file, or a network recording (it states a duration) read to its end.
                    self.state.failed = conn.error is not None and not conn.seconds
                    self.state.end_reason = (
                        f"source failed: {conn.error}" if self.state.failed
                        else "the file stopped growing" if self.spec.kind == "file"
                        else "the recording ended")
                    return
                if conn.seconds >= GOOD_CONNECTION_S:
                    self._failures = 0
                if self.spec.listen and not self.state.connections:
                    continue  # still waiting for the first publisher: not a failure
                self._failures += 1
                error = conn.error or "the stream ended"
                if self._failures > self.max_reconnects:
                    self.state.failed = True
                    self.state.end_reason = (
                        f"gave up after {self.max_reconnects} failed reconnection attempts: {error}")
                    return
                wait = 0.0 if self.spec.listen else min(
                    RECONNECT_MAX_S, RECONNECT_BASE_S * 2 ** (self._failures - 1))
                self.emit(ReconnectEvent(event="reconnecting", attempt=self._failures,
                                         error=error, wait_s=wait))
                if self._stop.wait(wait):
                    break
        finally:
            if self._guard is not None:
                self._guard.close()
            if self.state.end_reason is None:
                self.state.end_reason = "stopped"
            self.slot.end()

    def _why(self, exc: BaseException) -> str:
        """One line on a failure, naming the source rather than the guard FFmpeg talked to."""
        text = _one_line(exc)
        return self._guard.public(text) if self._guard is not None else text

    def _note(self, message: str) -> None:
        from fakescope.live.events import NoteEvent

        self.emit(NoteEvent(message=message))

    def _open(self) -> Any:
        import av

        if self._use_relay:
            return self._open_relay()
        url, options = self.spec.url, dict(self.spec.options)
        if self._guard is not None:
            url, options = self._guard.url, self._guard.input_options(options)
        try:
            return av.open(url, format=self.spec.format, options=options,
                           timeout=(self.timeout_s, self.timeout_s))
        except (av.error.ProtocolNotFoundError, av.error.DemuxerNotFoundError) as exc:
            if self.spec.url.lower().startswith("srt:"):
                # PyAV's own FFmpeg has no libsrt: relay through the system's ffmpeg from now on.
                self._use_relay = True
                return self._open_relay()
            raise _Fatal(_one_line(exc)) from None
        except (av.error.FileNotFoundError, av.error.PermissionError, av.error.IsADirectoryError) as exc:
            if self.spec.kind != "network":
                raise _Fatal(_one_line(exc)) from None
            raise
        except av.error.OptionNotFoundError as exc:
            raise _Fatal(_one_line(exc)) from None

    def _open_relay(self) -> Any:
        from fakescope.live.relay import Relay

        try:
            self._relay = Relay(self.spec.url, self.spec.options, self.timeout_s)
        except LiveSourceError as exc:
            raise _Fatal(str(exc)) from None
        if self._stop.is_set():
            self._relay.close()
        try:
            return self._relay.open()
        except Exception as exc:
            why = self._relay.error() or _one_line(exc)
            self._close_relay()
            raise RuntimeError(f"the SRT relay failed: {why}") from None

    def _close_relay(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def _connect_and_read(self) -> _Connection:
        """One connection, read until it ends, breaks or the watch stops."""
        conn = _Connection()
        try:
            container = self._open()
        except _Fatal:
            raise
        except Exception as exc:  # refused, timed out, not found (yet)
            conn.error = self._why(exc)
            return conn
        try:
            self._read(container, conn)
        except _Fatal:
            raise
        except Exception as exc:  # a break, a stall past the timeout, a corrupt stream
            conn.error = self._why(exc)
        finally:
            container.close()
            if self._relay is not None:
                conn.error = conn.error and (self._relay.error() or conn.error)
                self._close_relay()
        if conn.started is not None:
            conn.seconds = time.monotonic() - conn.started
        elif conn.error is None:
            conn.error = "the connection delivered no frame"
        return conn

    def _read(self, container: Any, conn: _Connection) -> None:
        import av

        from fakescope.live.events import ReconnectEvent, StreamEvent

        if not container.streams.video:
            raise _Fatal("the source has no video stream")
        # A network source that states a duration is a recording (an HLS playlist that has
        # ended, a file over HTTP): its end is the end of the watch.
        conn.recording = bool(container.duration and container.duration > 0)
        stream = container.streams.video[0]
        # Slice threads add no delay; frame threads would hold a frame per thread.
        stream.thread_type = "SLICE"
        cc = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else 0.0
        fps = float(stream.average_rate or stream.guessed_rate or 0) or None
        frame_step = 1.0 / fps if fps else 0.04
        # Stream time counts from the stream's start as the demuxer saw it while probing,
        # so frames lost before decoding began do not shift the clock.
        base_pts: int | None = stream.start_time
        lost_at = self._last_arrival
        pacer: Pacer | None = None
        load = DecoderLoad()
        level = 0
        # A file is read as fast as it decodes until the reader has caught up with its
        # writer (a read waited for the file to grow), then paced like a stream.
        caught_up = self.spec.kind != "file"
        last_packet = time.monotonic()
        for packet in container.demux(stream):
            if not caught_up and time.monotonic() - last_packet > CAUGHT_UP_S:
                caught_up, pacer = True, Pacer(time.monotonic())
            last_packet = time.monotonic()
            if self._stop.is_set():
                return
            if packet.size == 0:
                continue
            if self._relay is not None:
                self._relay.touch()
            t_dec = time.perf_counter()
            try:
                frames = cc.decode(packet)
            except av.error.InvalidDataError:
                continue  # a damaged packet (lost UDP datagrams): the next keyframe heals it
            load.spent(time.perf_counter() - t_dec)
            if level and not frames:
                self.state.decoder_skipped += 1
            for fr in frames:
                now = time.monotonic()
                first = conn.started is None
                if first:
                    self._first_frame(fr)
                    conn.started = now
                    pacer = Pacer(now) if caught_up else None
                    self.state.connections += 1
                    if self.state.connections > 1:
                        # Stream time carries on across the gap the break lasted.
                        self.state.reconnects += 1
                        gap = now - lost_at if lost_at is not None else 0.0
                        self._offset = (self.state.last_time_s or 0.0) + gap
                        self.emit(ReconnectEvent(event="reconnected", attempt=max(1, self._failures),
                                                 gap_s=round(gap, 3), time_s=round(self._offset, 3)))
                    self.emit(StreamEvent(
                        connection=self.state.connections, codec=cc.name or "unknown",
                        width=fr.width, height=fr.height, fps=round(fps, 3) if fps else None,
                        format=container.format.name if container.format else "unknown"))
                last = self.state.last_time_s
                if fr.pts is not None and tb:
                    if base_pts is None:
                        base_pts = fr.pts
                    t = self._offset + (fr.pts - base_pts) * tb
                    if first and self.state.connections > 1:
                        # Joined mid-stream: the first frame is where the gap ends.
                        base_pts, t = fr.pts, self._offset
                elif last is not None:
                    t = last + frame_step
                else:
                    t = self._offset
                if not first and last is not None and (t < last - 0.5 or t > last + MAX_JUMP_S):
                    # A timestamp discontinuity: carry on one frame after the last.
                    self._offset, base_pts = last + frame_step, fr.pts
                    t = self._offset
                    pacer = Pacer(now) if pacer is not None else None
                self.state.last_time_s = t
                new_level = load.level(t, now)
                if new_level != level:
                    cc.skip_frame = SKIP_LEVELS[new_level]
                    level = new_level
                if pacer is not None and (wait := pacer.wait(now, t)) > 0 and self._stop.wait(wait):
                    return
                now = time.monotonic()
                self._last_arrival = now
                self._seq += 1
                self.slot.put(LiveFrame(self._seq, t, now, fr, _rotation_of(fr)))
        if conn.started is not None and self.spec.reconnects and not conn.recording:
            conn.error = "the stream ended"

    def _first_frame(self, fr: Any) -> None:
        if fr.width * fr.height > self.max_pixels:
            raise _Fatal(f"frames of {fr.width}x{fr.height} are larger than the "
                         f"{self.max_pixels} pixel limit")


class Pacer:
    """When to hand a frame over (see JITTER_WINDOW_S)."""

    def __init__(self, started: float) -> None:
        self.settle_until = started + SETTLE_S
        self._leads: deque[tuple[float, float]] = deque()  # (now, lead), leads decreasing

    def wait(self, now: float, t: float) -> float:
        """Seconds to wait before handing over the frame of stream time ``t`` decoded at ``now``."""
        if now < self.settle_until:
            return 0.0
        lead = now - t  # how long after its stream time the frame came
        q = self._leads
        while q and q[0][0] < now - JITTER_WINDOW_S:
            q.popleft()
        while q and q[-1][1] <= lead:
            q.pop()  # a later, larger delay makes smaller ones irrelevant to the maximum
        q.append((now, lead))
        return min(q[0][1] - lead, MAX_JITTER_S)


class DecoderLoad:
    """Whether decoding keeps up: the share of the stream's time spent decoding it."""

    def __init__(self) -> None:
        self._spans: deque[tuple[float, float, float]] = deque()  # (now, decode s, stream t)
        self._level = 0
        self._since = 0.0
        self._pending = 0.0

    def spent(self, seconds: float) -> None:
        """Time one packet took to decode."""
        self._pending += seconds

    def level(self, t: float, now: float) -> int:
        """After a frame of stream time ``t``: the skip level to decode at (0 everything,
        1 no frames that nothing refers to, 2 keyframes only)."""
        q = self._spans
        q.append((now, self._pending, t))
        self._pending = 0.0
        while len(q) > 2 and q[0][0] < now - LOAD_WINDOW_S:
            q.popleft()
        span = q[-1][2] - q[0][2]
        if now - q[0][0] < LOAD_WINDOW_S * 0.5 or span <= 0:
            return self._level
        busy = sum(d for _, d, _ in q) / span
        if busy > DECODER_BUSY and self._level < 2 and now - self._since > LOAD_WINDOW_S:
            self._level, self._since = self._level + 1, now
            q.clear()
        elif busy < DECODER_IDLE and self._level > 0 and now - self._since > LOAD_WINDOW_S:
            self._level, self._since = self._level - 1, now
            q.clear()
        return self._level


@dataclass
class _Connection:
    started: float | None = None  # time.monotonic() of its first frame
    seconds: float = 0.0  # how long it delivered frames
    recording: bool = False
    error: str | None = None


class _Fatal(LiveSourceError):
    """A failure another attempt cannot fix (unknown protocol, no video stream)."""


def _rotation_of(fr: Any) -> int:
    rot = round(float(getattr(fr, "rotation", 0) or 0))
    return rot % 360 if rot % 90 == 0 else 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    # PyAV's messages start with "[Errno N] ": the number says nothing to a person.
    if text.startswith("[Errno"):
        text = text.split("] ", 1)[-1]
    return text
