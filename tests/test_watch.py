"""`fakescope watch` on real streams served by ffmpeg (Debian's) on this machine.

The clip (``demo.talking_clip``) shows the astronaut's real face for FAKE_AT seconds, then
a self-blended one (known truth: fake) to its end. Each test serves it in real time
(``ffmpeg -re``) over RTSP, UDP MPEG-TS, HLS or as a file still being written, and checks
the watcher's alert time against the fake segment's start (target: within 3 s), the
verdict cadence (one at least every 2 s), reconnection after ffmpeg is killed mid-stream,
and that frames are dropped, not queued, when the analysis is slower than the stream.

Latency: an alert speaks for the frame of stream time ``time_s``, ``delay_s`` after that
frame was decoded; under real-time serving, the fake segment's first frame arrived
``time_s - FAKE_AT`` before that frame, so the alert came ``time_s - FAKE_AT + delay_s``
after the fake segment reached the watcher.
"""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import pytest

from fakescope.errors import LiveSourceError
from fakescope.live.events import (
    AlertEvent,
    EndEvent,
    ReconnectEvent,
    StreamEvent,
    VerdictEvent,
    parse_event,
)
from fakescope.live.source import FrameSlot, LiveFrame, Pacer, parse_source, redact
from fakescope.live.watch import Watch, WatchSettings

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")

