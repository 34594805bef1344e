"""Ablation of the face-forgery training recipe on dfdc-dev (issue 3, item 1).

    python scripts/ablate_face_forgery.py --out runs/ablation [--input-size 128 --epochs 3]

Trains one model per recipe at a reduced budget (smaller input, fewer epochs: a CPU
budget, stated in the table) and reports dev AUC on clean aligned crops, under JPEG 70 and
after a 0.5x resize (applied to the aligned crop, then scaled back up), with the mirrored
test-time augmentation the runtime uses. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from fakescope.evaluation.metrics import auc
from fakescope.synth.degrade import jpeg, rescale
from fakescope.train.face_forgery import TrainConfig, predict_logits, resize_crops, train
from fakescope.train.nets import ForgeryNet
from fakescope.train.prepare import prepare

RECIPES = {
    "dfdc fakes only": {"use_sbi": False},
    "self-blended only": {"use_dataset_fakes": False},
    "dfdc + self-blended": {},
    "dfdc + self-blended, unpaired": {"pair_batches": False},
    "dfdc + self-blended, no degradations": {"augment": False},
    "dfdc + self-blended, restyled reals": {"appearance_p": 0.5},
    "dfdc + 15% self-blended, restyled reals": {"appearance_p": 0.5, "sbi_share": 0.15},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/faces/dfdc-train"))
    ap.add_argument("--dev", type=Path, default=Path("../shared/data/faces/dfdc-dev"))
    ap.add_argument("--out", type=Path, default=Path("runs/ablation"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fakescope")
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="recipe names to run (default: all)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    dev = prepare(args.dev, 224, 1.1, args.cache)
    dev = resize_crops(dev.subset(np.where(dev.found)[0]), args.input_size)
    views = {
        "clean": dev.crops,
        "jpeg70": np.stack([jpeg(c, 70) for c in dev.crops]),
        "resize0.5": np.stack([rescale(c, 0.5) for c in dev.crops]),
    }
    rows = []
    for name, overrides in RECIPES.items():
        if args.only and name not in args.only:
            continue
        out = args.out / name.replace(" ", "_").replace(",", "").replace("+", "and")
        result_file = out / "ablation.json"
        if result_file.exists():
            rows.append(json.loads(result_file.read_text()))
            continue
        cfg = TrainConfig(data_dir=args.data, out_dir=out, cache_dir=args.cache,
                          input_size=args.input_size, epochs=args.epochs, **overrides)
        train(cfg)
        model = ForgeryNet()
        model.load_state_dict(torch.load(out / "best.pt", weights_only=True))
        model = model.to(memory_format=torch.channels_last)
        row = {"recipe": name, "input": args.input_size, "epochs": args.epochs}
        for view, crops in views.items():
            row[view] = auc(dev.labels, predict_logits(model, crops, tta="hflip"))
        result_file.write_text(json.dumps(row))
        rows.append(row)
    print(f"| recipe (input {args.input_size}px, {args.epochs} epochs) | dev AUC clean | "
          "JPEG 70 | 0.5x resize |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['recipe']} | {r['clean']:.3f} | {r['jpeg70']:.3f} | {r['resize0.5']:.3f} |")


if __name__ == "__main__":
    main()
