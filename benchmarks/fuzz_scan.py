"""Fuzz the scanner: mutated photos, clips and audio must end as a verdict or a typed
error, never as a crash, a hang or an ``internal_error``.

    python benchmarks/fuzz_scan.py --n 200                  # what CI runs (fixed seed)
    python benchmarks/fuzz_scan.py --n 10000 --seed 1 --out runs/fuzz   # the long run

Seeds are generated here: the demo photos (JPEG, PNG), WebP and TIFF, a talking-head clip
with sound in MP4, Matroska and QuickTime, speech-like audio in WAV, FLAC, MP3, M4A and
Ogg/Opus. Each mutant applies one to three of: bit flips, truncation, a duplicated chunk,
another format's magic bytes, a huge length field, a zeroed run. Scans run in a child
process, one file at a time, so a crash (the child dies) or a hang (no answer within
``--timeout``) is caught and the child replaced. Every mutant that ends badly is kept
under ``--out`` with its outcome.

Prints the outcome counts per seed type; exits 1 when any mutant crashed, hung or gave
``internal_error``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

BAD = ("crash", "hang", "internal_error")
MAGIC = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF", b"fLaC", b"ID3", b"OggS",
         b"\x1aE\xdf\xa3", b"\x00\x00\x00\x18ftypmp42", b"%PDF-"]


def make_seeds(folder: Path) -> list[Path]:
    import numpy as np
    from PIL import Image

    from fakescope.demo import astronaut, make_demo, talking_clip
    from fakescope.demo_audio import speechlike, write_audio

    seeds = [p for p, _ in make_demo(folder / "demo") if p.suffix in (".jpg", ".png")
             and p.name != "truncated.jpg"]
    small = np.ascontiguousarray(astronaut()[::4, ::4])
    Image.fromarray(small).save(folder / "small.webp")
    Image.fromarray(small).save(folder / "small.tiff")
    seeds += [folder / "small.webp", folder / "small.tiff"]
    for suffix in (".mp4", ".mkv", ".mov"):
        seeds.append(talking_clip(folder / f"clip{suffix}", seconds=2, size=(320, 240)))
    x = speechlike(3.0)
    for suffix in (".wav", ".flac", ".mp3", ".m4a", ".ogg"):
        seeds.append(write_audio(folder / f"speech{suffix}", x))
    return seeds


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    b = bytearray(data)
    done = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["flip", "truncate", "duplicate", "magic", "length", "zero"])
        n = len(b)
        if n < 16:
            break
        if kind == "flip":
            for _ in range(rng.randint(1, 32)):
                b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            del b[rng.randint(8, n - 1):]
        elif kind == "duplicate":
            i = rng.randrange(n)
            chunk = b[i:i + rng.randint(1, 4096)]
            j = rng.randrange(n)
            b[j:j] = chunk * rng.randint(1, 4)
        elif kind == "magic":
            m = rng.choice(MAGIC)
            b[:len(m)] = m
        elif kind == "length":
            i = rng.randrange(max(1, n - 4))
            b[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00",
                                     b"\x80\x00\x00\x00"])
        else:
            i = rng.randrange(n)
            b[i:i + rng.randint(1, 512)] = bytes(min(n - i, 512))
        done.append(kind)
    return bytes(b), done


def _worker(jobs: mp.Queue, results: mp.Queue) -> None:  # type: ignore[type-arg]
    import logging

    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.scan.scanner import Scanner

    logging.disable(logging.CRITICAL)  # internal errors are counted from the reports
    scanner = Scanner(ScanSettings(provenance=ProvenanceSettings(registry=None), explain=False))
    results.put(("ready", None))
    while True:
        path = jobs.get()
        if path is None:
            return
        r = scanner.scan(path)
        code = r.error.code if r.error is not None else r.verdict
        results.put((path, code if r.error is None or r.error.code != "internal_error"
                     else f"internal_error: {r.error.message}"))


class Child:
    def __init__(self, ctx: mp.context.BaseContext) -> None:
        self.ctx = ctx
        self.jobs: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        self.results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        self.proc = ctx.Process(target=_worker, args=(self.jobs, self.results), daemon=True)
        self.proc.start()
        self.results.get(timeout=300)  # models loaded

    def scan(self, path: str, timeout: float) -> str:
        self.jobs.put(path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, outcome = self.results.get(timeout=0.2)
                return str(outcome)
            except Exception:  # queue.Empty: still working, or dead
                if not self.proc.is_alive():
                    return f"crash (exit {self.proc.exitcode})"
        return "hang"

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="mutants to scan")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a scan counts as hung")
    ap.add_argument("--out", type=Path, help="keep every mutant that crashed, hung or errored here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    bad: list[dict[str, object]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fakescope-fuzz-") as tmp:
        folder = Path(tmp)
        seeds = make_seeds(folder / "seeds")
        datas = {s: s.read_bytes() for s in seeds}
        child = Child(mp.get_context("spawn"))
        try:
            for i in range(args.n):
                seed = seeds[i % len(seeds)]
                data, kinds = mutate(datas[seed], rng)
                path = folder / f"mutant{i:05d}{seed.suffix}"
                path.write_bytes(data)
                outcome = child.scan(str(path), args.timeout)
                kind = outcome.split(" ")[0].split(":")[0]
                counts[seed.suffix][kind] += 1
                if kind in BAD:
                    bad.append({"mutant": path.name, "seed": seed.name, "mutations": kinds,
                                "outcome": outcome})
                    if args.out:
                        args.out.mkdir(parents=True, exist_ok=True)
                        (args.out / path.name).write_bytes(data)
                    if kind != "internal_error":
                        child.stop()
                        child = Child(mp.get_context("spawn"))
                path.unlink()
                if (i + 1) % 50 == 0:
                    print(f"{i + 1}/{args.n} mutants, {len(bad)} bad, {time.perf_counter() - t0:.0f} s",
                          file=sys.stderr, flush=True)
        finally:
            child.stop()
    total: Counter[str] = Counter()
    for suffix in sorted(counts):
        total.update(counts[suffix])
        print(f"{suffix:6s} " + ", ".join(f"{k} {v}" for k, v in counts[suffix].most_common()))
    print(f"{args.n} mutants in {time.perf_counter() - t0:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in total.most_common()))
    for b in bad:
        print("BAD", json.dumps(b))
    if args.out and bad:
        (args.out / "bad.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
