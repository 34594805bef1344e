"""Registry near-duplicate lookup on the dev faces: false-match rate and recall.

    python benchmarks/bench_registry_false_match.py [--data ../shared/data/faces/dfdc-dev]
                                                    [--out benchmarks/results/registry.json]

Source videos (the `group` column) are split in two halves by a hash of their name. The
real faces of one half are registered in a fresh registry (the real Registry class, in a
temporary folder). Then:

- false matches: every real face of the *other* half is looked up; any match is false
  (different source video). Reported per query (share of lookups with >= 1 match);
- recall: every registered face is looked up again after JPEG 70, after a 0.5x resize,
  after a 5 % crop, and after all three together;
- face-swapped copies: the dataset's fakes of registered videos are looked up too (a
  near match there is a true derivative, not a false match; reported for information).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "dfdc-dev"


def encode(im: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def crop5(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Remove 5 % of the width and of the height, split at random between the sides."""
    cw, ch = round(im.width * 0.05), round(im.height * 0.05)
    x0, y0 = int(rng.integers(0, cw + 1)), int(rng.integers(0, ch + 1))
    return im.crop((x0, y0, im.width - (cw - x0), im.height - (ch - y0)))


def half(im: Image.Image) -> Image.Image:
    return im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.BILINEAR)


def main() -> None:
    from fakescope.config import MediaLimits
    from fakescope.media import decode, load_bytes
    from fakescope.provenance.check import fingerprint_loaded
    from fakescope.provenance.registry import Registry

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not (args.data / "labels.csv").is_file():
        raise SystemExit(f"{args.data}/labels.csv not found (public data lives outside the repo)")
    rows = list(csv.DictReader((args.data / "labels.csv").open()))
    registered_half = {r["group"] for r in rows if hashlib.sha256(r["group"].encode()).digest()[0] % 2 == 0}
    limits = MediaLimits()

    def loaded(data: bytes, name: str):  # type: ignore[no-untyped-def]
        item = load_bytes(data, Path(name), limits)
        return item, fingerprint_loaded(item, decode(item, limits), limits)

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry.create(Path(tmp) / "bench.db")
        to_register = [r for r in rows if r["label"] == "real" and r["group"] in registered_half]
        t0 = time.perf_counter()
        for r in to_register:
            data = (args.data / r["file"]).read_bytes()
            item = load_bytes(data, Path(r["file"]), limits)
            reg.register(item.sha256, fingerprint_loaded(item, decode(item, limits), limits, variants=True),
                         label=r["group"])
        register_s = time.perf_counter() - t0

        def rate(queries: list[tuple[bytes, str]]) -> tuple[float, float]:
            hits, t = 0, time.perf_counter()
            for data, name in queries:
                item, fp = loaded(data, name)
                hits += reg.lookup(item.sha256, fp).matched != "none"
            return hits / max(1, len(queries)), (time.perf_counter() - t) * 1000 / max(1, len(queries))

        others = [((args.data / r["file"]).read_bytes(), r["file"]) for r in rows
                  if r["label"] == "real" and r["group"] not in registered_half]
        false_rate, lookup_ms = rate(others)
        rng = np.random.default_rng(0)
        transforms: dict[str, Callable[[Image.Image], bytes]] = {
            "jpeg70": lambda im: encode(im, 70),
            "resize0.5": lambda im: encode(half(im)),
            "crop5%": lambda im: encode(crop5(im, rng)),
            "jpeg70+resize0.5+crop5%": lambda im: encode(crop5(half(Image.open(io.BytesIO(encode(im, 70)))),
                                                               rng), 70),
        }
        recall = {}
        for name, fn in transforms.items():
            queries = [(fn(Image.open(args.data / r["file"]).convert("RGB")), r["file"]) for r in to_register]
            recall[name] = round(rate(queries)[0], 4)
        swapped = [((args.data / r["file"]).read_bytes(), r["file"]) for r in rows
                   if r["label"] == "fake" and r["group"] in registered_half]
        swapped_rate, _ = rate(swapped)
        reg.close()

    summary = {
        "data": str(args.data), "registered": len(to_register), "false_match_queries": len(others),
        "false_match_rate": round(false_rate, 4), "recall": recall,
        "face_swapped_copies_matched": round(swapped_rate, 4), "face_swapped_queries": len(swapped),
        "register_ms_per_file": round(register_s * 1000 / max(1, len(to_register)), 1),
        "lookup_ms_per_file": round(lookup_ms, 1),
    }
    print(f"registered {len(to_register)} real dev faces from half of the source videos")
    print(f"false-match rate: {false_rate:.2%} of {len(others)} lookups of faces from other videos")
    for name, value in recall.items():
        print(f"recall after {name:<24} {value:.2%}")
    print(f"face-swapped copies of registered videos matched: {swapped_rate:.2%} of {len(swapped)}")
    print(f"register {summary['register_ms_per_file']} ms, lookup {summary['lookup_ms_per_file']} ms "
          "per file")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
