"""`fakescope watch` on a live 720p 25 fps stream: verdict interval, alert latency, frames
dropped and memory over time.

    python benchmarks/bench_live.py [--minutes 3] [--out benchmarks/results/live.json]

A generated 60 s 1280x720 clip (``demo.talking_clip``: the astronaut's real face, self-
blended from 20 s to 40 s, keyframes every second) is served in a loop in real time by
ffmpeg (Debian's) over UDP MPEG-TS (``-re -stream_loop -1``), and ``fakescope watch``
(default settings: --window 2 --every 1 --fps 10) runs on it as a separate process, as a
user would run it, for ``--minutes``. Figures:

- verdict interval: wall seconds between consecutive verdict lines (median, max);
- alert latency: for each fake segment that started while the watch ran, seconds from
  that segment reaching the watcher to its alert (``time_s - start + delay_s``, see
  docs/live.md), and the false alerts (outside a fake segment and the window after it);
- frames dropped: the share of received frames left out because the analysis was behind
  (``dropped``), beside those left out by the --fps cap (``skipped``);
- the watcher's resident memory (VmRSS) every ``--sample`` seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

CLIP_S = 60.0
FAKE = (20.0, 40.0)


def make_clip(path: Path) -> Path:
    from fakescope.demo import talking_clip

    return talking_clip(path, seconds=CLIP_S, audio_shift_s=None, size=(1280, 720), fake_span=FAKE,
                        keyframe_every_s=1.0)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between memory samples")
    ap.add_argument("--clip", type=Path, help="reuse this clip (from --keep-clip) instead of making it")
    ap.add_argument("--keep-clip", type=Path, help="save the generated clip here")
    ap.add_argument("--out", type=Path, help="write the figures as JSON")
    ap.add_argument("--watch-args", default="", help="extra `fakescope watch` options, e.g. '--window 2'")
    args = ap.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("bench_live needs ffmpeg (apt-get install ffmpeg)")

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    clip = args.clip
    if clip is None:
        t0 = time.perf_counter()
        clip = make_clip(args.keep_clip or tmp / "live720.mp4")
        print(f"clip: {clip} made in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    port = free_udp_port()
    seconds = args.minutes * 60
    watcher = subprocess.Popen(
        [sys.executable, "-m", "fakescope.cli", "watch", f"udp://127.0.0.1:{port}",
         "--duration", str(seconds + 5), *args.watch_args.split()], stdout=subprocess.PIPE, text=True)
    lines: list[tuple[float, dict]] = []

    def read() -> None:
        for line in watcher.stdout:  # type: ignore[union-attr]
            lines.append((time.monotonic(), json.loads(line)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while not lines and watcher.poll() is None:  # the start line: models loaded
        time.sleep(0.1)
    sender = subprocess.Popen([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                               "-stream_loop", "-1", "-i", str(clip), "-c", "copy", "-f", "mpegts",
                               f"udp://127.0.0.1:{port}"])
    t_start = time.monotonic()
    memory: list[tuple[float, float]] = []
    try:
        while time.monotonic() - t_start < seconds and watcher.poll() is None:
            mb = rss_mb(watcher.pid)
            if mb is not None:
                memory.append((round(time.monotonic() - t_start, 1), round(mb, 1)))
                print(f"{memory[-1][0]:7.0f} s  RSS {mb:7.1f} MB  lines {len(lines)}", file=sys.stderr)
            time.sleep(args.sample)
    finally:
        sender.send_signal(signal.SIGINT)
        try:
            sender.wait(5)
        except subprocess.TimeoutExpired:
            sender.kill()
        watcher.send_signal(signal.SIGINT)
        watcher.wait(30)
        reader.join(5)

    events = [e for _, e in lines]
    verdict_at = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp()
                  for e in events if e["event"] == "verdict"]
    gaps = sorted(b - a for a, b in itertools.pairwise(verdict_at))
    end = next((e for e in events if e["event"] == "end"), {})
    last_t = end.get("time_s") or 0.0
    # Fake segments that started while the watch ran, in stream time (the loop repeats
    # every CLIP_S; stream time counts from the first frame received, the clip's 0 s).
    onsets = [k * CLIP_S + FAKE[0] for k in range(int(last_t // CLIP_S) + 1)
              if k * CLIP_S + FAKE[0] + 5 < last_t]
    alerts = [e for e in events if e["event"] == "alert"]
    latencies, false_alerts = [], 0
    for a in alerts:
        k = int(a["time_s"] // CLIP_S)
        start = k * CLIP_S + FAKE[0]
        if start <= a["time_s"] <= k * CLIP_S + FAKE[1] + 3.0:
            latencies.append(round(a["time_s"] - start + a["delay_s"], 3))
        else:
            false_alerts += 1
    # Verdict scores well inside real and fake stretches (a window away from each change).
    def phase(t: float) -> str | None:
        c = t % CLIP_S
        if FAKE[0] + 3.0 <= c < FAKE[1]:
            return "fake"
        if c < FAKE[0] or c >= FAKE[1] + 3.0:
            return "real"
        return None

    scores: dict[str, list[float]] = {"real": [], "fake": []}
    wrong = {"real": 0, "fake": 0}
    for e in events:
        if e["event"] == "verdict" and e["person"] is not None and (p := phase(e["time_s"])):
            if e["score"] is not None:
                scores[p].append(e["score"])
            wrong[p] += e["verdict"] != p
    received = end.get("received") or 0
    mem = [m for _, m in memory]
    settled = [m for t, m in memory if t >= 60] or mem
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "stream": "1280x720 H.264 25 fps over UDP MPEG-TS (ffmpeg -re, looped 60 s clip)",
        "settings": "fakescope watch defaults (--window 2 --every 1 --fps 10) " + args.watch_args,
        "minutes": round((time.monotonic() - t_start) / 60, 2),
        "verdicts": len(verdict_at),
        "verdict_interval_s": {"median": round(gaps[len(gaps) // 2], 3) if gaps else None,
                               "max": round(gaps[-1], 3) if gaps else None},
        "fake_segments": len(onsets),
        "alerts": len(alerts),
        "alert_latency_s": latencies,
        "missed_segments": max(0, len(onsets) - len(latencies)),
        "false_alerts": false_alerts,
        "verdict_scores": {p: {"n": len(v), "min": min(v), "median": sorted(v)[len(v) // 2], "max": max(v),
                               "wrong_verdicts": wrong[p]} for p, v in scores.items() if v},
        "frames": {k: end.get(k) for k in ("received", "analysed", "dropped", "skipped", "decoder_skipped")},
        "dropped_share": round((end.get("dropped") or 0) / received, 4) if received else None,
        "rss_mb": {"first": mem[0] if mem else None, "min_after_60s": min(settled) if settled else None,
                   "max_after_60s": max(settled) if settled else None, "last": mem[-1] if mem else None},
        "rss_samples": memory,
        "end": end.get("reason"),
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "rss_samples"}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
