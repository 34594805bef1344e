"""Photo scanning speed: photos/s and median ms per stage, model loading excluded.

    python benchmarks/bench_photos.py [--n 100] [--size 512] [--out benchmarks/results/photos.json]

Scans N generated 512x512 photos with one face each (the astronaut portrait shifted,
flipped and re-encoded so that no two files are alike) through the same Scanner the
CLI uses, sequentially in one process, and prints the figures the README quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_photos(folder: Path, n: int, size: int) -> list[Path]:
    from fakescope.demo import astronaut

    base = astronaut()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = np.roll(base, int(rng.integers(-60, 60)), axis=1)
        if i % 2:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        if size != 512:
            img = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))
        p = folder / f"p{i:04d}.jpg"
        Image.fromarray(img).save(p, quality=int(rng.integers(80, 96)))
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "photos.json")
    args = ap.parse_args()

    from fakescope.pipeline import Scanner

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp), args.n, args.size)
        t0 = time.perf_counter()
        scanner = Scanner()
        scanner.scan(paths[0])  # loads the detector and sessions: excluded from the figures
        load_s = time.perf_counter() - t0
        reports = []
        t0 = time.perf_counter()
        for p in paths:
            reports.append(scanner.scan(p))
        wall = time.perf_counter() - t0

    faces = sum(len(r.faces) for r in reports)
    def med(key: str) -> float:
        return round(statistics.median(getattr(r.timing_ms, key) for r in reports), 2)
    totals = sorted(r.timing_ms.total for r in reports)
    result = {
        "benchmark": "photos",
        "n": args.n,
        "size": args.size,
        "faces_found": faces,
        "photos_per_s": round(args.n / wall, 2),
        "median_ms": {k: med(k) for k in ("decode", "faces", "analyzers", "total")},
        "p90_total_ms": round(totals[int(0.9 * (len(totals) - 1))], 2),
        "model_load_s": round(load_s, 2),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "measured": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Merge: bench_batch.py's multi-worker throughput, when present, stays the headline
    # figure that `fakescope cost --self-hosted` reads; this one-process figure sits beside it.
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    if data.get("photos_per_s_from") == "bench_batch.py":
        result["single_process_photos_per_s"] = result.pop("photos_per_s")
    data.update(result)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    m = result["median_ms"]
    print(f"photos: {args.n} x {args.size}x{args.size}, {faces} faces found")
    pps = result.get("photos_per_s", result.get("single_process_photos_per_s"))
    print(f"throughput: {pps} photos/s (one process)")
    print(f"median ms: decode {m['decode']}, faces {m['faces']}, analyzers {m['analyzers']}, "
          f"total {m['total']} (p90 {result['p90_total_ms']})")
    print(f"model loading (excluded): {result['model_load_s']} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
