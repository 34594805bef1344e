"""Video scanning speed and memory.

    python benchmarks/bench_video.py [--skip-hour] [--out benchmarks/results/videos.json]

1. A generated 60 s 1280x720 clip with one face, scanned at default sampling (32 frames
   plus 20 s of dense landmarks and audio): seconds per clip, model loading excluded.
2. Dense mode (``--fps 25``) on 10 s of the same clip: analysed frames per second.
3. A 1-hour 1920x1080 file (a generated minute repeated by stream copy) scanned at
   default sampling in a child process: its peak resident memory.

Writes the figures (and ``video_minutes_per_s`` for ``fakescope cost --self-hosted``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_clip(path: Path, seconds: float, size: tuple[int, int]) -> Path:
    from fakescope.demo import talking_clip

    return talking_clip(path, seconds=seconds, size=size, blinks=(2.0, 7.0, 13.0, 19.0, 31.0, 44.0))


def repeat_clip(src: Path, dst: Path, times: int) -> Path:
    """Concatenate ``times`` copies by stream copy (no re-encoding): a long file, fast."""
    import av

    inp = av.open(str(src))
    out = av.open(str(dst), "w")
    streams = {}
    for s in inp.streams:
        if s.type in ("video", "audio"):
            streams[s.index] = out.add_stream_from_template(s)
    dur = {}
    for k in range(times):
        inp.seek(0)
        for packet in inp.demux():
            if packet.stream.index not in streams or packet.pts is None:
                continue
            tb = packet.stream.time_base
            span = dur.setdefault(packet.stream.index, int(inp.duration / 1e6 / tb))
            packet.pts += k * span
            packet.dts = (packet.dts or 0) + k * span
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    out.close()
    inp.close()
    return dst


def peak_rss_of_scan(path: Path) -> float:
    code = ("import resource, sys; from fakescope.scan.scanner import Scanner; "
            f"r = Scanner().scan({str(path)!r}); "
            "print(r.verdict, r.video.frames_analysed if r.video else 0, file=sys.stderr); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "videos.json")
    ap.add_argument("--skip-hour", action="store_true", help="skip the 1-hour memory test")
    args = ap.parse_args()

    from fakescope.config import ScanSettings, VideoSettings
    from fakescope.scan.scanner import Scanner

    result: dict = {"benchmark": "videos", "measured": time.strftime("%Y-%m-%d"),
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "processor": platform.processor() or platform.machine()}}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip720.mp4", 60.0, (1280, 720))
        scanner = Scanner()
        scanner.scan(make_clip(Path(tmp) / "warm.mp4", 2.0, (640, 480)))  # loads models
        runs = []
        for _ in range(2):
            t0 = time.perf_counter()
            r = scanner.scan(clip)
            runs.append(time.perf_counter() - t0)
        best = min(runs)
        result["clip_720p_60s"] = {
            "seconds": round(best, 2), "runs": [round(x, 2) for x in runs],
            "frames_analysed": r.video.frames_analysed if r.video else 0,
            "landmark_frames": r.video.landmark_frames if r.video else 0,
            "timing_ms": r.timing_ms.model_dump(),
        }
        result["video_minutes_per_s"] = round(1.0 / best, 4)

        dense = Scanner(ScanSettings(video=VideoSettings(fps=25)))
        short = make_clip(Path(tmp) / "clip720_10s.mp4", 10.0, (1280, 720))
        t0 = time.perf_counter()
        r = dense.scan(short)
        secs = time.perf_counter() - t0
        n = r.video.frames_analysed if r.video else 0
        result["dense_720p"] = {"frames": n, "seconds": round(secs, 2),
                                "frames_per_s": round(n / secs, 1)}

        if not args.skip_hour:
            minute = make_clip(Path(tmp) / "clip1080.mp4", 60.0, (1920, 1080))
            hour = repeat_clip(minute, Path(tmp) / "hour1080.mp4", 60)
            t0 = time.perf_counter()
            rss = peak_rss_of_scan(hour)
            result["hour_1080p"] = {"bytes": hour.stat().st_size, "peak_rss_mb": round(rss, 1),
                                    "seconds": round(time.perf_counter() - t0, 1)}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Merge: bench_batch.py's multi-worker throughput, when present, stays the headline
    # figure that `fakescope cost --self-hosted` reads; this one-process figure sits beside it.
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    if data.get("video_minutes_per_s_from") == "bench_batch.py":
        result["single_process_video_minutes_per_s"] = result.pop("video_minutes_per_s")
    data.update(result)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    c = result["clip_720p_60s"]
    print(f"60 s 720p clip, one face, default sampling: {c['seconds']} s "
          f"({c['frames_analysed']} frames + {c['landmark_frames']} landmark frames)")
    d = result["dense_720p"]
    print(f"dense mode (--fps 25), 720p: {d['frames_per_s']} analysed frames/s")
    if "hour_1080p" in result:
        h = result["hour_1080p"]
        print(f"1-hour 1080p file: peak memory {h['peak_rss_mb']} MB, scanned in {h['seconds']} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
