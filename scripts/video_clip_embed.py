"""Study (issue 28): what CLIP ViT-B/16 sees in a clip's face and frames over time, held out
by source group.

    python scripts/video_clip_embed.py extract --set corpus=DATA/video-corpus \\
        --set dev=../shared/data/video/dev --set gen2=../shared/data/video/gen2 --out runs/v28/clip.npz
    python scripts/video_clip_embed.py probe runs/v28/clip.npz --set corpus=DATA/video-corpus ...

``extract``: on ``--frames`` evenly spaced frames of the clip's first 10 s, the largest face
cut square (``FACE_SCALE`` times its box, edges replicated) and the whole frame (CLIP's own
resize and centre crop) go through the int8 encoder one picture at a time; every block's
class token and mean patch token are kept. ``probe``: per-clip features pooled over time
(the mean token of a block, unit length per frame, and how far consecutive frames' tokens
move), a logistic head on a PCA of them, every source group held out in turn (a group's
fakes and reals together); per group: its fakes against every held-out real clip, and the
share of its real clips above the threshold that calls 5 % of the *training* folds' real
clips fake.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np

FRAMES = 8
FACE_SCALE = 1.8
BLOCKS = (4, 6, 8, 10, 11)
MAX_S = 10.0


def face_square(rgb: np.ndarray, box: np.ndarray, scale: float = FACE_SCALE, side: int = 224) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    s = scale * max(box[2] - box[0], box[3] - box[1])
    f = side / s
    m = np.float32([[f, 0, side / 2 - f * cx], [0, f, side / 2 - f * cy]])
    return cv2.warpAffine(rgb, m, (side, side), flags=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def read_sets(sets: list[str]) -> list[dict[str, str]]:
    rows = []
    for s in sets:
        name, root = s.split("=", 1)
        with open(Path(root) / "labels.csv", newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows.append({**r, "set": name, "root": root, "key": f"{name}|{r['file']}"})
    return rows


def extract(sets: list[str], out: Path, frames: int) -> None:
    from fakescope.config import ScanSettings
    from fakescope.media import decode, read_file
    from fakescope.models.clip import find_encoder, load_blocks
    from fakescope.progress import progress_iter
    from fakescope.scan.scanner import Scanner

    enc = find_encoder()
    if enc is None:
        raise SystemExit("the CLIP encoder is not installed: fakescope models install-clip")
    clip = load_blocks(str(enc), 0)
    scanner = Scanner(ScanSettings(analyzers=["face-forgery"]))
    rows = read_sets(sets)
    done: dict[str, dict[str, np.ndarray]] = {}
    if out.exists():
        z = np.load(out)
        for i, k in enumerate(z["keys"]):
            done[str(k)] = {n: z[n][i] for n in ("face_cls", "face_patch", "frame_cls", "n_face")}
    keys, face_cls, face_patch, frame_cls, n_face = [], [], [], [], []
    nan = np.full((frames, len(BLOCKS), 768), np.nan, np.float16)
    for i, r in enumerate(progress_iter(rows, "clips")):
        if r["key"] in done:
            d = done[r["key"]]
            fc, fp, wc, nf = d["face_cls"], d["face_patch"], d["frame_cls"], int(d["n_face"])
        else:
            fc, fp, wc = nan.copy(), nan.copy(), nan.copy()
            nf = 0
            media = decode(read_file(Path(r["root"]) / r["file"], scanner.settings.limits),
                           scanner.settings.limits)
            dur = min(media.info.duration_s or MAX_S, MAX_S)
            times = [dur * (k + 0.5) / frames for k in range(frames)]
            for k, fr in enumerate(media.frames_at(times)):
                if k >= frames:
                    break
                cls, _ = clip.tokens(fr.rgb)
                wc[k] = cls[list(BLOCKS)]
                faces = [f for f in scanner.detector.detect(fr.rgb) if f.why_not_judged() is None]
                if faces:
                    f = max(faces, key=lambda f: f.eye_distance)
                    cls, patch = clip.tokens(face_square(fr.rgb, f.box))
                    fc[k], fp[k] = cls[list(BLOCKS)], patch[list(BLOCKS)]
                    nf += 1
        keys.append(r["key"])
        face_cls.append(fc)
        face_patch.append(fp)
        frame_cls.append(wc)
        n_face.append(nf)
        if (i + 1) % 25 == 0 or i + 1 == len(rows):
            out.parent.mkdir(parents=True, exist_ok=True)
            np.savez(out, keys=np.array(keys), face_cls=np.array(face_cls), face_patch=np.array(face_patch),
                     frame_cls=np.array(frame_cls), n_face=np.array(n_face))


def pooled(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clips, frames, blocks, 768) -> the mean unit token per block (clips, blocks, 768) and
    the mean cosine distance between consecutive frames with a face (clips, blocks)."""
    t = tokens.astype(np.float32)
    t = t / np.linalg.norm(t, axis=-1, keepdims=True)
    mean = np.nanmean(t, axis=1)
    step = 1.0 - np.nansum(t[:, 1:] * t[:, :-1], axis=-1)
    valid = np.isfinite(t[:, 1:, :, 0]) & np.isfinite(t[:, :-1, :, 0])
    step = np.where(valid, step, np.nan)
    return mean, np.nanmean(step, axis=1)


