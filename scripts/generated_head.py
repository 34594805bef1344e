"""Leave-one-generator-out test of a linear head fitted on real generated pictures.

    python scripts/generated_head.py --run runs/generated --data ../shared/data \
        [--out runs/generated-head.json] [--export runs/generated-head]

The backbone of a ``fakescope train generated`` run learnt decoder traces from aligned
pairs only. This asks whether the public generated pictures can teach it more without
teaching it their content: a logistic head on the backbone's pooled features (mean over
the runtime's crops), fitted on the training half of ``photos/``, DFDC reals and drawn
screenshots against the generated pictures of every generator but one, is measured on
the held-out generator against the dev half of ``photos/``. Groups: each generator
(leave-one-generator-out) and each publishing source (GPT-4o, Nano Banana, ai-bingo,
ComfyUI, Sentry: leave-one-source-out, stricter, as generators of one family look alike).
Both classes are also seen after JPEG 75 and a 0.5x resize. Prints the table; ``--export``
writes an ONNX + card whose head is the head fitted on every generator, blended with
the pair-trained one.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from fakescope.analyzers.generated import cut_crops
from fakescope.evaluation import imagesets
from fakescope.evaluation.metrics import auc
from fakescope.progress import progress_iter
from fakescope.synth.degrade import channel
from fakescope.train.generated import CROP, to_tensor
from fakescope.train.logistic import balanced_weights
from fakescope.train.logistic import fit_logistic as logistic
from fakescope.train.nets import ForgeryNet

CHANNELS = ("none", "jpeg75", "resize0.5")


def degrade(rgb: np.ndarray, spec: str) -> np.ndarray:
    fn = channel(spec)
    return rgb if fn is None else fn(rgb)


def source_of(row: dict[str, str]) -> str:
    src = row["source"].split("@")[0]
    return {"jamez-bondos/awesome-gpt4o-images": "gpt-4o",
            "PicoTrex/Awesome-Nano-Banana-images": "nano-banana", "lipsumar/ai-bingo": "ai-bingo",
            "comfyanonymous/ComfyUI_examples": "comfyui", "Inf-imagine/Sentry": "sentry"}.get(src, src)


@torch.no_grad()
def features(model: ForgeryNet, rgb: np.ndarray) -> np.ndarray:
    crops, _ = cut_crops(rgb, CROP)
    f = model.backbone(to_tensor(list(crops)))
    return f.mean(dim=(2, 3)).mean(0).numpy()


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Balanced, L2-regularised logistic regression (LBFGS); returns (w, b) in x's units."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    w, b = logistic((x - mu) / sd, y, balanced_weights(y), l2)
    wn = w / sd
    return wn, float(b - (wn * mu).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="training run (model.pt); without it: ImageNet features")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--l2", type=float, default=1e-2)
    ap.add_argument("--n-dfdc", type=int, default=300)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)  # beside a training run

    model = ForgeryNet(dropout=0.0)
    if args.run is not None:
        model.load_state_dict(torch.load(args.run / "model.pt", map_location="cpu", weights_only=True))
    else:
        model.load_imagenet()  # the baseline: generic features, no trace learnt
    model.eval()

    with open(args.data / "generated/labels.csv", encoding="utf-8") as fh:
        meta = {r["file"]: r for r in csv.DictReader(fh)}
    sets = {
        "generated": list(imagesets.generated(args.data / "generated")),
        "photos-train": list(imagesets.photos(args.data / "photos", "train")),
        "photos-dev": list(imagesets.photos(args.data / "photos", "dev")),
        "dfdc-train-real": list(imagesets.labelled_folder(args.data / "faces/dfdc-train", 0, args.n_dfdc)),
        "screens-train": list(imagesets.screens(60, "train")),
        # Real sources never fitted on: do modern pictures of people look "generated" to the head?
        "video-dev-real": list(imagesets.video_frames(args.data / "video/dev", 2, label=0)),
        "video-gen2-real": list(imagesets.video_frames(args.data / "video/gen2", 2, label=0)),
        "screens-dev": list(imagesets.screens(60, "dev")),
    }
    feats: dict[str, dict[str, np.ndarray]] = {}
    for name, items in sets.items():
        for d in CHANNELS:
            feats.setdefault(name, {})[d] = np.stack(
                [features(model, degrade(it.rgb, d)) for it in progress_iter(items, f"{name} {d}")])
    gen = sets["generated"]
    generator = np.array([it.group for it in gen])
    source = np.array([source_of(meta[it.name]) for it in gen])
    real_train = np.concatenate([feats[n][d] for n in ("photos-train", "dfdc-train-real", "screens-train")
                                 for d in CHANNELS])
    pair_w = model.head.weight.detach().numpy().reshape(-1)
    pair_b = float(model.head.bias.detach().numpy()[0])

    def held_out(groups: np.ndarray) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for g in np.unique(groups):
            keep = groups != g
            x = np.concatenate([real_train, *(feats["generated"][d][keep] for d in CHANNELS)])
            y = np.r_[np.zeros(len(real_train)), np.ones(3 * keep.sum())]
            w, b = fit_logistic(x, y, args.l2)
            out[g] = {}
            for d in CHANNELS:
                r = feats["photos-dev"][d] @ w + b
                f = feats["generated"][d][~keep] @ w + b
                out[g][d] = auc(np.r_[np.zeros(len(r)), np.ones(len(f))], np.r_[r, f])
                rp = feats["photos-dev"][d] @ pair_w + pair_b
                fp = feats["generated"][d][~keep] @ pair_w + pair_b
                out[g][f"pairs-{d}"] = auc(np.r_[np.zeros(len(rp)), np.ones(len(fp))], np.r_[rp, fp])
            out[g]["n"] = float((~keep).sum())
        return out

    results: dict = {"leave-one-generator-out": held_out(generator),  # type: ignore[type-arg]
                     "leave-one-source-out": held_out(source)}
    # The head fitted on every generator, at the threshold that calls 5 % of the dev real
    # photos fake: the share of each unseen real source it calls fake.
    x = np.concatenate([real_train, *(feats["generated"][d] for d in CHANNELS)])
    y = np.r_[np.zeros(len(real_train)), np.ones(3 * len(gen))]
    w, b = fit_logistic(x, y, args.l2)
    t = float(np.quantile(feats["photos-dev"]["none"] @ w + b, 0.95))
    tp = float(np.quantile(feats["photos-dev"]["none"] @ pair_w + pair_b, 0.95))
    fpr = {n: {"head": float(((feats[n]["none"] @ w + b) >= t).mean()),
               "pairs": float(((feats[n]["none"] @ pair_w + pair_b) >= tp).mean())}
           for n in ("video-dev-real", "video-gen2-real", "screens-dev", "photos-dev")}
    results["false_alarms_at_5pct_photos"] = fpr
    print("\nShare of unseen real sources called generated at the threshold giving 5 % on dev photos "
          "(head on every generator | pair-trained head)")
    for n, v in fpr.items():
        print(f"  {n}: {v['head']:.1%} | {v['pairs']:.1%}")
    for name, res in results.items():
        print(f"\n{name}: AUC of the held-out group against the dev real photos "
              "(head fitted without it | pair-trained head alone)\n")
        print("| held out | n | clean | JPEG 75 | 0.5x |")
        print("|---|---|---|---|---|")
        agg: dict[str, list[float]] = defaultdict(list)
        for g, r in sorted(res.items(), key=lambda kv: -kv[1]["n"]):
            cells = [f"{r[d]:.3f} \\| {r['pairs-' + d]:.3f}" for d in CHANNELS]
            print(f"| {g} | {int(r['n'])} | " + " | ".join(cells) + " |")
            for d in CHANNELS:
                agg[d].append(r[d])
                agg["pairs-" + d].append(r["pairs-" + d])
        print("| mean over groups | | " + " | ".join(
            f"{np.mean(agg[d]):.3f} \\| {np.mean(agg['pairs-' + d]):.3f}" for d in CHANNELS)
            + " |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
