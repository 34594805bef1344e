"""Two ideas for issue 15's clip model, measured held out by source group and not shipped
(docs/metrics.md, "Video", "Things tried"):

- scene evidence: portrait animation from one still drags the background next to the head
  along with it, or leaves it frozen while the face moves; real footage's background moves
  with the camera, not with the head. Per clip: Farneback flow magnitude in the face, in a
  ring around it and in the background further out (frames scaled so the face is 80 px
  wide), their ratios, the correlation of the face's motion with the ring's and the
  background's, and the temporal second difference of pixels (flicker) over spatial detail
  in the face and the background;
- the generated-image model on frames at a normalised size: in these sets its median crop
  logit on real clips grows with the clip's width (Spearman 0.57), so it partly reads size;
  frames brought to 256 or 320 px wide, or to a face 100 or 160 px wide, remove that.

    python scripts/video_scene_study.py extract --set dev=../shared/data/video/dev \
        --set gen2=../shared/data/video/gen2 --out runs/scene/study.jsonl
    python scripts/video_scene_study.py compare runs/v15/pipe.jsonl runs/scene/study.jsonl

``compare`` joins the per-clip values to ``scripts/video_features.py extract``'s features
and prints each value's AUC (all clips, by width, by set) and the shipped clip model with
the value added (or with the generated-image median logit replaced), held out by group.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import av
import cv2
import numpy as np

FACE_W = 80.0  # px: the face's width after scaling, for the scene statistics
SCENE_FPS_STEP = 2  # every 2nd frame of 25 fps clips
MAX_S = 10.0
GEN_FRAMES = 8
GEN_WIDTHS = (256, 320)
GEN_FACES = (100, 160)


def _video_features():  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name("video_features.py")
    spec = importlib.util.spec_from_file_location("video_features", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        out = []
        for i, fr in enumerate(c.decode(s)):
            t = float(fr.pts * s.time_base) if fr.pts is not None else i / 25
            if t > MAX_S:
                break
            out.append(fr.to_ndarray(format="rgb24"))
    return out


def _largest_box(detector, rgb: np.ndarray) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    faces = detector.detect(rgb, tiles=False)
    return max(faces, key=lambda f: f.box[2] - f.box[0]).box.copy() if faces else None


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(0), b - b.mean(0)
    den = float(np.sqrt((a ** 2).sum() * (b ** 2).sum()))
    return float((a * b).sum() / den) if den > 1e-9 else 0.0


def scene_stats(frames: list[np.ndarray], detector) -> dict[str, float] | None:  # type: ignore[no-untyped-def]
    grays, boxes, box, prev = [], [], None, None
    for k, rgb in enumerate(frames[::SCENE_FPS_STEP]):
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if prev is not None and np.abs(g - prev).mean() < 0.15:
            continue  # a repeated frame (the 10 fps sources): no motion to read
        prev = g
        if k % 3 == 0 or box is None:
            box = _largest_box(detector, rgb) if box is None or k % 3 == 0 else box
        if box is not None:
            grays.append(g)
            boxes.append(box.copy())
    if len(grays) < 6:
        return None
    f = min(1.0, FACE_W / float(np.median([b[2] - b[0] for b in boxes])))
    h, w = grays[0].shape
    size = (max(16, round(w * f)), max(16, round(h * f)))
    gs = [cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in grays]
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    mag: dict[str, list[float]] = {"face": [], "ring": [], "far": []}
    vec: dict[str, list[np.ndarray]] = {"face": [], "ring": [], "far": []}
    res: dict[str, list[float]] = {"face": [], "far": []}
    spat: dict[str, list[float]] = {"face": [], "far": []}
    for t in range(1, len(gs)):
        b = boxes[t] * f
        cx, cy, bw, bh = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]
        r = np.maximum(np.abs(xx - cx) / (bw / 2), np.abs(yy - cy) / (bh / 2))
        side = yy < cy + 0.6 * bh  # not the torso, which moves with the head in real footage too
        regions = {"face": r < 0.8, "ring": (r > 1.1) & (r < 1.5) & side, "far": (r > 1.6) & side}
        if regions["far"].sum() < 60:  # a tight face crop: take what background there is
            regions["far"] = (r > 1.25) & side
            regions["ring"] = (r > 1.05) & (r < 1.25) & side
        flow = cv2.calcOpticalFlowFarneback(gs[t - 1], gs[t], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        m = np.linalg.norm(flow, axis=2)
        if min(regions["face"].sum(), regions["ring"].sum()) > 20 and regions["far"].sum() > 30:
            for k, sel in regions.items():
                mag[k].append(float(np.median(m[sel])))
                vec[k].append(np.median(flow[sel], axis=0))
        if t < len(gs) - 1 and regions["far"].sum() > 30:
            second = np.abs(gs[t] - 0.5 * (gs[t - 1] + gs[t + 1]))
            lap = np.abs(cv2.Laplacian(gs[t], cv2.CV_32F))
            for k in ("face", "far"):
                res[k].append(float(second[regions[k]].mean()))
                spat[k].append(float(lap[regions[k]].mean()))
    if len(mag["face"]) < 4:
        return None
    med = {k: float(np.median(v)) for k, v in mag.items()}
    v = {k: np.array(x) for k, x in vec.items()}
    eps = 0.01
    out = {
        "ring_vs_face": float(np.log((med["ring"] + eps) / (med["face"] + eps))),
        "far_vs_face": float(np.log((med["far"] + eps) / (med["face"] + eps))),
        "ring_vs_far": float(np.log((med["ring"] + eps) / (med["far"] + eps))),
        "couple_ring": _corr(v["face"], v["ring"]),
        "couple_far": _corr(v["face"], v["far"]),
        "face_motion": med["face"],
    }
    out["couple_excess"] = out["couple_ring"] - out["couple_far"]
    if res["far"]:
        out["bg_flicker"] = float(np.log(np.median(res["far"]) / (np.median(spat["far"]) + 1e-3)))
        out["face_flicker"] = float(np.log(np.median(res["face"]) / (np.median(spat["face"]) + 1e-3)))
        out["bg_vs_face_flicker"] = out["bg_flicker"] - out["face_flicker"]
    return out


def generated_at_scales(frames: list[np.ndarray], detector, gen) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from fakescope.analyzers.generated import cut_crops

    size = gen.card.input.size
    picked = [frames[i] for i in np.linspace(0, len(frames) - 1, GEN_FRAMES).round().astype(int)]
    widths = [b[2] - b[0] for b in (_largest_box(detector, f) for f in picked) if b is not None]
    face_w = float(np.median(widths)) if widths else None

    def median_logit(rgb: np.ndarray) -> float:
        return float(np.median(gen.run(cut_crops(rgb, size)[0])[0]))

    def scaled(rgb: np.ndarray, k: float) -> np.ndarray:
        h, w = rgb.shape[:2]
        if k >= 1.0:
            return rgb
        new = (max(size, round(w * k)), max(size, round(h * k)))
        return cv2.resize(rgb, new, interpolation=cv2.INTER_AREA)

    vals: dict[str, list[float]] = {}
    for rgb in picked:
        w = rgb.shape[1]
        vals.setdefault("gen_native", []).append(median_logit(rgb))
        for target in GEN_WIDTHS:
            vals.setdefault(f"gen_w{target}", []).append(median_logit(scaled(rgb, target / w)))
        for target in GEN_FACES:
            k = target / face_w if face_w else 1.0
            vals.setdefault(f"gen_face{target}", []).append(median_logit(scaled(rgb, k)))
    return {k: float(np.median(v)) for k, v in vals.items()}


def extract(sets: list[str], out: Path) -> None:
    from fakescope.analyzers.generated import GeneratedImageAnalyzer
    from fakescope.faces.detector import FaceDetector
    from fakescope.progress import progress_iter

    vf = _video_features()
    detector, gen = FaceDetector(), GeneratedImageAnalyzer()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        for name, root, row in progress_iter(vf.pending(sets, out), "clips"):
            frames = _decode(root / row["file"])
            rec: dict[str, object] = {"set": name, "file": row["file"]}
            if frames:
                rec.update(scene_stats(frames, detector) or {})
                rec.update(generated_at_scales(frames, detector, gen))
            fh.write(json.dumps(rec) + "\n")
            fh.flush()


def compare(features: Path, study: Path) -> None:
    from scipy.stats import spearmanr

    vf = _video_features()
    extra = {(r["set"], r["file"]): r for r in map(json.loads, study.read_text().splitlines())}
    rows = []
    for r in map(json.loads, features.read_text().splitlines()):
        e = extra.get((r["set"], r["file"]), {})
        rows.append({**r, **{f"study.{k}": v for k, v in e.items() if k not in ("set", "file")}})
    keys = sorted({k for r in rows for k in r if k.startswith("study.")})
    y = np.array([r["label"] for r in rows])
    wide = np.array([r["width"] >= 480 for r in rows])
    sets = np.array([r["set"] for r in rows])
    ff = vf.design(rows, vf.GROUPS["frames"])[:, 0]
    print(f"{'value (AUC as a score)':26s} {'all':>6s} {'wide':>6s} {'narrow':>6s} " +
          " ".join(f"{s:>6s}" for s in sorted(set(sets))) + "  rho(width, real clips)")
    for k in keys:
        v = np.array([r.get(k) if r.get(k) is not None else np.nan for r in rows], float)
        real = (y == 0) & np.isfinite(v)
        rho = spearmanr([r["width"] for r, ok in zip(rows, real, strict=True) if ok], v[real])[0]
        cells = [vf.auc(y, v), vf.auc(y[wide], v[wide]), vf.auc(y[~wide], v[~wide]),
                 *(vf.auc(y[sets == s], v[sets == s]) for s in sorted(set(sets)))]
        print(f"{k[6:]:26s} " + " ".join(f"{c:6.3f}" for c in cells) + f"  {rho:6.2f}")

    def held_out(name: str, feats: list[tuple[str, float]]) -> None:
        s = vf.out_of_fold(rows, feats, vf.SHIPPED_L2)
        m = np.maximum(s, ff)  # both logits
        # At a threshold calling 8 % of all real clips fake: the wide clips called fake.
        t = np.quantile(m[y == 0], 0.92)
        flagged = f"{int(((m >= t) & wide & (y == 0)).sum())}/{int((wide & (y == 0)).sum())}, " \
                  f"{int(((m >= t) & wide & (y == 1)).sum())}/{int((wide & (y == 1)).sum())}"
        print(f"{name:46s} {vf.auc(y, s):6.3f} {vf.auc(y, m):6.3f} {vf.auc(y[wide], s[wide]):6.3f} "
              f"{vf.auc(y[~wide], s[~wide]):6.3f}  {flagged}")

    print(f"\n{'clip model, held out by source group':46s} "
          f"{'AUC':>6s} {'+face':>6s} {'wide':>6s} {'narrow':>6s}  wide real, fake called fake")
    shipped = [f for g in vf.SHIPPED for f in vf.GROUPS[g]]
    held_out("shipped", shipped)
    for k in keys:
        if k.startswith("study.gen_"):
            swapped = [(k, 0.0) if f == "generated.median_logit" else (f, a) for f, a in shipped]
            held_out(f"shipped, generated median {k[10:]}", swapped)
        else:
            held_out(f"shipped + {k[6:]}", [*shipped, (k, 0.0)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--set", action="append", required=True, help="name=folder with labels.csv")
    e.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("features", type=Path, help="scripts/video_features.py extract's output")
    c.add_argument("study", type=Path, help="this script's extract output")
    args = ap.parse_args()
    if args.cmd == "extract":
        extract(args.set, args.out)
    else:
        compare(args.features, args.study)


if __name__ == "__main__":
    main()
