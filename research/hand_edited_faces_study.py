"""Hand-edited faces (issue 26's last target): can a light head on frozen CLIP features of
the aligned face, fitted on self-blended pseudo-edits of real faces of many sources, catch
edits of kinds it never saw, without calling real faces of unseen sources `fake`?

No edited faces can be used here (the public sets of retouched and composited faces are held
for the independent evaluation), so the study makes its edits from real faces, each of one
person only (no identity is ever moved onto another), in two groups:

- fitted on: ``sbi_face`` (self-blended image: a restyled, misregistered copy of the face
  blended inside its own face outline; ``fakescope.synth.sbi``) and ``sbi_part`` (the same
  inside one feature: an eye and brow, the nose or the mouth);
- never fitted on, only scored: ``liquify`` (Photoshop's face-aware liquify: eyes
  enlarged, nose narrowed, mouth or jaw reshaped by a smooth warp, no colour change),
  ``composite`` (one feature replaced by the mirrored face's, pasted with a feathered
  edge, as hand composites are made) and ``retouch`` (skin smoothed, eyes and mouth kept).

Every variant and the untouched face go through one channel (downscale 0.6-1 and back,
JPEG 75-95). Folds hold whole sources out; per held-out fold: AUC of its reals against
each edit of the same faces, and the share of its reals above the threshold that keeps 5 %
of the training folds' reals above it.

    python research/hand_edited_faces_study.py features --aligned DATA/aligned --faces DATA/dfdc-real \\
        --out runs/hand-edits.npz [--shard 0/2]
    python research/hand_edited_faces_study.py report runs/hand-edits*.npz
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from fakescope.synth.degrade import jpeg
from fakescope.synth.sbi import FACE_OVAL, restyle, self_blend

EYE_L = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
         70, 63, 105, 66, 107]
EYE_R = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
         300, 293, 334, 296, 336]
NOSE = [1, 2, 98, 327, 168, 6, 197, 195, 5, 4, 45, 275, 129, 358, 64, 294]
MOUTH = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
PARTS = {"eye_l": EYE_L, "eye_r": EYE_R, "nose": NOSE, "mouth": MOUTH}
# Each list's points mirrored across the face's midline (FaceMesh's symmetric partners):
# the mirrored face's partner points land where the original's points are.
PARTNERS = {"eye_l": EYE_R, "eye_r": EYE_L,
            "nose": [1, 2, 327, 98, 168, 6, 197, 195, 5, 4, 275, 45, 358, 129, 294, 64],
            "mouth": [291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61, 185, 40, 39, 37, 0,
                      267, 269, 270, 409]}
VARIANTS = ("real", "sbi_face", "sbi_part", "liquify", "composite", "retouch")
FITTED = ("sbi_face", "sbi_part")


def part_mask(shape: tuple[int, int], pts: np.ndarray, grow: float, feather: int) -> np.ndarray:
    h, w = shape
    c = pts.mean(0)
    hull = cv2.convexHull(((pts - c) * (1 + grow) + c).astype(np.float32)).astype(np.int32)
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    k = feather | 1
    return cv2.GaussianBlur(mask, (k, k), 0)


def blend(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = b.astype(np.float32) * mask[..., None] + a.astype(np.float32) * (1 - mask[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def sbi_part(face: np.ndarray, mesh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = face.shape[:2]
    part = PARTS[str(rng.choice(list(PARTS)))]
    pts = mesh[part]
    src = restyle(face, rng)
    s = rng.uniform(0.95, 1.05)
    cx, cy = pts.mean(0)
    tx, ty = rng.uniform(-0.02, 0.02, 2) * w
    m = np.array([[s, 0, (1 - s) * cx + tx], [0, s, (1 - s) * cy + ty]], np.float32)
    src = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = part_mask((h, w), pts, rng.uniform(0.1, 0.6), int(rng.integers(3, 21)))
    mask = mask * float(rng.choice([0.5, 0.75, 1.0, 1.0]))
    return blend(face, src, mask), mask


def liquify(face: np.ndarray, mesh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth local magnification (> 0) or shrinking (< 0) about one or more features."""
    h, w = face.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = xs.copy(), ys.copy()
    names = list(PARTS)
    chosen = rng.choice(names, size=int(rng.integers(1, 4)), replace=False)
    for name in chosen:
        pts = mesh[PARTS[str(name)]]
        c = pts.mean(0)
        r = 1.6 * float(np.max(np.linalg.norm(pts - c, axis=1)))
        a = rng.uniform(0.12, 0.3) * (1 if name.startswith("eye") else float(rng.choice([-1, 1])))
        dx, dy = mx - c[0], my - c[1]
        d = np.sqrt(dx * dx + dy * dy) / r
        wgt = np.where(d < 1, (1 - d * d) ** 2, 0).astype(np.float32)
        mx = c[0] + dx * (1 - a * wgt)
        my = c[1] + dy * (1 - a * wgt)
    if rng.random() < 0.5:  # jaw slimming: pull the lower face outline inward
        c = mesh[FACE_OVAL].mean(0)
        r = 0.5 * w
        dy = ys - c[1]
        lower = np.clip(dy / (0.3 * h), 0, 1)
        mx = mx + (xs - c[0]) * rng.uniform(0.04, 0.1) * lower * np.exp(-((xs - c[0]) / r) ** 2)
    out = cv2.remap(face, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_CUBIC,
                    borderMode=cv2.BORDER_REFLECT)
    return out, np.clip(np.hypot(mx - xs, my - ys) / 2.0, 0, 1).astype(np.float32)


