"""The ONNX face models against mediapipe 0.10.21, the pipeline they replace.

    python scripts/face_models_check.py reference tests/face_models_reference.json
    python scripts/face_models_check.py measure [--faces N] [--videos N] [--record]

Both need mediapipe 0.10.21 importable (``pip install --no-deps mediapipe==0.10.21`` plus
``protobuf<5 absl-py attrs flatbuffers``, in a scratch environment: fakescope itself does
not use it any more).

``reference`` writes what mediapipe gives on the project's generated test images (the
astronaut portrait, a group photo, a tight crop, a rotated copy): detector boxes, scores
and keypoints and the 478 FaceMesh points. tests/test_face_models.py holds the ONNX
pipeline to it, so CI checks parity without mediapipe.

``measure`` compares, on dfdc-dev face crops, real photos and video/dev frames:
detection recall (faces mediapipe found that fakescope finds), faces found that mediapipe
did not, box and keypoint differences and landmark error in eye distances, for each of
``FaceDetector.detect`` (the pipeline) and the tracking landmarker of the video analyzers.
``--record`` writes the figures into the three model cards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def mediapipe_pipeline():  # type: ignore[no-untyped-def]
    """mediapipe's three solutions configured as fakescope used them before the ONNX models."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    import mediapipe as mp

    fd = mp.solutions.face_detection
    short = fd.FaceDetection(model_selection=0, min_detection_confidence=0.5)
    full = fd.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                           refine_landmarks=True, min_detection_confidence=0.3)
    return mp, short, full, mesh


def mp_detections(model, rgb: np.ndarray) -> list[dict]:  # type: ignore[no-untyped-def]
    h, w = rgb.shape[:2]
    out = []
    for det in model.process(rgb).detections or []:
        rb = det.location_data.relative_bounding_box
        out.append({"box": [rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h],
                    "score": float(det.score[0]),
                    "keypoints": [[k.x * w, k.y * h] for k in det.location_data.relative_keypoints]})
    return out


def mp_mesh(mesh, rgb: np.ndarray) -> list[list[float]] | None:  # type: ignore[no-untyped-def]
    res = mesh.process(rgb)
    if not res.multi_face_landmarks:
        return None
    h, w = rgb.shape[:2]
    return [[p.x * w, p.y * h] for p in res.multi_face_landmarks[0].landmark]


def reference_images() -> dict[str, np.ndarray]:
    from fakescope.demo import astronaut, group_photo, tight_crop

    a = astronaut()
    return {"astronaut": a, "group": group_photo(a), "tight_crop": tight_crop(a),
            "rotated": np.ascontiguousarray(np.rot90(a, 1)[:, :, :])}


