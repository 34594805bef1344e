"""``fakescope watch SOURCE``: rolling verdicts per person on a live stream, as JSON lines.

The pipeline, PyAV and the models are imported inside the command, so ``fakescope
--help`` stays fast.
"""

from __future__ import annotations

import signal
import sys

import click

from fakescope.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail


def _options(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{v!r} is not KEY=VALUE", param_hint="--av-option")
        out[key.strip()] = value
    return out


@click.command()
@click.argument("source")
@click.option("--window", type=click.FloatRange(0.5, 120), default=2.0, show_default=True,
              help="Seconds of stream each verdict covers (a sliding window per person).")
@click.option("--every", type=click.FloatRange(0.1, 60), default=1.0, show_default=True,
              help="Seconds between verdicts (alerts come as soon as a verdict turns to fake).")
@click.option("--fps", type=click.FloatRange(0.5, 60), default=10.0, show_default=True,
              help="Most frames analysed per second; the others are skipped.")
@click.option("--duration", type=click.FloatRange(min=0.1), help="Stop after this many seconds.")
@click.option("--max-reconnects", type=click.IntRange(min=0), default=10, show_default=True,
              help="Consecutive failed reconnection attempts before giving up.")
@click.option("--timeout", type=click.FloatRange(0.5, 600), default=10.0, show_default=True,
              help="Seconds to wait for a connection or for data before reconnecting.")
@click.option("--webhook", "webhook_url", metavar="URL",
              help="Also POST every event to this http(s) URL (failures never stop the watch).")
@click.option("--listen", is_flag=True,
              help="Wait for a publisher to connect to SOURCE (rtsp, rtmp, tcp, http, srt), e.g. "
                   "`ffmpeg -re -i clip.mp4 -f rtsp rtsp://HOST:PORT/x` pushing to it.")
@click.option("--format", "fmt", metavar="NAME",
              help="FFmpeg input format: v4l2 for /dev/video0 (the default there), lavfi, ...")
@click.option("-o", "--av-option", "av_options", multiple=True, metavar="KEY=VALUE",
              help="FFmpeg option for the input, e.g. rtsp_transport=udp, live_start_index=0.")
def watch(source: str, window: float, every: float, fps: float, duration: float | None,
          max_reconnects: int, timeout: float, webhook_url: str | None, listen: bool,
          fmt: str | None, av_options: tuple[str, ...]) -> None:
    """Watch a live stream (RTSP, RTMP, HLS, SRT, UDP/TCP MPEG-TS, HTTP), a file
    still being written, or a capture device, and print a verdict per person every
    --every seconds over the last --window seconds, an alert when one turns to fake, as
    JSON lines (docs/live.md)."""
    from fakescope.config import ScanSettings
    from fakescope.errors import FakescopeError
    from fakescope.live.source import parse_source
    from fakescope.live.watch import Watch, WatchSettings
    from fakescope.live.webhook import Webhook

    try:
        spec = parse_source(source, fmt=fmt, listen=listen, options=_options(av_options))
        hook = Webhook(webhook_url) if webhook_url else None
    except FakescopeError as exc:
        fail(str(exc), EXIT_USAGE)
    from fakescope.scan.scanner import Scanner

    # Only the face model: the whole-clip evidence (blinking, lip-sync, voice) is not used live.
    scanner = Scanner(ScanSettings(analyzers=["face-forgery"], explain=False))
    settings = WatchSettings(window_s=window, every_s=every, fps=fps, duration_s=duration,
                             max_reconnects=max_reconnects, timeout_s=timeout)

    def emit(event) -> None:  # type: ignore[no-untyped-def]
        try:
            sys.stdout.write(event.to_json() + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `fakescope watch ... | head`: stop quietly
            w.stop()
        if hook is not None:
            hook.send(event)

    try:
        w = Watch(scanner, spec, settings, emit)
    except FakescopeError as exc:
        fail(str(exc))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: w.stop())
    end = w.run()
    if hook is not None:
        hook.close()
    if end.error:
        click.echo(f"fakescope: {end.reason}", err=True)
    sys.exit(EXIT_FAILED if end.error else EXIT_OK)
