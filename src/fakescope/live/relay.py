"""SRT through the system's ffmpeg: the FFmpeg inside PyAV's wheel has no libsrt, Debian's
has. ``ffmpeg -i srt://... -c copy -f mpegts pipe:1`` runs beside the watch and PyAV reads
its output; nothing is decoded or re-encoded twice.

The pipe has no timeout of its own, so a watchdog kills the relay when no data came for
``timeout_s`` (the watch then reconnects, as after any stall), and stopping the watch
kills it too. The last lines ffmpeg wrote on stderr explain a failure.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections import deque
from functools import lru_cache
from typing import Any

from fakescope.errors import LiveSourceError


@lru_cache(maxsize=1)
def ffmpeg_with(protocol: str) -> str | None:
    """The path of an ffmpeg on PATH that has ``protocol``, or None."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-hide_banner", "-protocols"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    inputs = out.split("Output:")[0].split()
    return exe if protocol in inputs else None


class Relay:
    def __init__(self, url: str, options: dict[str, str], timeout_s: float) -> None:
        exe = ffmpeg_with("srt")
        if exe is None:
            raise LiveSourceError(
                "SRT needs an ffmpeg with libsrt on PATH (Debian: apt-get install ffmpeg): the FFmpeg "
                "inside PyAV's wheel has none")
        args = [exe, "-nostdin", "-hide_banner", "-loglevel", "error"]
        for k, v in options.items():
            args += [f"-{k}", v]
        args += ["-i", url, "-map", "0:v:0", "-c", "copy", "-f", "mpegts", "pipe:1"]
        self.timeout_s = timeout_s
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._stderr: deque[str] = deque(maxlen=4)
        self._last = time.monotonic()
        self._closed = threading.Event()
        threading.Thread(target=self._drain, daemon=True, name="fakescope-relay-stderr").start()
        threading.Thread(target=self._watchdog, daemon=True, name="fakescope-relay-watchdog").start()

    def open(self) -> Any:
        import av

        return av.open(self.proc.stdout, format="mpegts", options={"analyzeduration": "2000000"})

    def touch(self) -> None:
        """Data came: the watchdog waits again."""
        self._last = time.monotonic()

    def error(self) -> str | None:
        return " ".join(self._stderr) or None

    def close(self) -> None:
        self._closed.set()
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = " ".join(raw.decode("utf-8", "replace").split())
            if line:
                self._stderr.append(line)

    def _watchdog(self) -> None:
        while not self._closed.wait(0.2):
            if self.proc.poll() is not None:
                return
            if time.monotonic() - self._last > self.timeout_s:
                self._stderr.append(f"no data for {self.timeout_s:g} s")
                self.proc.kill()
                return
