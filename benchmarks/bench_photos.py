"""Photo scanning speed: photos/s and median ms per stage, model loading excluded.

    python benchmarks/bench_photos.py [--n 100] [--size 512] [--out benchmarks/results/photos.json]
    python benchmarks/bench_photos.py --n 30 --size 2048x1536      # a phone-sized photo

Scans N generated photos (512x512 by default) with one face each (the astronaut portrait
shifted, flipped and re-encoded so that no two files are alike; resized for other sizes)
through the same Scanner the CLI uses, sequentially in one process, and prints the
figures the README quotes: median ms per stage and per analyzer. Results are kept per
size in the output file.
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


def make_photos(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    from fakescope.demo import astronaut

    base = astronaut()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = np.roll(base, int(rng.integers(-60, 60)), axis=1)
        if i % 2:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        if size != (512, 512):
            img = np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))
        p = folder / f"p{i:04d}.jpg"
        Image.fromarray(img).save(p, quality=int(rng.integers(80, 96)))
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--size", default="512", help="side, or WIDTHxHEIGHT")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "photos.json")
    args = ap.parse_args()

    from fakescope.scan.scanner import Scanner

    w, _, h = args.size.partition("x")
    size = (int(w), int(h or w))
    label = f"{size[0]}x{size[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp), args.n, size)
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
    per_analyzer = {a.name: round(statistics.median(x.time_ms for r in reports for x in r.analyzers
                                                    if x.name == a.name), 2)
                    for a in reports[0].analyzers}
    result = {
        "benchmark": "photos",
        "n": args.n,
        "size": label,
        "faces_found": faces,
        "photos_per_s": round(args.n / wall, 2),
        "median_ms": {k: med(k) for k in ("decode", "faces", "analyzers", "provenance", "total")},
        "median_ms_per_analyzer": per_analyzer,
        "faces_share_of_total": round(med("faces") / med("total"), 3),
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
    if label != "512x512":  # other sizes sit beside the headline figure
        data.setdefault("other_sizes", {})[label] = result
    else:
        if data.get("photos_per_s_from") == "bench_batch.py":
            result["single_process_photos_per_s"] = result.pop("photos_per_s")
        data.update(result)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    m = result["median_ms"]
    print(f"photos: {args.n} x {label}, {faces} faces found")
    pps = result.get("photos_per_s", result.get("single_process_photos_per_s"))
    print(f"throughput: {pps} photos/s (one process)")
    print(f"median ms: decode {m['decode']}, faces {m['faces']} ({result['faces_share_of_total']:.0%} of "
          f"the total), analyzers {m['analyzers']}, provenance {m['provenance']}, total {m['total']} "
          f"(p90 {result['p90_total_ms']})")
    print("median ms per analyzer: " + ", ".join(f"{k} {v}" for k, v in per_analyzer.items()))
    print(f"model loading (excluded): {result['model_load_s']} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
