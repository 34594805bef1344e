"""Faces found once per item and shared by every analyzer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# Fewer pixels than this between the eyes and a face model's output is noise, either way.
MIN_EYE_DISTANCE_PX = 18.0


@dataclass
class Face:
    box: np.ndarray  # (4,) x0, y0, x1, y1 in image pixels
    score: float  # detector confidence 0..1
    landmarks5: np.ndarray  # (5, 2) image pixels, order in fakescope.faces.align
    mesh: np.ndarray | None = None  # (478, 2) FaceMesh landmarks in image pixels
    landmarks_source: Literal["facemesh", "detector"] = "facemesh"
    # Aligned crops by (size, margin): each analyzer asks for the crop its model card states.
    crops: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks5[1] - self.landmarks5[0]))

    def why_not_judged(self) -> str | None:
        """Why a face model should not judge this face, or None when it can.

        A detection FaceMesh did not confirm is as often a flower, a fish or a pattern as
        a face (on the real photos of ../shared/data, most face "detections" it did not
        confirm were not faces, and the face model called them fake), and a face whose
        eyes are a few pixels apart gives the model too little to read."""
        if self.landmarks_source != "facemesh":
            return "not confirmed as a face by the landmark model"
        if self.eye_distance < MIN_EYE_DISTANCE_PX:
            return (f"too small to judge (eyes {self.eye_distance:.0f} px apart, "
                    f"{MIN_EYE_DISTANCE_PX:.0f} needed)")
        return None

    def aligned(self, rgb: np.ndarray, size: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
        """The aligned crop and its image->crop matrix, computed once per (size, margin)."""
        key = (size, round(margin, 4))
        if key not in self.crops:
            from fakescope.faces.align import align_face

            self.crops[key] = align_face(rgb, self.landmarks5, size, margin)
        return self.crops[key]