def write_reference(out: Path) -> None:
    _, short, full, mesh = mediapipe_pipeline()
    ref = {"mediapipe": "0.10.21", "images": {}}
    for name, rgb in reference_images().items():
        r4 = lambda v: np.round(np.asarray(v, float), 3).tolist()  # noqa: E731
        m = mp_mesh(mesh, rgb)
        ref["images"][name] = {
            "short": [{k: (r4(v) if k != "score" else round(v, 5)) for k, v in d.items()}
                      for d in mp_detections(short, rgb)],
            "full": [{k: (r4(v) if k != "score" else round(v, 5)) for k, v in d.items()}
                     for d in mp_detections(full, rgb)],
            "mesh": r4(m) if m is not None else None,
        }
    out.write_text(json.dumps(ref, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def _old_detector():  # type: ignore[no-untyped-def]
    """mediapipe's detector with fakescope's own search (tiles, padded retry, mesh
    window), as FaceDetector ran before: the same code path with mediapipe's models."""
    from fakescope.faces import detector as det_mod

    _, short, full, mesh = mediapipe_pipeline()

    class Old(det_mod.FaceDetector):
        def __init__(self) -> None:
            super().__init__()
            self._mp = (short, full, mesh)

        def _detect_boxes(self, rgb, tiles=True):  # type: ignore[no-untyped-def]
            saved = self._short, self._full
            self._short, self._full = _Wrap(short), _Wrap(full)
            try:
                return super()._detect_boxes(rgb, tiles)
            finally:
                self._short, self._full = saved

        def _mesh_for(self, rgb, box):  # type: ignore[no-untyped-def]
            saved = self._mesh_detector, self._mesh
            self._mesh_detector, self._mesh = _WrapMeshDet(), _WrapMesh(mesh)
            try:
                return super()._mesh_for(rgb, box)
            finally:
                self._mesh_detector, self._mesh = saved

    return Old()


class _Det:
    def __init__(self, d: dict) -> None:
        self.box, self.score, self.keypoints = np.array(d["box"]), d["score"], np.array(d["keypoints"])


class _Wrap:
    def __init__(self, model) -> None:  # type: ignore[no-untyped-def]
        self.model = model

    def __call__(self, rgb: np.ndarray) -> list[_Det]:
        return [_Det(d) for d in mp_detections(self.model, rgb)]


class _WrapMeshDet:
    """mediapipe's static FaceMesh detects inside the window itself."""

    def __call__(self, rgb: np.ndarray) -> list[_Det]:
        return [_Det({"box": [0, 0, 1, 1], "score": 1.0, "keypoints": [[0, 0]] * 6})]


class _WrapMesh:
    def __init__(self, mesh) -> None:  # type: ignore[no-untyped-def]
        self.mesh = mesh

    def __call__(self, rgb: np.ndarray, roi) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
        m = mp_mesh(self.mesh, rgb)
        return (np.array(m), 1.0) if m is not None else (np.zeros((478, 2)), 0.0)


def measure(n_faces: int, n_videos: int, record: bool) -> dict:
    import av
    import cv2

    from fakescope.faces.detector import FaceDetector
    from fakescope.faces.landmark_series import DenseLandmarker

    mp, *_ = mediapipe_pipeline()
    old, new = _old_detector(), FaceDetector()
    rng = random.Random(0)
    faces = sorted((DATA / "faces" / "dfdc-dev").glob("*/*.jpg"))
    rng.shuffle(faces)
    photos = sorted((DATA / "photos").glob("*/*.jpg"))
    sets = {"dfdc-dev faces": faces[:n_faces], "real photos": photos}
    out: dict = {}
    for label, files in sets.items():
        found_old = found_both = extra = 0
        lm_err, box_err = [], []
        for f in files:
            bgr = cv2.imread(str(f))
            if bgr is None:
                continue
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            a, b = old.detect(rgb), new.detect(rgb)
            found_old += len(a)
            for fa in a:
                best = max(b, key=lambda fb: _iou(fa.box, fb.box), default=None)
                if best is None or _iou(fa.box, best.box) < 0.5:
                    continue
                found_both += 1
                eye = max(float(np.linalg.norm(fa.landmarks5[1] - fa.landmarks5[0])), 1.0)
                lm_err.append(float(np.abs(fa.landmarks5 - best.landmarks5).max()) / eye)
                box_err.append(float(np.abs(fa.box - best.box).max()) / max(fa.box[2] - fa.box[0], 1.0))
            extra += max(0, len(b) - len(a))
        out[label] = {"files": len(files), "faces_mediapipe": found_old,
                      "recall": found_both / max(found_old, 1), "extra_faces": extra,
                      "landmarks5_err_eye_median": float(np.median(lm_err)) if lm_err else None,
                      "landmarks5_err_eye_max": float(np.max(lm_err)) if lm_err else None,
                      "box_err_width_max": float(np.max(box_err)) if box_err else None}
        print(json.dumps({label: out[label]}))
    # the tracking landmarker on video/dev clips, first 3 s of each
    clips = sorted((DATA / "video" / "dev").glob("*/*.mp4"))
    rng.shuffle(clips)
    frames = agree = 0
    err = []
    for clip in clips[:n_videos]:
        mesh_mp = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                  refine_landmarks=True, min_detection_confidence=0.5,
                                                  min_tracking_confidence=0.5)
        ours = DenseLandmarker()
        with av.open(str(clip)) as c:
            for k, fr in enumerate(c.decode(video=0)):
                if k >= 75:
                    break
                rgb = fr.to_ndarray(format="rgb24")
                a, b = mp_mesh(mesh_mp, rgb), ours(rgb)
                frames += 1
                if (a is None) == (b is None):
                    agree += 1
                if a is not None and b is not None:
                    a = np.array(a)
                    eye = max(float(np.linalg.norm(a[468] - a[473])), 1.0)
                    err.append(float(np.abs(a - b).max()) / eye)
        mesh_mp.close()
    out["video/dev tracking"] = {"clips": min(n_videos, len(clips)), "frames": frames,
                                 "presence_agreement": agree / max(frames, 1),
                                 "mesh_err_eye_median": float(np.median(err)) if err else None,
                                 "mesh_err_eye_max": float(np.max(err)) if err else None}
    print(json.dumps({"video/dev tracking": out["video/dev tracking"]}))
    if record:
        _record(out, n_faces, n_videos)
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _record(out: dict, n_faces: int, n_videos: int) -> None:
    from fakescope.models import card_path
    from fakescope.models.card import Metric, ModelCard

    cmd = f"python scripts/face_models_check.py measure --faces {n_faces} --videos {n_videos} --record"
    today = dt.date.today()
    faces, photos, video = out["dfdc-dev faces"], out["real photos"], out["video/dev tracking"]
    per_model = {
        "face-detect-short": [
            Metric(dataset="dfdc-dev faces", name="detection recall vs mediapipe (pipeline)",
                   value=faces["recall"], n=faces["faces_mediapipe"], command=cmd, measured=today),
            Metric(dataset="real photos", name="detection recall vs mediapipe (pipeline)",
                   value=photos["recall"], n=photos["faces_mediapipe"], command=cmd, measured=today),
        ],
        "face-detect-full": [
            Metric(dataset="dfdc-dev faces", name="largest box difference vs mediapipe (box widths)",
                   value=faces["box_err_width_max"] or 0.0, n=faces["faces_mediapipe"], command=cmd,
                   measured=today),
        ],
        "face-mesh": [
            Metric(dataset="dfdc-dev faces", name="median 5-point landmark error vs mediapipe "
                   "(eye distances)",
                   value=faces["landmarks5_err_eye_median"] or 0.0, n=faces["faces_mediapipe"], command=cmd,
                   measured=today),
            Metric(dataset="dfdc-dev faces", name="largest 5-point landmark error vs mediapipe "
                   "(eye distances)",
                   value=faces["landmarks5_err_eye_max"] or 0.0, n=faces["faces_mediapipe"], command=cmd,
                   measured=today),
            Metric(dataset="video/dev frames, tracking", name="largest 478-point error vs mediapipe "
                   "(eye distances)", value=video["mesh_err_eye_max"] or 0.0, n=video["frames"], command=cmd,
                   measured=today),
            Metric(dataset="video/dev frames, tracking", name="face-presence agreement with mediapipe",
                   value=video["presence_agreement"], n=video["frames"], command=cmd, measured=today),
        ],
    }
    for name, metrics in per_model.items():
        path = card_path(name)
        card = ModelCard.load(path)
        card.metrics = metrics
        card.save(path)
        print(f"recorded {len(metrics)} metrics in {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reference")
    r.add_argument("out", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("--faces", type=int, default=400)
    m.add_argument("--videos", type=int, default=10)
    m.add_argument("--record", action="store_true")
    args = ap.parse_args()
    if args.cmd == "reference":
        write_reference(args.out)
    else:
        measure(args.faces, args.videos, args.record)


if __name__ == "__main__":
    main()
