"""Light heads on frozen picture features, judged with whole sources held out (issue 26):
the study behind the shipped head (``fakescope.train.generated_head``, which holds the
method: folds by source repository, thresholds from the training sources' own held-out
scores, repeated draws).

    python research/generated_head_study.py runs/pic-features.npz runs/pic-layers.npz \\
        --sets gen,clip,clip+gen_mean,clip_layers@4-11+gen_mean --repeats 3 [--per-source] [--balance 0.5]

The feature files come from ``scripts/picture_features.py`` (docs/metrics.md, "Pictures from
generators nobody trained on", has every command and the answers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fakescope.train.generated_head import estimate, load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features", type=Path, nargs="+")
    ap.add_argument("--sets", default="gen,clip,clip_layers@4-11")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--fpr", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=1, help="draws of the folds, averaged")
    ap.add_argument("--balance", type=float, default=0.0,
                    help="weigh each picture by its source's size ** -balance (1: sources alike)")
    ap.add_argument("--per-source", action="store_true")
    ap.add_argument("--aligned", choices=("none", "eval", "train"), default="none",
                    help="the aligned face crops (corpus `aligned`): left out, only scored, or also "
                         "fitted on; the main figures are always the other pictures'")
    ap.add_argument("--out", type=Path, help="write the results (JSON)")
    a = ap.parse_args()
    data = load(a.features)
    aligned = np.array([str(k).startswith("aligned/") for k in data["keys"]])
    if a.aligned == "none":
        data = {name: arr[~aligned] for name, arr in data.items()}
        aligned = aligned[~aligned]
    print(f"{len(data['label'])} pictures: {int((data['label'] == 'fake').sum())} fake, "
          f"{int((data['label'] == 'real').sum())} real, {len(set(data['source']))} sources")
    results = []
    for spec in a.sets.split(","):
        r = estimate(data, spec, a.k, a.l2, a.fpr, a.repeats, a.balance,
                     fit=~aligned if a.aligned == "eval" else None, evaluate=~aligned)
        r.pop("score")
        r.pop("thr")
        results.append(r)
        print(f"{spec:28s} l2={a.l2:g} balance={a.balance:g}  "
              f"AUC {r['auc']:.3f} (people {r['people_auc']:.3f}, GAN {r['gan_auc']:.3f})  "
              f"reals called fake {r['real_called_fake']:.3f} (worst source {r['worst_real_source']:.3f}, "
              f"{r['real_sources_over_5pct']} sources over 5 %)  "
              f"fakes caught {r['fake_caught']:.3f}  by corpus {json.dumps(r['by_corpus'])}", flush=True)
        if a.per_source:
            for s, row in r["per_source"].items():  # type: ignore[union-attr]
                print(f"    {s:60s} {json.dumps(row)}")
    if a.out:
        a.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
