"""Faces found once per item and shared by every analyzer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass
class Face:
    box: np.ndarray  # (4,) x0, y0, x1, y1 in image pixels
    score: float  # detector confidence 0..1
    landmarks5: np.ndarray  # (5, 2) image pixels, order in fakescope.faces.align
    mesh: np.ndarray | None = None  # (478, 2) FaceMesh landmarks in image pixels
    landmarks_source: Literal["facemesh", "detector"] = "facemesh"
    # Aligned crops by (size, margin): each analyzer asks for the crop its model card states.
    crops: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def aligned(self, rgb: np.ndarray, size: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
        """The aligned crop and its image->crop matrix, computed once per (size, margin)."""
        key = (size, round(margin, 4))
        if key not in self.crops:
            from fakescope.faces.align import align_face

            self.crops[key] = align_face(rgb, self.landmarks5, size, margin)
        return self.crops[key]