def composite(face: np.ndarray, mesh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One feature replaced by the mirrored face's, registered on the landmarks."""
    h, w = face.shape[:2]
    name = str(rng.choice(list(PARTS)))
    flipped = face[:, ::-1].copy()
    fmesh = mesh.copy()
    fmesh[:, 0] = w - 1 - fmesh[:, 0]
    dst = mesh[PARTS[name]]
    src = fmesh[PARTNERS[name]]
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32))
    if m is None:
        m = np.eye(2, 3, dtype=np.float32)
    moved = cv2.warpAffine(flipped, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:  # the pasted layer's tone a little off, as hand edits often are
        moved = np.clip(moved.astype(np.float32) * rng.uniform(0.92, 1.08) + rng.uniform(-8, 8), 0, 255)
    mask = part_mask((h, w), dst, rng.uniform(0.15, 0.5), int(rng.integers(3, 15)))
    return blend(face, moved, mask), mask


def retouch(face: np.ndarray, mesh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = face.shape[:2]
    skin = part_mask((h, w), mesh[FACE_OVAL], 0.0, 15)
    for name in PARTS:
        skin = skin * (1 - part_mask((h, w), mesh[PARTS[name]], 0.2, 9))
    smooth = cv2.bilateralFilter(face, 9, float(rng.uniform(30, 80)), float(rng.uniform(5, 12)))
    if rng.random() < 0.5:
        smooth = np.clip(smooth.astype(np.float32) * rng.uniform(1.0, 1.08), 0, 255).astype(np.uint8)
    skin = skin * rng.uniform(0.6, 1.0)
    return blend(face, smooth, skin), skin


def channel(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    f = rng.uniform(0.6, 1.0)
    if f < 0.97:
        small = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return jpeg(img, int(rng.integers(75, 96)))


def variant(name: str, face: np.ndarray, mesh: np.ndarray, rng: np.random.Generator,
            ) -> tuple[np.ndarray, np.ndarray]:
    """The edited face and where it was changed (0..1 per pixel)."""
    if name == "real":
        return face, np.zeros(face.shape[:2], np.float32)
    if name == "sbi_face":
        return self_blend(face, mesh, rng)
    edits = {"sbi_part": sbi_part, "liquify": liquify, "composite": composite, "retouch": retouch}
    return edits[name](face, mesh, rng)


def read_rows(folders: list[Path]) -> list[tuple[Path, str]]:
    rows = []
    for root in folders:
        with open(root / "labels.csv", newline="") as f:
            for r in csv.DictReader(f):
                if r["label"] == "real":
                    rows.append((root / r["file"], r["source"]))
    return rows


def features(folders: list[Path], out: Path, shard: tuple[int, int], sample_dir: Path | None,
             patch_blocks: list[int]) -> None:
    """Per variant: CLIP blocks 4-11 class and mean patch tokens, the face-forgery logit,
    the edited share of each of the 14 x 14 patches and, for ``patch_blocks``, every
    patch's token (``OUT.patches-bB.npy``)."""
    from fakescope.analyzers.face_forgery import FaceForgeryAnalyzer
    from fakescope.config import MediaLimits
    from fakescope.faces.align import transform_points
    from fakescope.faces.detector import get_detector
    from fakescope.media.image import decode_image
    from fakescope.models.clip import MEAN, STD, find_encoder, load_blocks
    from fakescope.progress import progress_iter

    rows = read_rows(folders)[shard[0]::shard[1]]
    det, ff = get_detector(), FaceForgeryAnalyzer(threads=1)
    enc = find_encoder()
    if enc is None:
        raise SystemExit("no CLIP encoder: fakescope models install-clip")
    clip = load_blocks(str(enc), threads=1)
    spec = ff.card.input
    keys, srcs, kinds, logits, cls, patch, edited = [], [], [], [], [], [], []
    tokens = {b: np.lib.format.open_memmap(out.with_suffix(f".patches-b{b}.npy"), "w+", np.float16,
                                           (len(rows) * len(VARIANTS), 196, 768)) for b in patch_blocks}
    for j, (path, source) in enumerate(progress_iter(rows, "hand-edit variants")):
        rgb = decode_image(path.read_bytes(), MediaLimits()).rgb
        faces = det.detect(rgb)
        if not faces or faces[0].mesh is None:
            continue
        crop, m = faces[0].aligned(rgb, spec.size, spec.margin)
        mesh = transform_points(faces[0].mesh, m).astype(np.float32)
        for v, name in enumerate(VARIANTS):
            rng = np.random.default_rng([shard[0], j, v, 26])
            img, mask = variant(name, crop, mesh, rng)
            img = channel(img, rng)
            if sample_dir is not None and j < 6:
                sample_dir.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(sample_dir / f"{shard[0]}-{j}-{name}.jpg"), img[:, :, ::-1])
            x = (img.astype(np.float32) / 255.0 - MEAN) / STD
            outs = clip.session.run(None, {"pixel_values": x.transpose(2, 0, 1)[None]})
            blocks = [o[0] for o in outs[2:]] + [outs[1][0]]
            c = np.stack([b[0] for b in blocks])
            p = np.stack([b[1:].mean(0) for b in blocks])
            for b, arr in tokens.items():
                arr[len(keys)] = blocks[b][1:].astype(np.float16)
            cells = cv2.resize(mask, (14, 14), interpolation=cv2.INTER_AREA)
            edited.append(cells.reshape(-1).astype(np.float16))
            keys.append(str(path))
            srcs.append(source)
            kinds.append(name)
            logits.append(float(ff.run(img[None])[0][0]))
            cls.append(c[4:].astype(np.float16))
            patch.append(p[4:].astype(np.float16))
    np.savez(out, key=np.array(keys), source=np.array(srcs), kind=np.array(kinds),
             ff_logit=np.array(logits, np.float32), cls=np.stack(cls), patch=np.stack(patch),
             edited=np.stack(edited))
    for arr in tokens.values():
        arr.flush()


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from fakescope.evaluation.metrics import auc

    return float(auc(np.concatenate([np.zeros(len(neg)), np.ones(len(pos))]), np.concatenate([neg, pos])))


def report(paths: list[Path], k: int, l2: float) -> None:
    from fakescope.train.generated_head import fit_scorer, folds_of, unit_blocks

    zs = [np.load(p) for p in paths]
    d = {n: np.concatenate([z[n] for z in zs]) for n in zs[0].files}
    kind, src = d["kind"], d["source"]
    x_clip = np.concatenate([unit_blocks(d["cls"]), unit_blocks(d["patch"])], 1)
    sets = {
        "face-forgery 1.1.0 (shipped, no fitting)": None,
        "CLIP blocks 4-11, fitted on sbi_face": ("sbi_face",),
        "CLIP blocks 4-11, fitted on sbi_part": ("sbi_part",),
        "CLIP blocks 4-11, fitted on both": FITTED,
        "CLIP blocks 4-11 + face-forgery logit, both": FITTED,
    }
    fold = folds_of(src, (kind != "real").astype(int), k)
    fid = np.array([fold[s] for s in src])
    print(f"{int((kind == 'real').sum())} real faces, {len(set(src))} sources, {k} folds held out by source")
    print("| reading | " + " | ".join(f"AUC {v}" for v in VARIANTS[1:])
          + " | reals called fake (5 % rule) | worst source |")
    print("|---" * (len(VARIANTS) + 2) + "|")
    for name, fitted in sets.items():
        score = np.full(len(kind), np.nan)
        called = np.zeros(len(kind), bool)
        if fitted is None:
            score = d["ff_logit"].astype(np.float64)
            for f in range(k):
                te, tr = fid == f, (fid != f) & (kind == "real")
                called[te] = score[te] > np.quantile(score[tr], 0.95)
        else:
            x = x_clip if "logit" not in name else np.concatenate([x_clip, d["ff_logit"][:, None]], 1)
            use = np.isin(kind, ("real", *fitted))
            for f in range(k):
                tr, te = use & (fid != f), fid == f
                w, b = fit_scorer(x[tr], (kind[tr] != "real").astype(float), l2)
                score[te] = x[te] @ w + b
                train_real = (fid != f) & (kind == "real")
                called[te] = score[te] > np.quantile(x[train_real] @ w + b, 0.95)
        real = kind == "real"
        aucs = [_auc(score[kind == v], score[real]) for v in VARIANTS[1:]]
        per = {s: called[real & (src == s)].mean() for s in set(src[real]) if (real & (src == s)).sum() >= 20}
        worst = max(per, key=per.get)  # type: ignore[arg-type]
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aucs)
              + f" | {called[real].mean():.1%} | {worst} {per[worst]:.1%} |")


