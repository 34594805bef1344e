"""Turn a labelled face folder into aligned training crops, through the runtime's own
face pipeline, so that training sees exactly what ``scan`` will feed the model.

The result is one ``.npz`` per (folder, size, margin), reused across training runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fakescope.config import MediaLimits
from fakescope.datasets import LabelledItem, read_labels
from fakescope.errors import FakescopeError
from fakescope.faces.align import transform_points
from fakescope.faces.detector import get_detector
from fakescope.media import decode, read_file
from fakescope.progress import progress_iter


@dataclass
class PreparedFaces:
    crops: np.ndarray  # (N, S, S, 3) uint8 aligned faces
    mesh: np.ndarray  # (N, 478, 2) float32 FaceMesh points in crop pixels; NaN when absent
    labels: np.ndarray  # (N,) int8, 1 = fake
    groups: np.ndarray  # (N,) str
    files: np.ndarray  # (N,) str
    found: np.ndarray  # (N,) bool: a face was detected (else the row is a centred resize)

    def subset(self, idx: np.ndarray) -> PreparedFaces:
        return PreparedFaces(
            self.crops[idx], self.mesh[idx], self.labels[idx], self.groups[idx],
            self.files[idx], self.found[idx],
        )


def cache_path(root: Path, size: int, margin: float, cache_dir: Path) -> Path:
    key = hashlib.sha1(f"{root.resolve()}|{size}|{margin}".encode()).hexdigest()[:10]
    return cache_dir / f"{root.name}-{size}-{margin:g}-{key}.npz"


def prepare(root: Path, size: int, margin: float, cache_dir: Path) -> PreparedFaces:
    out = cache_path(root, size, margin, cache_dir)
    if out.exists():
        z = np.load(out, allow_pickle=False)
        return PreparedFaces(**{k: z[k] for k in z.files})
    items = read_labels(root)
    data = _align_all(items, size, margin)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **data.__dict__)
    tmp.replace(out)
    return data


def _align_all(items: list[LabelledItem], size: int, margin: float) -> PreparedFaces:
    det = get_detector()
    limits = MediaLimits()
    n = len(items)
    crops = np.zeros((n, size, size, 3), np.uint8)
    mesh = np.full((n, 478, 2), np.nan, np.float32)
    found = np.zeros(n, bool)
    for i, it in enumerate(progress_iter(items, "aligning faces")):
        try:
            media = decode(read_file(it.path, limits), limits)
        except FakescopeError:
            continue
        faces = det.detect(media.rgb)
        if not faces:
            # Keep the row (labels stay aligned with files) but mark it: training skips it.
            crops[i] = cv2.resize(media.rgb, (size, size), interpolation=cv2.INTER_AREA)
            continue
        face = faces[0]
        crop, m = face.aligned(media.rgb, size, margin)
        crops[i] = crop
        if face.mesh is not None:
            mesh[i] = transform_points(face.mesh, m).astype(np.float32)
        found[i] = True
    return PreparedFaces(
        crops=crops,
        mesh=mesh,
        labels=np.array([it.label for it in items], np.int8),
        groups=np.array([it.group for it in items]),
        files=np.array([it.file for it in items]),
        found=found,
    )
