"""Study (issue 15): what the face and generated-image networks' penultimate features say
about talking heads, held out by generator.

    python scripts/video_embed.py extract --set dev=../shared/data/video/dev \
        --set gen2=../shared/data/video/gen2 --out runs/v15/emb.npz
    python scripts/video_embed.py probe runs/v15/emb.npz runs/v15/features.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

FRAMES = 8


def extract(sets: list[str], out: Path, ff_onnx: Path, gen_onnx: Path) -> None:
    import onnxruntime as ort

    from fakescope.analyzers.face_forgery import FaceForgeryAnalyzer
    from fakescope.analyzers.generated import GeneratedImageAnalyzer, cut_crops
    from fakescope.config import ScanSettings
    from fakescope.media import decode, read_file
    from fakescope.progress import progress_iter
    from fakescope.scan.scanner import Scanner

    scanner = Scanner(ScanSettings(analyzers=["face-forgery"]))
    ff, gen = FaceForgeryAnalyzer(), GeneratedImageAnalyzer()
    ff_s, gen_s = ort.InferenceSession(str(ff_onnx)), ort.InferenceSession(str(gen_onnx))
    spec = ff.card.input
    keys, face_emb, frame_emb, n_face = [], [], [], []
    todo = []
    for s in sets:
        name, root = s.split("=", 1)
        with open(Path(root) / "labels.csv", newline="", encoding="utf-8") as fh:
            todo += [(name, Path(root), r["file"]) for r in csv.DictReader(fh)]
    limits = scanner.settings.limits
    for name, root, file in progress_iter(todo, "clips"):
        media = decode(read_file(root / file, limits), limits)
        fe, ge = [], []
        for fr in media.frames_at(media.sample_times(FRAMES)):
            crops, _ = cut_crops(fr.rgb, gen.card.input.size)
            x = (crops.transpose(0, 3, 1, 2).astype(np.float32) - gen._mean) * gen._scale
            ge.append(gen_s.run(["embedding"], {"input": x})[0].mean(0))
            faces = [f for f in scanner.detector.detect(fr.rgb) if f.why_not_judged() is None]
            if faces:
                f = max(faces, key=lambda f: f.eye_distance)
                crop, _ = f.aligned(fr.rgb, spec.size, spec.margin)
                fe.append(ff_s.run(["embedding"], {"input": ff.preprocess(crop[None])})[0][0])
        keys.append(f"{name}|{file}")
        frame_emb.append(np.mean(ge, 0) if ge else np.full(1280, np.nan))
        face_emb.append(np.mean(fe, 0) if fe else np.full(1280, np.nan))
        n_face.append(len(fe))
    np.savez_compressed(out, keys=np.array(keys), face=np.array(face_emb, np.float32),
                        frame=np.array(frame_emb, np.float32), n_face=np.array(n_face))


def probe(emb: Path, features: Path, dims: int, l2: float) -> None:
    from video_features import auc, balanced_weights, fit_logistic

    z = np.load(emb)
    rows = {f"{r['set']}|{r['file']}": r for r in map(json.loads, features.read_text().splitlines())}
    keys = [k for k in z["keys"] if k in rows]
    idx = [list(z["keys"]).index(k) for k in keys]
    rs = [rows[k] for k in keys]
    y = np.array([r["label"] for r in rs], float)
    groups = np.array([f"{r['set']}:{r['group']}" for r in rs])
    methods = sorted({r["method"] for r in rs if r["label"] == 1})
    for what in ("face", "frame", "both"):
        x = np.hstack([z["face"][idx], z["frame"][idx]]) if what == "both" else z[what][idx]
        ok = np.isfinite(x).all(1)
        out = np.full(len(rs), np.nan)
        for g in np.unique(groups):
            test, train = (groups == g) & ok, (groups != g) & ok
            if not test.any():
                continue
            mu = x[train].mean(0)
            vt = np.linalg.svd(x[train] - mu, full_matrices=False)[2]
            p = vt[:dims].T
            sub = [r for r, t in zip(rs, train, strict=True) if t]
            coef, b, m2, sd = fit_logistic((x[train] - mu) @ p, y[train], balanced_weights(sub), l2)
            out[test] = (((x[test] - mu) @ p - m2) / sd) @ coef + b
        per = [auc(y[sel], out[sel]) for sel in (np.array([(r["label"] == 0) or (r["method"] == m)
                                                          for r in rs]) for m in methods)]
        print(f"{what:6s} dims {dims:3d} l2 {l2:g}: pooled {auc(y, out):.3f} mean/method "
              f"{np.nanmean(per):.3f}  " + " ".join(f"{m[:6]}={a:.2f}" for m, a in zip(methods, per,
                                                                                          strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--set", action="append", required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--ff-onnx", type=Path, default=Path("runs/v15/face-forgery-emb.onnx"))
    e.add_argument("--gen-onnx", type=Path, default=Path("runs/v15/generated-emb.onnx"))
    p = sub.add_parser("probe")
    p.add_argument("emb", type=Path)
    p.add_argument("features", type=Path)
    p.add_argument("--dims", type=int, default=16)
    p.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args()
    if args.cmd == "extract":
        extract(args.set, args.out, args.ff_onnx, args.gen_onnx)
    else:
        probe(args.emb, args.features, args.dims, args.l2)


if __name__ == "__main__":
    main()
