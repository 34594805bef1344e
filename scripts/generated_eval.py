"""Measure the generated-image analyzer per generator and per real source.

    python scripts/generated_eval.py --data ../shared/data --out runs/generated-eval.json
    FAKESCOPE_MODELS_DIR=runs/generated python scripts/generated_eval.py ...   # a training run

Scores every picture of ``generated/`` (each generator against the real photos of the
dev half of ``photos/``) and every real source the project has: the dev and train
halves of ``photos/``, real and fake DFDC dev crops, frames of the real and generated
clips of ``video/dev`` and ``video/gen2``, and drawn screenshots. Each is scored clean
(``none``), after JPEG 75, after a 0.5x resize and after an off-grid crop keeping 75 % of
each side (the same channel for both classes). Rows of generators a model trained on are
in-domain: for held-out figures score fold models (``fakescope train generated --exclude``)
and merge them with ``scripts/generated_logo.py``. Prints Markdown tables; ``--out`` keeps
every raw score (the mean crop logit) and is resumed from.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from fakescope.analyzers.generated import GeneratedImageAnalyzer, cut_crops
from fakescope.evaluation import imagesets
from fakescope.evaluation.metrics import auc
from fakescope.progress import progress_iter
from fakescope.synth.degrade import channel

DEGRADATIONS = ("none", "jpeg75", "resize0.5", "crop0.75")


def degrade(rgb: np.ndarray, spec: str) -> np.ndarray:
    fn = channel(spec)
    return rgb if fn is None else fn(rgb)


def sources(data: Path, frames_per_clip: int) -> dict[str, Callable[[], Iterator[imagesets.LabelledImage]]]:
    return {
        "generated": lambda: imagesets.generated(data / "generated"),
        "photos-dev": lambda: imagesets.photos(data / "photos", "dev"),
        "photos-train": lambda: imagesets.photos(data / "photos", "train"),
        "dfdc-dev-real": lambda: imagesets.labelled_folder(data / "faces/dfdc-dev", label=0),
        "dfdc-dev-fake": lambda: imagesets.labelled_folder(data / "faces/dfdc-dev", label=1),
        "video-dev-real": lambda: imagesets.video_frames(data / "video/dev", frames_per_clip, label=0),
        "video-dev-generated": lambda: imagesets.video_frames(data / "video/dev", frames_per_clip, label=1),
        "video-gen2-real": lambda: imagesets.video_frames(data / "video/gen2", frames_per_clip, label=0),
        "video-gen2-generated": lambda: imagesets.video_frames(data / "video/gen2", frames_per_clip, label=1),
        "screens-dev": lambda: imagesets.screens(60),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--max-crops", type=int, default=None, help="override the analyzer's crop count")
    ap.add_argument("--frames-per-clip", type=int, default=4)
    ap.add_argument("--degrade", action="append", choices=DEGRADATIONS)
    ap.add_argument("--only", action="append", help="score only these sources")
    args = ap.parse_args()
    degradations = args.degrade or list(DEGRADATIONS)

    analyzer = GeneratedImageAnalyzer()
    size = analyzer.card.input.size
    kw = {"max_crops": args.max_crops} if args.max_crops else {}
    rows: list[dict] = []  # type: ignore[type-arg]
    if args.out and args.out.is_file():  # resume: sources already scored are kept
        rows = json.loads(args.out.read_text())["rows"]
    done = {r["source"] for r in rows}
    for src, make in sources(args.data, args.frames_per_clip).items():
        if (args.only and src not in args.only) or src in done:
            continue
        for item in progress_iter(list(make()), f"scoring {src}"):
            row = {"source": src, "name": item.name, "label": item.label, "group": item.group}
            for d in degradations:
                crops, _ = cut_crops(degrade(item.rgb, d), size, **kw)
                logits, _ = analyzer.run(crops)
                row[d] = float(logits.mean())  # raw: AUCs do not depend on the calibration
            rows.append(row)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"card": analyzer.card.name + " " + analyzer.card.version,
                                            "rows": rows}, indent=1))
    print_tables(rows, degradations, analyzer.probability)


def print_tables(rows: list[dict], degradations: list[str],  # type: ignore[type-arg]
                 probability: Callable[[float], float]) -> None:
    reals = [r for r in rows if r["source"] == "photos-dev"]
    fakes = [r for r in rows if r["source"] == "generated"]
    if reals and fakes:
        by_gen: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
        for r in fakes:
            by_gen[r["group"]].append(r)
        print(f"\nPer generator: AUC against the {len(reals)} dev real photos\n")
        print("| generator | n | " + " | ".join(degradations) + " |")
        print("|---|---|" + "---|" * len(degradations))
        for g in sorted(by_gen, key=lambda g: (-len(by_gen[g]), g)):
            cells = []
            for d in degradations:
                y = np.r_[np.zeros(len(reals)), np.ones(len(by_gen[g]))]
                s = np.r_[[r[d] for r in reals], [r[d] for r in by_gen[g]]]
                cells.append(f"{auc(y, s):.3f}")
            print(f"| {g} | {len(by_gen[g])} | " + " | ".join(cells) + " |")
        cells = []
        for d in degradations:
            y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))]
            s = np.r_[[r[d] for r in reals], [r[d] for r in fakes]]
            cells.append(f"**{auc(y, s):.3f}**")
        print(f"| all | {len(fakes)} | " + " | ".join(cells) + " |")
    print("\nScores per source (analyzer probability): median, share >= 0.5, share >= 0.8\n")
    print("| source | n | " + " | ".join(degradations) + " |")
    print("|---|---|" + "---|" * len(degradations))
    by_src: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for r in rows:
        by_src[r["source"]].append(r)
    for src, rs in by_src.items():
        cells = []
        for d in degradations:
            v = np.array([probability(r[d]) for r in rs])
            cells.append(f"{np.median(v):.2f} / {(v >= 0.5).mean():.0%} / {(v >= 0.8).mean():.0%}")
        print(f"| {src} | {len(rs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
