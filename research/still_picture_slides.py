"""Study (issue 28): is a still photo moved across the frame told from live footage?

Real portraits and generated people of the pictures corpus are slid, zoomed and turned
across a 640x480 frame for 6 s (H.264, 25 fps); each is scanned, as are the clips of the
given video sets, and the `still-picture` analyzer's residual (90th percentile of the
per-second homography residual) and the verdict are printed per group.

    python research/still_picture_slides.py --pictures DATA/pictures --out runs/slides \\
        --video dev=../shared/data/video/dev --video gen2=../shared/data/video/gen2
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def slide(img: np.ndarray, path: Path, phase: float, seconds: float = 6.0, fps: int = 25,
          size: tuple[int, int] = (640, 480)) -> None:
    import av

    h0, w0 = img.shape[:2]
    f = 420 / max(h0, w0)
    img = cv2.resize(img, (round(w0 * f), round(h0 * f)), interpolation=cv2.INTER_AREA)
    w, h = size
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for k in range(int(seconds * fps)):
            t = k / fps
            m = cv2.getRotationMatrix2D((img.shape[1] / 2, img.shape[0] / 2), 3 * np.sin(t * 1.1 + phase),
                                        1.0 + 0.06 * np.sin(t * 0.5 + phase))
            m[:, 2] += [w / 2 - img.shape[1] / 2 + 60 * np.sin(t * 0.6 + phase),
                        h / 2 - img.shape[0] / 2 + 20 * np.sin(t * 1.3 + phase)]
            frame = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(30, 30, 30))
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def make_slides(pictures: Path, out: Path, n_real: int, n_fake: int, seed: int) -> list[dict[str, str]]:
    with (pictures / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(seed)
    real = rng.sample([r for r in rows if r["label"] == "real" and r["content"] == "portrait"], n_real)
    fake = rng.sample([r for r in rows if r["label"] == "fake" and r["content"] == "people"], n_fake)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for i, r in enumerate(real + fake):
        name = f"slide{i:02d}.mp4"
        if not (out / name).exists():
            slide(np.asarray(Image.open(pictures / r["file"]).convert("RGB")), out / name, i * 0.7)
        made.append({"file": name, "label": "still " + r["label"], "group": "slides"})
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", type=Path, required=True, help="the pictures corpus (labels.csv)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--video", action="append", default=[], help="name=folder with labels.csv")
    ap.add_argument("--real", type=int, default=12)
    ap.add_argument("--fake", type=int, default=6)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.scan.scanner import Scanner

    todo = [(args.out / r["file"], r) for r in make_slides(args.pictures, args.out, args.real, args.fake,
                                                           args.seed)]
    for spec in args.video:
        name, root = spec.split("=", 1)
        with (Path(root) / "labels.csv").open(newline="", encoding="utf-8") as fh:
            todo += [(Path(root) / r["file"], {**r, "group": name}) for r in csv.DictReader(fh)]
    scanner = Scanner(ScanSettings(provenance=ProvenanceSettings(registry=None), explain=False))
    residuals: dict[str, list[float]] = defaultdict(list)
    verdicts: Counter[tuple[str, str, bool | None]] = Counter()
    for path, r in todo:
        rep = scanner.scan(path, str(path))
        sp = next(a for a in rep.analyzers if a.name == "still-picture")
        if sp.details.get("residual") is not None:
            residuals[f"{r['group']} {r['label']}"].append(float(sp.details["residual"]))
        verdicts[(f"{r['group']} {r['label']}", rep.verdict, sp.details.get("still"))] += 1
    for k, v in sorted(residuals.items()):
        print(f"{k:24s} n {len(v):3d}  residual min {min(v):.4f}  median {np.median(v):.4f}  "
              f"max {max(v):.4f}")
    for (k, verdict, still), n in sorted(verdicts.items(), key=str):
        print(f"{k:24s} {verdict:13s} still={still}: {n}")


if __name__ == "__main__":
    main()
