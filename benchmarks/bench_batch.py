"""Batch throughput: photos/s and video-minutes/s with 1 and 2 workers, local pool vs Ray.

    python benchmarks/bench_batch.py [--photos 100] [--clips 8] [--clip-seconds 30]
                                     [--repeats 2] [--skip-ray] [--skip-video]

Runs `fakescope batch` (``run_batch``, the command's own code, writing JSON Lines) over
N generated 512x512 one-face photos (the bench_photos.py sample) and over 8 generated
30 s 640x480 talking-head clips with sound (cached in the temp folder between runs), with
each executor and worker count, every configuration ``--repeats`` times, interleaved
(the median is reported). For each run it records:

- ``steady``: files after every worker has returned its first one, over the time since
  then: the rate of a long batch, where starting workers and loading models is amortised;
- ``end_to_end``: all files over the whole run, worker start-up and model loading included.

Writes benchmarks/results/batch.json, and merges into photos.json and videos.json (read
by ``fakescope cost --self-hosted``, which takes their rate as the *whole benchmark
machine's*): the headline ``photos_per_s`` / ``video_minutes_per_s`` become the best
steady figure with as many workers as cores; the one-process figure that bench_photos.py
or bench_video.py wrote is kept as ``one_process_photos_per_s`` /
``one_process_video_minutes_per_s``; every other key is left as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def make_clips(n: int, seconds: float) -> Path:
    """n distinct clips (different seeds), generated once and kept in the temp folder."""
    from fakescope.demo import talking_clip

    folder = Path(tempfile.gettempdir()) / f"fakescope-bench-clips-{n}x{seconds:g}s-640x480"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = folder / f"clip{i:02d}.mp4"
        if not path.exists():
            tmp = folder / f".clip{i:02d}.mp4"
            talking_clip(tmp, seconds=seconds, seed=i, blinks=(2.0, 7.0, 13.0, 19.0, 26.0))
            tmp.replace(path)
    return folder


def one_run(source: Path, executor: str, workers: int, minutes_per_file: float | None) -> dict[str, Any]:
    from fakescope.batch.run import BatchConfig, run_batch

    arrivals: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = BatchConfig(source=str(source), out=Path(tmp) / "rows.jsonl", executor=executor,  # type: ignore[arg-type]
                             workers=workers, progress=False)
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        summary = run_batch(config, on_outcome=lambda _: arrivals.append(time.perf_counter()))
        wall = time.perf_counter() - t0
    n = len(arrivals)
    # Once every worker has returned a file, all of them are loaded and busy.
    warm = arrivals[workers - 1]
    steady_files = n - workers
    steady_s = arrivals[-1] - warm
    out: dict[str, Any] = {
        "executor": executor, "workers": workers, "files": n, "errors": sum(summary.errors.values()),
        "wall_s": round(wall, 2), "first_result_s": round(arrivals[0] - t0, 2),
        "steady_files": steady_files, "steady_s": round(steady_s, 2),
        "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
    }
    unit = "photos" if minutes_per_file is None else "video_minutes"
    per = 1.0 if minutes_per_file is None else minutes_per_file
    out[f"steady_{unit}_per_s"] = round(steady_files * per / steady_s, 4) if steady_s > 0 else None
    out[f"end_to_end_{unit}_per_s"] = round(n * per / wall, 4)
    return out


def run_all(source: Path, executors: list[str], repeats: int,
            minutes_per_file: float | None) -> list[dict[str, Any]]:
    """Every configuration ``repeats`` times, interleaved, so that a change in the machine's
    background load (this machine trains models meanwhile) hits every configuration alike."""
    runs = []
    for rep in range(repeats):
        for executor in executors:
            for workers in (1, 2):
                # Ray: a private instance per run, started by the command as a user's would
                # be (in end_to_end, not in steady).
                r = {"repeat": rep, **one_run(source, executor, workers, minutes_per_file)}
                print(json.dumps(r), flush=True)
                runs.append(r)
    return runs


def summarise(runs: list[dict[str, Any]], unit: str) -> list[dict[str, Any]]:
    """Per configuration: the median over repeats of the steady and end-to-end rates."""
    out = []
    for executor in dict.fromkeys(r["executor"] for r in runs):
        for workers in (1, 2):
            mine = [r for r in runs if r["executor"] == executor and r["workers"] == workers]
            steady = [r[f"steady_{unit}_per_s"] for r in mine if r[f"steady_{unit}_per_s"]]
            e2e = [r[f"end_to_end_{unit}_per_s"] for r in mine]
            out.append({"executor": executor, "workers": workers, "runs": len(mine),
                        f"steady_{unit}_per_s": round(statistics.median(steady), 4) if steady else None,
                        f"end_to_end_{unit}_per_s": round(statistics.median(e2e), 4),
                        "load_avg_1min": [r["load_avg_1min_before"] for r in mine]})
    return out


def _merge(path: Path, updates: dict[str, Any], headline: str, headline_value: float | None,
           keep_as: str) -> None:
    data: dict[str, Any] = {}
    if path.exists():
        data = json.loads(path.read_text())
    if headline_value is not None:
        if headline in data and data.get(f"{headline}_from") != "bench_batch.py" and keep_as not in data:
            data[keep_as] = data[headline]
        data[headline] = headline_value
        data[f"{headline}_from"] = "bench_batch.py"
    data.update(updates)
    path.write_text(json.dumps(data, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--clip-seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-video", action="store_true")
    ap.add_argument("--note", default="", help="how busy the machine was, for the results file")
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the result files")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_photos import make_photos

    executors = ["local"] if args.skip_ray else ["local", "ray"]
    cpus = os.cpu_count() or 1
    machine = {"cpus": cpus, "processor": platform.processor() or platform.machine(),
               "python": platform.python_version()}
    result: dict[str, Any] = {
        "benchmark": "batch", "command": shlex.join(["python", "benchmarks/bench_batch.py", *sys.argv[1:]]),
        "measured": time.strftime("%Y-%m-%d"), "machine": machine, "note": args.note,
    }
    with tempfile.TemporaryDirectory() as tmp:
        make_photos(Path(tmp), args.photos, args.size)
        runs = run_all(Path(tmp), executors, args.repeats, None)
        result["photos"] = {"n": args.photos, "size": args.size, "summary": summarise(runs, "photos"),
                            "runs": runs}
    if not args.skip_video:
        folder = make_clips(args.clips, args.clip_seconds)
        runs = run_all(folder, executors, args.repeats, args.clip_seconds / 60.0)
        result["videos"] = {"clips": args.clips, "seconds": args.clip_seconds, "size": "640x480",
                            "summary": summarise(runs, "video_minutes"), "runs": runs}

    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    (results / "batch.json").write_text(json.dumps(result, indent=2) + "\n")

    def best(kind: str, unit: str) -> float | None:
        rates = [r[f"steady_{unit}_per_s"] for r in result.get(kind, {}).get("summary", [])
                 if r["workers"] == cpus and r[f"steady_{unit}_per_s"]]
        return max(rates) if rates else None

    common = {"machine": machine, "measured": result["measured"], "batch_note": args.note}
    photo_keys = {f"batch_{r['executor']}_{r['workers']}_workers_photos_per_s": r["steady_photos_per_s"]
                  for r in result["photos"]["summary"]}
    _merge(results / "photos.json", {**common, **photo_keys, "n": args.photos, "size": args.size},
           "photos_per_s", best("photos", "photos"), "one_process_photos_per_s")
    if "videos" in result:
        video_keys = {f"batch_{r['executor']}_{r['workers']}_workers_video_minutes_per_s":
                      r["steady_video_minutes_per_s"] for r in result["videos"]["summary"]}
        video_keys["batch_video_sample"] = f"{args.clips} clips of {args.clip_seconds:g} s, 640x480, one face"
        _merge(results / "videos.json", {**common, **video_keys}, "video_minutes_per_s",
               best("videos", "video_minutes"), "one_process_video_minutes_per_s")

    print()
    for kind, unit in (("photos", "photos"), ("videos", "video_minutes")):
        for r in result.get(kind, {}).get("summary", []):
            print(f"{kind:7} {r['executor']:5} {r['workers']} worker(s): {r[f'steady_{unit}_per_s']} "
                  f"{unit.replace('_', '-')}/s steady, {r[f'end_to_end_{unit}_per_s']} end to end "
                  f"(median of {r['runs']}; load {r['load_avg_1min']})")
    print(f"wrote {results / 'batch.json'}, merged into photos.json and videos.json there")


if __name__ == "__main__":
    main()
