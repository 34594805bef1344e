"""Face swaps in video, as far as the data here allows: DFDC dev face crops (real and
swapped) animated into short H.264 clips with slow head-like motion.

    python scripts/dfdc_clips.py --data ../shared/data/faces/dfdc-dev --out runs/dfdc-clips
    fakescope eval runs/dfdc-clips

The video dev set holds talking heads only; this checks that a face swap the frame model
sees in a photo is still seen once it is a moving, re-encoded clip and goes through the
video fusion (sampling, tracks, trimmed mean, temporal analyzers, the video card). The
crops are stills, so there is no blinking and no speech: the temporal analyzers have no
opinion, as on any clip this short.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fakescope.progress import progress_iter


def write_clip(face: np.ndarray, path: Path, seconds: float = 3.0, fps: int = 25,
               size: tuple[int, int] = (640, 480)) -> None:
    import av

    img = cv2.resize(face, (448, 448), interpolation=cv2.INTER_CUBIC)
    w, h = size
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for k in range(int(seconds * fps)):
            t = k / fps
            m = cv2.getRotationMatrix2D((224, 224), 1.5 * np.sin(t * 1.3), 1.0)
            m[:, 2] += [w / 2 - 224 + 8 * np.sin(t * 0.7), h / 2 - 224 + 4 * np.sin(t * 1.1)]
            frame = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a faces folder with labels.csv")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rows = list(csv.DictReader((args.data / "labels.csv").open()))
    rng = random.Random(args.seed)
    picked = [r for label in ("real", "fake")
              for r in rng.sample([r for r in rows if r["label"] == label], args.per_class)]
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "labels.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", "label", "source"])
        for i, r in enumerate(progress_iter(picked, "clips")):
            name = f"{i:03d}_{r['label']}.mp4"
            write_clip(np.array(Image.open(args.data / r["file"]).convert("RGB")), args.out / name)
            out.writerow([name, r["label"], r["file"]])
    print(f"wrote {len(picked)} clips and labels.csv to {args.out}")


if __name__ == "__main__":
    main()
