"""The leave-sources-out table of the generated-image model, from the scores of fold models.

    FAKESCOPE_MODELS_DIR=runs/gen-v-f1 python scripts/generated_eval.py --out runs/eval-f1.json \
        --only generated --only photos-dev
    FAKESCOPE_MODELS_DIR=runs/gen-v-f2 python scripts/generated_eval.py --out runs/eval-f2.json \
        --only generated --only photos-dev
    python scripts/generated_logo.py --fold runs/eval-f1.json=ai-bingo,Sentry \
        --fold runs/eval-f2.json=awesome-gpt4o-images,Awesome-Nano-Banana-images,ComfyUI_examples

Each fold model was trained (``fakescope train generated --exclude ...``) without the
generated pictures of the publishing sources named after ``=`` (the repository name of the
``source`` column, owner optional); every generator's row
here comes from the fold that never saw its source, so no row is in-domain. Holding out
whole sources is stricter than one generator at a time: the generators of a source (e.g.
IF with four samplers) cannot vouch for one another. AUC against the dev real photos.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from fakescope.evaluation.metrics import auc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", action="append", required=True, help="SCORES.json=SOURCE,SOURCE...")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--faces", type=Path,
                    help="scripts/fit_fusion.py --scores-cache file: adds rows for the pictures "
                         "with a face the face model judged (portraits) and those without")
    args = ap.parse_args()
    with open(args.data / "generated/labels.csv", newline="", encoding="utf-8") as fh:
        source_of = {r["file"]: r["source"].split("@")[0] for r in csv.DictReader(fh)}

    def is_held_out(file: str, names: set[str]) -> bool:
        full = source_of[file]
        return full in names or full.split("/")[-1] in names

    fakes: list[dict] = []  # type: ignore[type-arg]
    reals_by_fold: list[list[dict]] = []  # type: ignore[type-arg]
    for k, spec in enumerate(args.fold):
        path, _, held = spec.partition("=")
        rows = json.loads(Path(path).read_text())["rows"]
        held_out = set(held.split(","))
        reals_by_fold.append([r for r in rows if r["source"] == "photos-dev"])
        fakes += [{**r, "fold": k} for r in rows
                  if r["source"] == "generated" and is_held_out(r["name"], held_out)]
    degradations = [d for d in ("none", "jpeg75", "resize0.5", "crop0.75") if all(d in r for r in fakes)]

    def cell(rows: list[dict], d: str) -> str:  # type: ignore[type-arg]
        # Each fake against the dev reals scored by the same fold model.
        ys, ss = [], []
        for k, reals in enumerate(reals_by_fold):
            mine = [r[d] for r in rows if r["fold"] == k]
            if mine:
                ys += [0] * len(reals) + [1] * len(mine)
                ss += [r[d] for r in reals] + mine
        return f"{auc(np.array(ys), np.array(ss)):.3f}"

    by_gen: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for r in fakes:
        by_gen[r["group"]].append(r)
    print("| generator | source | n | " + " | ".join(degradations) + " |")
    print("|---|---|---|" + "---|" * len(degradations))
    for g in sorted(by_gen, key=lambda g: (-len(by_gen[g]), g)):
        src = source_of[by_gen[g][0]["name"]].split("/")[-1]
        print(f"| {g} | {src} | {len(by_gen[g])} | " + " | ".join(cell(by_gen[g], d) for d in degradations)
              + " |")
    by_src: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for r in fakes:
        by_src[source_of[r["name"]].split("/")[-1]].append(r)
    for s, rows in sorted(by_src.items()):
        print(f"| **all of {s}** | | {len(rows)} | " + " | ".join(cell(rows, d) for d in degradations) + " |")
    gan = [r for r in fakes if "stylegan" in r["group"].lower()]
    others = [r for r in fakes if r not in gan]
    for title, rows in (("GAN (StyleGAN3)", gan), ("diffusion and autoregressive", others)):
        print(f"| **{title}** | | {len(rows)} | " + " | ".join(cell(rows, d) for d in degradations) + " |")
    if args.faces is not None:
        judged = {r["name"] for r in json.loads(args.faces.read_text())
                  if r["source"] == "generated" and r.get("face_manipulation") is not None}
        for title, rows in (("with a judged face (portraits)", [r for r in fakes if r["name"] in judged]),
                            ("without one", [r for r in fakes if r["name"] not in judged])):
            print(f"| **{title}** | | {len(rows)} | " + " | ".join(cell(rows, d) for d in degradations)
                  + " |")
    print(f"| **all** | | {len(fakes)} | " + " | ".join(f"**{cell(fakes, d)}**" for d in degradations) + " |")


if __name__ == "__main__":
    main()
