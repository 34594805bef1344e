"""Build the bundle that lets a deployment retrain the generated-image head from its reviews
(``fakescope train generated-head --feedback``; issue 30, docs/feedback.md):

    python scripts/feedback_bundle.py --features runs/pic-features-v3.npz \\
        --features runs/pic-layers-v3.npz --out src/fakescope/models/weights/generated.feedback.npz

A deployment cannot re-fetch our training corpus, and 12,289 features per picture are too
many to ship for a benchmark. So a challenger may only move the shipped head within a
fixed subspace: the ``RANK`` leading principal directions of the CLIP columns over the
training pictures (the trace logit's weight moves freely). Within it, two samples of the
training corpus are stored as coordinates (a few hundred bytes a picture), with the
shipped head's logit on each:

- *replay*: up to ``PER_SOURCE`` pictures of each source and class, fitted beside the
  reviews, so that a deployment's real-only reviews cannot teach the head that everything
  is real (research/feedback_head_study.py: without them, detection collapses);
- *guard*: as many others, never fitted on: the benchmark a challenger must not do worse
  on than the model in use. The shipped head was fitted on them, so the comparison leans
  towards the champion.

Deterministic: the same feature files give the same bundle (seeded draws, the SVD's signs
fixed by each direction's largest entry).

``--appearance`` builds the video clip model's bundle instead (``fakescope train video-head
--feedback``), from the tokens and sets the shipped appearance head was fitted on
(scripts/video_clip_embed.py ``fit``)::

    python scripts/feedback_bundle.py --appearance runs/v28/clip.npz runs/v28/clip-corpus.npz \
        --set corpus=DATA/video-corpus --set dev=../shared/data/video/dev \
        --set gen2=../shared/data/video/gen2

That head reads 37 standardised values, so no subspace: the bundle holds every training
clip's 37 inputs, split into replay and guard by alternating clips within each class (in
order of source group and file, so each group's clips go to both sides and a group of one
clip sends it to either), with the shipped head's logit, the label and the source group.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

RANK = 64
PER_SOURCE = 6


def principal_directions(xc: np.ndarray, k: int, rng: np.random.Generator, power: int = 3) -> np.ndarray:
    """The ``k`` leading right singular vectors of the centred ``xc`` (randomised SVD)."""
    q, _ = np.linalg.qr(xc @ rng.standard_normal((xc.shape[1], k + 20)).astype(xc.dtype))
    for _ in range(power):
        q, _ = np.linalg.qr(xc @ (xc.T @ q))
    _, _, vt = np.linalg.svd(q.T @ xc, full_matrices=False)
    vt = vt[:k]
    return vt * np.sign(vt[np.arange(k), np.abs(vt).argmax(1)])[:, None]


def appearance_bundle(tokens: list[Path], sets: list[str], head_path: Path, out: Path) -> None:
    """The appearance head's bundle: its standardised inputs on two alternating halves of its
    training clips (see the module's docstring)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from video_clip_embed import labelled

    from fakescope.analyzers.appearance import Head, clip_vector

    head = Head.load(head_path)
    z, idx, rs = labelled(tokens, sets)
    if not rs:
        raise SystemExit("no clip of the sets has tokens: not the head's token files or sets")
    x = ((head.design(clip_vector(z["frame_cls"][idx])) - head.mean) / head.scale).astype(np.float64)
    logit = x @ head.coef.astype(np.float64) + head.intercept
    y = np.array([r["label"] for r in rs], np.int8)
    group = np.array([r["group"] for r in rs])
    order = sorted(range(len(rs)), key=lambda i: (int(y[i]), rs[i]["group"], rs[i]["key"]))
    replay: list[int] = []
    guard: list[int] = []
    for lab in (0, 1):
        same = [i for i in order if y[i] == lab]
        replay += same[0::2]
        guard += same[1::2]

    def part(name: str, ii: list[int]) -> dict[str, np.ndarray]:
        jj = np.array(sorted(ii))
        return {
            f"{name}_z": x[jj].astype(np.float32),
            f"{name}_logit": logit[jj].astype(np.float32),
            f"{name}_label": y[jj],
            f"{name}_source": group[jj],
        }

    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        head_sha256=np.array(hashlib.sha256(head_path.read_bytes()).hexdigest()),
        **part("replay", replay),
        **part("guard", guard),
    )
    print(
        f"wrote {out} ({out.stat().st_size / 1e3:.0f} KB): {x.shape[1]} inputs, replay {len(replay)} "
        f"({int(y[replay].sum())} generated), guard {len(guard)} ({int(y[guard].sum())} generated), "
        f"{len(set(group))} source groups"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--features",
        type=Path,
        action="append",
        help="The feature files the shipped head was fitted on (scripts/picture_features.py).",
    )
    ap.add_argument("--head", type=Path, default=None, help="default: the shipped head of the mode")
    ap.add_argument("--out", type=Path, default=None, help="default: beside the shipped head")
    ap.add_argument(
        "--appearance",
        type=Path,
        nargs="+",
        metavar="TOKENS",
        help="Build the appearance head's bundle from these token files (scripts/video_clip_embed.py).",
    )
    ap.add_argument("--set", action="append", default=[], help="With --appearance: name=folder (labels.csv).")
    args = ap.parse_args()
    weights = Path("src/fakescope/models/weights")
    if args.appearance:
        if not args.set:
            raise SystemExit("--appearance needs the sets the head was fitted on (--set name=folder)")
        appearance_bundle(args.appearance, args.set, args.head or weights / "appearance.head.json",
                          args.out or weights / "appearance.feedback.npz")
        return
    if not args.features:
        raise SystemExit("give the feature files (--features), or --appearance TOKENS --set ...")
    args.head = args.head or weights / "generated.head.json"
    args.out = args.out or weights / "generated.feedback.npz"
    from fakescope.analyzers.generated import Head
    from fakescope.train import generated_head as gh

    head = Head.load(args.head)
    data = gh.load(args.features)
    x = gh.design(data, gh.SPEC).astype(np.float32)
    if x.shape[1] != len(head.coef):
        raise SystemExit(f"{x.shape[1]} features, the head reads {len(head.coef)}: not its feature files")
    y = (data["label"] == "fake").astype(np.int8)
    src = data["source"].astype(str)
    rng = np.random.default_rng(0)
    mu = x[:, :-1].mean(0)
    basis = principal_directions(x[:, :-1] - mu, RANK, rng).astype(np.float16)
    b64 = basis.astype(np.float64)

    replay: list[int] = []
    guard: list[int] = []
    for s in sorted(set(src)):
        for lab in (0, 1):
            idx = np.flatnonzero((src == s) & (y == lab))
            take = rng.permutation(idx)[: 2 * PER_SOURCE]
            replay += list(take[0::2])
            guard += list(take[1::2])

    def part(name: str, idx: list[int]) -> dict[str, np.ndarray]:
        ii = np.array(sorted(idx))
        xs = x[ii].astype(np.float64)
        z = np.c_[(xs[:, :-1] - mu) @ b64.T, xs[:, -1:]]
        return {
            f"{name}_z": z.astype(np.float32),
            f"{name}_logit": (xs @ head.coef + head.intercept).astype(np.float32),
            f"{name}_label": y[ii],
            f"{name}_source": src[ii],
        }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        mu=mu.astype(np.float32),
        basis=basis,
        head_sha256=np.array(hashlib.sha256(args.head.read_bytes()).hexdigest()),
        **part("replay", replay),
        **part("guard", guard),
    )
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): rank {RANK}, replay {len(replay)} "
        f"({int(y[replay].sum())} generated), guard {len(guard)} ({int(y[guard].sum())} generated), "
        f"{len(set(src))} sources"
    )


if __name__ == "__main__":
    main()
