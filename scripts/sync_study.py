"""Sensitivity of the Whisper + CCA sync model to its settings (one at a time, around the
defaults of fakescope.train.sync), every clip held out as in ``sync.evaluate``.

    python scripts/sync_study.py --real ../shared/data/video/dev \
        --real ../shared/data/video/gen2 --dubs runs/dubs --out runs/sync2

Reads the caches ``python -m fakescope.train.sync`` wrote under --out (it captures nothing)."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

from fakescope.train import sync

VARIANTS: list[tuple[str, dict[str, object]]] = [
    ("default", {}),
    ("components 1", {"COMPONENTS": 1}),
    ("components 2", {"COMPONENTS": 2}),
    ("components 8", {"COMPONENTS": 8}),
    ("reg 0.01", {"CCA_REG": 0.01}),
    ("reg 1", {"CCA_REG": 1.0}),
    ("audio pca 16", {"AUDIO_PCA": 16}),
    ("audio pca 64", {"AUDIO_PCA": 64}),
    ("mouth pca 4", {"MOUTH_PCA": 4}),
    ("mouth pca 16", {"MOUTH_PCA": 16}),
    ("lip window 3", {"LIP_WINDOW": 3}),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=Path, action="append", required=True)
    ap.add_argument("--dubs", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/sync2"))
    ap.add_argument("--layer", default="3")
    ap.add_argument("--protocol", default="loco")
    args = ap.parse_args()
    clips = [c for c in sync.capture(args.real, only_real=False, cache=args.out / "clips.pkl")
             if Path(c["folder"]) in args.real]
    dubs = sync.load_dubs(args.dubs, clips, args.out / "dubs.pkl") if args.dubs else []
    feats = pickle.loads((args.out / "sound.pkl").read_bytes())
    defaults = {k: getattr(sync, k) for _, v in VARIANTS for k in v}
    out = {}
    for name, change in VARIANTS:
        for k, v in {**defaults, **change}.items():
            setattr(sync, k, v)
        s = sync.summary(sync.evaluate(clips, feats, f"cca:{args.layer}", args.protocol, dubs))
        keep = ["within1", "within1@-5", "within1@-3", "within1@+3", "within1@+5",
                "auc_dev", "auc_gen2", "auc_dub:all", "auc_dub_orig:all"]
        out[name] = {k: s.get(k) for k in keep}
        print(f"{name:14s} " + "  ".join(f"{k} {s.get(k, float('nan')):.2f}" for k in keep), flush=True)
    (args.out / f"study-cca{args.layer}-{args.protocol}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
