"""A dev set for the synthesis detector: dev real faces and the same faces re-synthesised
by the simulator's decoders (trained on the training split only).

    python scripts/make_synthetic_dev.py --run runs/synthesis --dev ../shared/data/faces/dfdc-dev \
        --out runs/synth-dev [--limit 400]

Each real dev image appears once as itself (real) and once re-synthesised by one decoder
kind, taken in turn (fake). Written as PNG (lossless, so only the decoder's trace differs)
with a labels.csv that ``fakescope eval`` and ``scripts/fit_fusion.py`` read.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from fakescope.datasets import read_labels
from fakescope.train import autogan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True, help="synthesis training run folder")
    ap.add_argument("--dev", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=400)
    args = ap.parse_args()
    kinds = [k for k in autogan.UPSAMPLERS if (args.run / f"ae-{k}.pt").exists()]
    models = {k: autogan.load(args.run / f"ae-{k}.pt") for k in kinds}
    items = [it for it in read_labels(args.dev) if it.label == 0][: args.limit]
    (args.out / "real").mkdir(parents=True, exist_ok=True)
    (args.out / "fake").mkdir(parents=True, exist_ok=True)
    rows = []
    for n, it in enumerate(items):
        im = np.asarray(Image.open(it.path).convert("RGB"))
        h, w = (im.shape[0] // 8) * 8, (im.shape[1] // 8) * 8
        im = np.ascontiguousarray(im[:h, :w])
        kind = kinds[n % len(kinds)]
        fake = autogan.reconstruct(models[kind], im[None])[0]
        name = Path(it.file).stem
        Image.fromarray(im).save(args.out / "real" / f"{name}.png")
        Image.fromarray(fake).save(args.out / "fake" / f"{name}-{kind}.png")
        rows += [(f"real/{name}.png", "real", it.group, "none"),
                 (f"fake/{name}-{kind}.png", "fake", it.group, kind)]
    with open(args.out / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "group", "decoder"])
        w.writerows(rows)
    print(f"wrote {len(rows)} images to {args.out}")


if __name__ == "__main__":
    main()