def probe(emb: Path, sets: list[str], dims: list[int], l2: float, out_json: Path | None) -> None:
    from video_features import auc, balanced_weights, fit_logistic

    z = np.load(emb)
    by_key = {r["key"]: r for r in read_sets(sets)}
    idx = [i for i, k in enumerate(z["keys"]) if str(k) in by_key and z["n_face"][i] >= 2]
    rs = [{**by_key[str(z["keys"][i])]} for i in idx]
    for r in rs:
        r["label"] = 1 if r["label"] == "fake" else 0
        r["group"] = f"{r['set']}:{r['group']}"
    y = np.array([r["label"] for r in rs], float)
    groups = np.array([r["group"] for r in rs])
    fmean, fstep = pooled(z["face_cls"][idx])
    pmean, _ = pooled(z["face_patch"][idx])
    wmean, wstep = pooled(z["frame_cls"][idx])
    variants: dict[str, np.ndarray] = {}
    for bi, b in enumerate(BLOCKS):
        variants[f"face cls b{b}"] = fmean[:, bi]
        variants[f"frame cls b{b}"] = wmean[:, bi]
    variants["face patch b8"] = pmean[:, BLOCKS.index(8)]
    variants["face cls b8+b11"] = np.hstack([fmean[:, BLOCKS.index(8)], fmean[:, BLOCKS.index(11)]])
    variants["face b8 + frame b8"] = np.hstack([fmean[:, BLOCKS.index(8)], wmean[:, BLOCKS.index(8)]])
    steps = np.hstack([fstep, wstep])
    results = {}
    print(f"{len(rs)} clips ({int(y.sum())} generated), {len(set(groups))} groups")
    for name, x in [*variants.items(), ("temporal steps only", steps)]:
        for d in (dims if x.shape[1] > 20 else [0]):
            for with_steps in ((False, True) if x.shape[1] > 20 else (False,)):
                xx = np.hstack([x, steps]) if with_steps else x
                score, thr_fa = _logo(xx, y, groups, rs, d, l2, fit_logistic, balanced_weights,
                                      n_raw=x.shape[1] if with_steps else None)
                per_group = {}
                for g in sorted(set(groups)):
                    sel = (groups == g) & (y == 1)
                    if sel.any():
                        keep = sel | (y == 0)
                        per_group[g] = auc(y[keep], score[keep])
                fa = {g: float(np.mean(thr_fa[(groups == g) & (y == 0)]))
                      for g in sorted(set(groups)) if ((groups == g) & (y == 0)).any()}
                label = f"{name}{' + steps' if with_steps else ''}" + (f", pca {d}" if d else "")
                worst = max(fa.items(), key=lambda kv: kv[1])
                mean_group = np.nanmean(list(per_group.values()))
                print(f"{label:40s} pooled {auc(y, score):.3f}  mean/group {mean_group:.3f}"
                      f"  real called fake {np.mean(thr_fa[y == 0]):.3f}, worst {worst[0]} {worst[1]:.2f}"
                      f"  fakes caught {np.mean(thr_fa[y == 1]):.3f}")
                results[label] = {"pooled": auc(y, score), "per_group": per_group, "false_alarms": fa,
                                  "scores": score.tolist()}
    if out_json is not None:
        out_json.write_text(json.dumps({"keys": [r["key"] for r in rs], "labels": y.tolist(),
                                        "groups": groups.tolist(), "results": results}))


def _logo(x, y, groups, rs, dims, l2, fit_logistic, balanced_weights, n_raw=None):  # type: ignore[no-untyped-def]
    """Held-out scores and, per clip, whether it is above its fold's 5 %-false-alarm threshold."""
    score = np.full(len(y), np.nan)
    called = np.zeros(len(y), bool)
    for g in np.unique(groups):
        test, train = groups == g, groups != g
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
    p = sub.add_parser("probe")
    p.add_argument("emb", type=Path)
    p.add_argument("--set", action="append", required=True)
    p.add_argument("--dims", type=int, nargs="+", default=[16, 32])
    p.add_argument("--l2", type=float, default=10.0)
    p.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.cmd == "extract":
        extract(args.set, args.out, args.frames)
    else:
        probe(args.emb, args.set, args.dims, args.l2, args.json)


if __name__ == "__main__":
    main()