def _top_mean(x: np.ndarray, n: int = 5) -> np.ndarray:
    return np.sort(x, axis=1)[:, -n:].mean(1)


def patch_report(paths: list[Path], block: int, k: int, l2: float, fitted: tuple[str, ...],
                 out: Path | None = None) -> None:
    """A logistic head on single patch tokens, fitted to tell edited patches from untouched
    ones (of edited and of real faces); a face's score is the mean of its 5 highest patches."""
    from fakescope.train.generated_head import fit_scorer, folds_of

    zs = [np.load(p) for p in paths]
    d = {n: np.concatenate([z[n] for z in zs]) for n in zs[0].files}
    toks = [np.load(p.with_suffix(f".patches-b{block}.npy"), mmap_mode="r")[:len(z["kind"])]
            for p, z in zip(paths, zs, strict=True)]
    tok = np.concatenate(toks)  # (N, 196, 768) float16, read into memory once
    kind, src, edited = d["kind"], d["source"], d["edited"].astype(np.float32)
    fold = folds_of(src, (kind != "real").astype(int), k)
    fid = np.array([fold[s] for s in src])
    rng = np.random.default_rng(0)

    def unit(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-6)

    logits = np.zeros((len(kind), 196), np.float32)
    thr_rows: dict[int, np.ndarray] = {}
    cell_auc: dict[str, list[float]] = {v: [] for v in VARIANTS[1:]}
    for f in range(k):
        rows, ys = [], []
        for i in np.flatnonzero((fid != f) & np.isin(kind, ("real", *fitted))):
            if kind[i] == "real":
                pick = rng.choice(196, 8, replace=False)
                rows.append(tok[i, pick])
                ys.append(np.zeros(8))
                continue
            pos = np.flatnonzero(edited[i] >= 0.3)
            neg = np.flatnonzero(edited[i] == 0)
            pos = rng.choice(pos, min(8, len(pos)), replace=False) if len(pos) else pos
            neg = rng.choice(neg, min(4, len(neg)), replace=False) if len(neg) else neg
            rows.append(tok[i, np.concatenate([pos, neg])])
            ys.append(np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]))
        x, y = unit(np.concatenate(rows)), np.concatenate(ys)
        w, b = fit_scorer(x.astype(np.float64), y, l2)
        w32 = w.astype(np.float32)
        te = np.flatnonzero(fid == f)
        for i in te:
            logits[i] = unit(tok[i]) @ w32 + b
        tr_real = np.flatnonzero((fid != f) & (kind == "real"))
        thr_rows[f] = np.stack([unit(tok[i]) @ w32 + b for i in tr_real])
        for i in te:
            hit = edited[i] >= 0.3
            if kind[i] != "real" and hit.any() and (~hit).any():
                cell_auc[str(kind[i])].append(_auc(logits[i][hit], logits[i][~hit]))
        print(f"fold {f}: {len(y)} patches fitted", flush=True)
    real = kind == "real"
    aggregations = {
        "top-5 mean": lambda z: _top_mean(z, 5),
        "top-1": lambda z: _top_mean(z, 1),
        "top-20 mean": lambda z: _top_mean(z, 20),
        "top-5 mean minus median": lambda z: _top_mean(z, 5) - np.median(z, axis=1),
    }
    for agg_name, agg in aggregations.items():
        score = agg(logits)
        called = np.zeros(len(kind), bool)
        for f in range(k):
            te = fid == f
            called[te] = score[te] > np.quantile(agg(thr_rows[f]), 0.95)
        per = {s: called[real & (src == s)].mean() for s in set(src[real]) if (real & (src == s)).sum() >= 20}
        worst = max(per, key=per.get)  # type: ignore[arg-type]
        print(f"| block {block} patches, fitted on {'+'.join(fitted)}, {agg_name} | "
              + " | ".join(f"{_auc(score[kind == v], score[real]):.3f}" for v in VARIANTS[1:])
              + f" | {called[real].mean():.1%} | {worst} {per[worst]:.1%} |")
    print("where (mean over edited faces of the cell-level AUC): "
          + ", ".join(f"{v} {np.mean(a):.3f}" for v, a in cell_auc.items() if a))
    if out is not None:
        np.savez(out, logits=logits, kind=kind, source=src, fold=fid, edited=edited)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("features")
    f.add_argument("--aligned", type=Path, action="append", default=[])
    f.add_argument("--faces", type=Path, action="append", default=[])
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--shard", default="0/1")
    f.add_argument("--samples", type=Path, help="write the first faces' variants here")
    f.add_argument("--patch-blocks", default="", help="blocks whose every patch token is kept, e.g. 5,8")
    r = sub.add_parser("report")
    r.add_argument("features", type=Path, nargs="+")
    r.add_argument("--k", type=int, default=5)
    r.add_argument("--l2", type=float, default=1.0)
    r.add_argument("--patch-block", type=int, help="the patch-token head of this block instead")
    r.add_argument("--fit", default=",".join(FITTED), help="edit kinds fitted on (patch head)")
    r.add_argument("--out", type=Path, help="the patch head's held-out patch logits (.npz)")
    a = ap.parse_args()
    if a.cmd == "features":
        i, n = (int(v) for v in a.shard.split("/"))
        features(a.aligned + a.faces, a.out, (i, n), a.samples,
                 [int(b) for b in a.patch_blocks.split(",") if b])
    elif a.patch_block is not None:
        patch_report(a.features, a.patch_block, a.k, a.l2, tuple(a.fit.split(",")), a.out)
    else:
        report(a.features, a.k, a.l2)


if __name__ == "__main__":
    main()
