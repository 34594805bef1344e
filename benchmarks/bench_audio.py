"""Audio scanning speed: real-time factor of the voice analyzer.

    python benchmarks/bench_audio.py [--minutes 5] [--format mp3] [--out benchmarks/results/audio.json]

A generated 5-minute file of speech-like sound (every window holds "speech", so every
window is scored: the slowest case) is scanned end to end (decode, voice activity,
features, the ONNX model, report), model loading excluded. Prints and writes the
real-time factor: seconds of audio per second of wall time, on this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--format", default="mp3", choices=["mp3", "wav", "flac", "m4a", "ogg"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/audio.json"))
    args = ap.parse_args()

    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.demo_audio import speechlike, write_audio
    from fakescope.scan.scanner import Scanner

    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as d:
        block = speechlike(60.0, seed=1)
        x = np.tile(block, int(np.ceil(seconds / 60)))[: int(seconds * 16000)]
        path = write_audio(Path(d) / f"speech.{args.format}", x)
        scanner = Scanner(ScanSettings(analyzers=["voice"], provenance=ProvenanceSettings(registry=None)))
        scanner.scan(path)  # warm-up: first-call allocations
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            report = scanner.scan(path)
            times.append(time.perf_counter() - t0)
    best = min(times)
    voice = next(a for a in report.analyzers if a.name == "voice")
    result = {
        "audio_s": seconds, "format": args.format, "wall_s": [round(t, 3) for t in times],
        "realtime_factor": round(seconds / best, 1),
        "segments": len(report.segments), "speech_segments": voice.details.get("speech_segments"),
        "voice_ms": voice.time_ms, "verdict": report.verdict,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"{seconds:.0f} s of {args.format} speech scanned in {best:.2f} s (best of {args.repeat}): "
          f"{result['realtime_factor']}x real time on {os.cpu_count()} cores "
          f"({result['speech_segments']} of {result['segments']} windows scored)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