CLIP_S = 12.0
FAKE_AT = 6.0
MAX_ALERT_S = 3.0  # the target: an alert within 3 s of the fake segment's start
MAX_VERDICT_GAP_S = 2.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fakescope.demo import talking_clip

    path = tmp_path_factory.mktemp("live") / "spliced.mp4"
    # Keyframes every second: HLS cuts segments there, and a receiver joins at one.
    return talking_clip(path, seconds=CLIP_S, audio_shift_s=None, size=(640, 480),
                        fake_span=(FAKE_AT, CLIP_S + 1), keyframe_every_s=1.0)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ffmpeg(*args: str) -> subprocess.Popen:
    return subprocess.Popen([FFMPEG or "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


class Running:
    """A watch in a thread of this process (the session's Scanner, loaded once)."""

    def __init__(self, scanner, source: str, **kw) -> None:  # type: ignore[no-untyped-def]
        fmt_opts = kw.pop("av_options", None)
        listen = kw.pop("listen", False)
        self.events: list = []
        self.spec = parse_source(source, listen=listen, options=fmt_opts)
        self.watch = Watch(scanner, self.spec, WatchSettings(**kw), self.events.append)
        self.end: EndEvent | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.end = self.watch.run()

    def wait_for(self, pred: Callable[[object], bool], timeout: float) -> object | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.events):
                if pred(e):
                    return e
            time.sleep(0.05)
        return None

    def finish(self, timeout: float = 15.0) -> EndEvent:
        self.watch.stop()
        self.thread.join(timeout)
        assert self.end is not None, "the watch did not end"
        return self.end

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def running(scanner) -> Iterator[Callable[..., Running]]:  # type: ignore[no-untyped-def]
    started: list[Running] = []

    def start(source: str, **kw) -> Running:  # type: ignore[no-untyped-def]
        r = Running(scanner, source, **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.watch.stop()
        r.thread.join(15)


def alert_latency(r: Running, fake_at_stream_s: float) -> float:
    """Seconds from the fake segment's start to its alert (stream time plus the alert's own
    delay), asserted within the target."""
    alerts = r.of(AlertEvent)
    assert alerts, f"no alert; verdicts: {[(v.time_s, v.verdict, v.score) for v in r.of(VerdictEvent)]}"
    a = alerts[0]
    assert a.time_s >= fake_at_stream_s, f"alert at {a.time_s} s, before the fake ({fake_at_stream_s} s)"
    latency = a.time_s - fake_at_stream_s + a.delay_s
    assert latency <= MAX_ALERT_S, latency
    return latency


def check_verdicts(r: Running, fake_at_stream_s: float) -> None:
    """Never fake before the fake segment (mostly real: a 2 s window of this small face
    can land in the uncertain band), fake well inside it, a verdict at least every 2 s."""
    verdicts = [v for v in r.of(VerdictEvent) if v.person is not None]
    before = [v for v in verdicts if v.time_s < fake_at_stream_s]
    after = [v for v in verdicts if v.time_s > fake_at_stream_s + MAX_ALERT_S]
    seen = [(v.time_s, v.verdict) for v in before]
    assert before and all(v.verdict != "fake" for v in before), seen
    assert sum(v.verdict == "real" for v in before) >= 0.6 * len(before), seen
    assert after and all(v.verdict == "fake" for v in after), [(v.time_s, v.verdict) for v in after]
    ats = [datetime.fromisoformat(v.at.replace("Z", "+00:00")).timestamp() for v in r.of(VerdictEvent)]
    gaps = [b - a for a, b in itertools.pairwise(ats)]
    assert gaps and max(gaps) <= MAX_VERDICT_GAP_S, gaps


# -- streams -------------------------------------------------------------------------------


@needs_ffmpeg
def test_udp_mpegts_alerts_within_3_s_of_the_fake_segment(running, clip: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    r = running(f"udp://127.0.0.1:{port}", timeout_s=5)
    time.sleep(0.5)  # the receiver binds first: it sees the stream from its first packet
    sender = ffmpeg("-re", "-i", str(clip), "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}")
    try:
        sender.wait(CLIP_S + 20)
        time.sleep(0.5)
    finally:
        stop(sender)
    end = r.finish()
    assert r.of(StreamEvent)[0].format == "mpegts"
    alert_latency(r, FAKE_AT)
    check_verdicts(r, FAKE_AT)
    assert end.alerts == 1 and end.received > 0.9 * CLIP_S * 25


@needs_ffmpeg
def test_rtsp_reconnects_after_the_publisher_is_killed(running, clip: Path) -> None:
    """The watcher listens (as `-rtsp_flags listen`), ffmpeg publishes to it; killed after 3 s
    and started again from 3 s into the clip, the stream goes on and the alert still comes."""
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/live"
    r = running(url, listen=True, timeout_s=5)
    time.sleep(0.5)
    push = ["-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", url]
    first = ffmpeg("-re", "-i", str(clip), *push)
    try:
        assert r.wait_for(lambda e: isinstance(e, VerdictEvent) and e.person is not None, 10)
        time.sleep(3.0 - r.of(VerdictEvent)[0].time_s)
        first.kill()  # the connection drops mid-stream
        first.wait(5)
        assert r.wait_for(lambda e: isinstance(e, ReconnectEvent) and e.event == "reconnecting", 10)
        time.sleep(1.0)
        second = ffmpeg("-re", "-ss", "3", "-i", str(clip), *push)
        try:
            second.wait(CLIP_S + 20)
            time.sleep(0.5)
        finally:
            stop(second)
    finally:
        stop(first)
    end = r.finish()
    back = [e for e in r.of(ReconnectEvent) if e.event == "reconnected"]
    assert back and end.reconnects >= 1, r.events
    resumed = back[0].time_s
    assert back[0].gap_s is not None and back[0].gap_s >= 1.0
    assert [s.connection for s in r.of(StreamEvent)][:2] == [1, 2]
    # The second connection starts at the clip's 3 s: the fake segment FAKE_AT - 3 s later.
    fake_at = resumed + FAKE_AT - 3.0
    assert any(v.time_s > resumed for v in r.of(VerdictEvent)), "no verdict after the reconnection"
    alert_latency(r, fake_at)
    times = [v.time_s for v in r.of(VerdictEvent)]
    assert times == sorted(times), "stream time went back across the reconnection"


@needs_ffmpeg
def test_srt_through_the_system_ffmpeg(running, clip: Path) -> None:
    """PyAV's FFmpeg has no SRT: the watcher relays it through Debian's ffmpeg, calling an
    SRT listener (ffmpeg publishing the clip once a caller connects)."""
    from fakescope.live.relay import ffmpeg_with

    if ffmpeg_with("srt") is None:
        pytest.skip("this ffmpeg has no SRT")
    port = free_port(socket.SOCK_DGRAM)
    sender = ffmpeg("-re", "-i", str(clip), "-c", "copy", "-f", "mpegts", f"srt://127.0.0.1:{port}?mode=listener")
    try:
        time.sleep(0.5)
        r = running(f"srt://127.0.0.1:{port}", timeout_s=5, max_reconnects=1)
        sender.wait(CLIP_S + 20)
        assert r.wait_for(lambda e: isinstance(e, EndEvent), 20)
    finally:
        stop(sender)
    end = r.finish()
    assert r.of(StreamEvent)[0].format == "mpegts"
    alert_latency(r, FAKE_AT)
    assert end.received > 0.9 * CLIP_S * 25


@needs_ffmpeg
def test_hls_segments_served_over_http(running, clip: Path, tmp_path: Path) -> None:
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    writer = ffmpeg("-re", "-i", str(clip), "-c", "copy", "-f", "hls", "-hls_time", "1",
                    "-hls_list_size", "0", str(tmp_path / "live.m3u8"))
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "live.m3u8").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # From the first segment, so that stream time is the clip's time.
        r = running(f"http://127.0.0.1:{server.server_address[1]}/live.m3u8",
                    av_options={"live_start_index": "0"}, timeout_s=5, max_reconnects=1)
        writer.wait(CLIP_S + 20)
        assert r.wait_for(lambda e: isinstance(e, EndEvent), 15), "the watch did not end with the playlist"
    finally:
        stop(writer)
        server.shutdown()
    end = r.finish()
    assert r.of(StreamEvent)[0].format == "hls"
    assert end.error is None, end
    # HLS hands over a segment (1 s here) at a time: the watcher paces the frames to their
    # stream time, so the analysis sees them evenly and the target holds past that latency.
    alert_latency(r, FAKE_AT)
    check_verdicts(r, FAKE_AT)


@needs_ffmpeg
def test_a_file_still_being_written(running, clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "recording.ts"
    # -flush_packets 1: the file grows as the stream goes (ffmpeg's default writes 256 KiB at
    # a time, seconds of this stream, which the watcher would follow only as often).
    writer = ffmpeg("-re", "-ss", "3", "-i", str(clip), "-c", "copy", "-f", "mpegts",
                    "-flush_packets", "1", str(path))
    try:
        deadline = time.monotonic() + 10
        while not (path.exists() and path.stat().st_size > 50_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        r = running(str(path), timeout_s=2)
        writer.wait(CLIP_S + 20)
        assert r.wait_for(lambda e: isinstance(e, EndEvent), 10)
    finally:
        stop(writer)
    end = r.finish()
    assert end.reason == "the file stopped growing" and end.error is None
    assert r.of(AlertEvent) and r.of(AlertEvent)[0].time_s >= FAKE_AT - 3.0
    assert end.time_s is not None and end.time_s > CLIP_S - 3.0 - 1.0


@needs_ffmpeg
def test_frames_are_dropped_not_queued_when_the_analysis_is_slow(running, clip: Path) -> None:
    """Make each analysed frame take 0.3 s (at most ~3 a second of a 25 fps stream): the
    watcher drops the rest, says so, and its verdicts stay at the live edge."""
    port = free_port(socket.SOCK_DGRAM)
    r = running(f"udp://127.0.0.1:{port}", timeout_s=5, fps=25)
    real_add = r.watch.analysis.add

    def slow_add(rgb, time_s, arrived):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return real_add(rgb, time_s, arrived)

    r.watch.analysis.add = slow_add  # type: ignore[method-assign]
    time.sleep(0.5)
    sender = ffmpeg("-re", "-t", "8", "-i", str(clip), "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}")
    try:
        sender.wait(30)
        time.sleep(0.5)
    finally:
        stop(sender)
    end = r.finish()
    assert end.dropped > 0.5 * end.received, end
    assert end.analysed < 0.2 * end.received
    notes = [e for e in r.events if getattr(e, "event", "") == "dropped"]
    assert notes and all(n.dropped > 0 for n in notes)
    # Never behind: each verdict speaks for a frame decoded less than an analysis ago.
    verdicts = [v for v in r.of(VerdictEvent) if v.person is not None]
    assert verdicts and max(v.delay_s for v in verdicts) < 0.8, [v.delay_s for v in verdicts]


# -- the command line -------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@needs_ffmpeg
@pytest.mark.parametrize("webhook", ["working", "refused"])
def test_cli_prints_json_lines_and_posts_them(clip: Path, webhook: str) -> None:
    """JSON lines on stdout, the same events posted to --webhook; a webhook that refuses
    every connection costs nothing but a warning."""
    _Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_port = server.server_address[1] if webhook == "working" else free_port()
    port = free_port(socket.SOCK_DGRAM)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "fakescope.cli", "watch", f"udp://127.0.0.1:{port}", "--duration", "25",
         "--timeout", "3", "--max-reconnects", "0", "--webhook", f"http://127.0.0.1:{hook_port}/hook"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = watcher.stdout.readline()  # type: ignore[union-attr]
        assert parse_event(first).event == "start"  # the models are loaded: send
        sender = ffmpeg("-re", "-ss", "3", "-t", "6", "-i", str(clip), "-c", "copy", "-f", "mpegts",
                        f"udp://127.0.0.1:{port}")
        sender.wait(30)
        out, err = watcher.communicate(timeout=30)  # ends: the stream stops, no reconnection
    finally:
        stop(watcher)
        server.shutdown()
    events = [parse_event(line) for line in (first + out).splitlines()]
    kinds = [e.event for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and "verdict" in kinds and "alert" in kinds
    end = events[-1]
    assert isinstance(end, EndEvent) and "gave up after 0" in end.reason
    assert watcher.returncode == 1 and "gave up" in err
    if webhook == "working":
        assert [e["event"] for e in _Hook.received] == kinds
    else:
        assert "webhook" in err and "the watch goes on" in err


def test_cli_refuses_what_it_cannot_watch(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fakescope.cli.main import main

    res = CliRunner().invoke(main, ["watch", "gopher://example.org/x"])
    assert res.exit_code == 2 and "not a source fakescope watches" in res.output
    res = CliRunner().invoke(main, ["watch", str(tmp_path / "missing.ts")])
    assert res.exit_code == 2 and "no such file" in res.output
    res = CliRunner().invoke(main, ["watch", "udp://127.0.0.1:5000", "--listen"])
    assert res.exit_code == 2 and "--listen is not available for udp" in res.output
    res = CliRunner().invoke(main, ["watch", "udp://127.0.0.1:5000", "--webhook", "ftp://x/y"])
    assert res.exit_code == 2 and "--webhook must be an http" in res.output


def test_unreachable_sources_give_up_with_one_line(scanner) -> None:  # type: ignore[no-untyped-def]
    events: list = []
    w = Watch(scanner, parse_source(f"tcp://127.0.0.1:{free_port()}"),
              WatchSettings(timeout_s=1, max_reconnects=2), events.append)
    end = w.run()
    tries = [e.attempt for e in events if isinstance(e, ReconnectEvent)]
    assert tries == [1, 2] and end.error and "\n" not in end.reason
    assert end.reason.startswith("gave up after 2 failed reconnection attempts")
    w = Watch(scanner, parse_source(f"srt://127.0.0.1:{free_port(socket.SOCK_DGRAM)}"),
              WatchSettings(timeout_s=1, max_reconnects=1), events.append)
    end = w.run()
    assert end.error and "SRT" in end.reason and "\n" not in end.reason, end.reason


# -- parts --------------------------------------------------------------------------------------


def test_parse_source() -> None:
    s = parse_source("rtsp://user:secret@cam.local:554/stream")
    assert s.kind == "network" and s.options["rtsp_transport"] == "tcp"
    assert s.display == "rtsp://user:***@cam.local:554/stream" and "secret" not in s.display
    assert parse_source("rtsp://0.0.0.0:8554/x", listen=True).options["rtsp_flags"] == "listen"
    assert parse_source("udp://239.0.0.1:5000").options["overrun_nonfatal"] == "1"
    assert parse_source("/dev/video0").format == "v4l2"
    assert parse_source("testsrc", fmt="lavfi").kind == "device"
    custom = parse_source("http://h/live.m3u8", options={"live_start_index": "-3"})
    assert custom.options["live_start_index"] == "-3"
    with pytest.raises(LiveSourceError, match="not a source"):
        parse_source("mailto:x@y")
    with pytest.raises(LiveSourceError):
        parse_source("   ")
    assert redact("http://h/x") == "http://h/x"


def _frame(seq: int) -> LiveFrame:
    return LiveFrame(seq, seq / 25, time.monotonic(), raw=None)


def test_frame_slot_keeps_the_newest_and_counts_the_rest() -> None:
    slot = FrameSlot(fps=1000)
    for i in range(5):
        slot.put(_frame(i))
    got = slot.take(until=time.monotonic() + 1)
    assert got is not None and got.seq == 4
    assert (slot.received, slot.dropped, slot.skipped) == (5, 4, 0)  # due, but busy: dropped
    slot = FrameSlot(fps=2)  # one frame every 0.5 s
    slot.put(_frame(0))
    assert slot.take(until=time.monotonic() + 1).seq == 0  # type: ignore[union-attr]
    for i in range(1, 4):
        slot.put(_frame(i))  # before the next is due: skipped by the cap
    assert slot.skipped == 2 and slot.dropped == 0
    assert slot.take(until=time.monotonic() + 0.1) is None  # not due yet
    got = slot.take(until=time.monotonic() + 2)
    assert got is not None and got.seq == 3
    slot.end()
    assert slot.take(until=time.monotonic() + 5) is None and slot.ended


def test_pacer_spreads_bursts() -> None:
    """Segments of 1 s arriving at once each second: handed over at their stream time."""
    p = Pacer(started=0.0)
    released = []
    for seg in range(2, 6):
        arrive = seg + 1.05  # a segment [seg, seg+1) arrives just after it ends
        for k in range(25):
            now, t = arrive + k * 0.001, seg + k / 25
            wait = p.wait(now, t)
            assert 0 <= wait <= 1.05
            released.append(now + wait)
    gaps = [b - a for a, b in zip(released[-25:], released[-24:], strict=False)]
    assert max(gaps) < 0.05 and min(gaps) > 0.03, gaps  # evenly, 25 a second, not all at once
    assert Pacer(started=10.0).wait(5.0, 0.0) == 0.0  # settling: straight through
