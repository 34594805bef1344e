"""local-edit: was part of this picture changed, and where?

A small fully convolutional model (``local-edit.onnx``, trained by ``python -m
fakescope.train.local_edit`` on pseudo-edits of real photos: splices, copy-moves,
inpainting, an autoencoder's reconstruction, resampling, another JPEG generation, noise)
reads the picture at full resolution and gives one logit per 8x8 pixel cell, each cell
compared with the picture's mean. The picture's score is the mean of its 16 highest cell
logits (one edited region is enough), through the card's calibration; the cells, as
probabilities averaged into at most ``MAX_GRID`` x ``MAX_GRID`` equal cells tiling the
whole picture, are the report's ``localization`` (docs/report-schema.md).

A copy from the same picture shares its traces, so the net ranks copy-moves at chance;
beside it the analyzer looks for the repetition itself (analyzers/copy_move.py: SIFT
keypoints matched within the picture, an affine map carried by many pairs, both copies
outlined). Its inlier count has its own calibration (the card's ``other_calibrations``
``copy-move``, on log(1 + inliers)); the picture's score is the larger of the two
probabilities, and the copies' outline, at the copy-move probability, joins the map.
``FAKESCOPE_COPY_MOVE=off`` leaves the matching out (the in-browser page has no SIFT: its
reference scan does the same).

Its evidence is its own kind (``local_edit`` in the verdict's ``decided_by``): a picture
can be a camera photo with one region changed, which neither the face model nor the
generated-image model is asked about.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from fakescope.analyzers.base import Evidence, ImageHeatmap, ScanItem
from fakescope.analyzers.copy_move import find_copies
from fakescope.evaluation.calibration import sigmoid
from fakescope.models import LoadedModel, load_model

CELL = 8
TOP = 16
MAX_GRID = 64
# Larger pictures are read at this long side (a uniform downscale): the cost grows with
# the pixels, and the 2048 px budget of docs/metrics.md's speed targets is met there.
MAX_SIDE = 2048


def pooled_grid(prob: np.ndarray, height: int, width: int, max_cells: int = MAX_GRID) -> np.ndarray:
    """Cell probabilities (each for 8x8 pixels of a ``height`` x ``width`` picture, the last
    row and column overhanging its edge) averaged into at most ``max_cells`` rows and
    columns of equal cells that tile the picture exactly."""
    px = np.repeat(np.repeat(prob, CELL, 0), CELL, 1)[:height, :width]
    rows, cols = min(max_cells, prob.shape[0]), min(max_cells, prob.shape[1])
    return cv2.resize(px, (cols, rows), interpolation=cv2.INTER_AREA)


class LocalEditAnalyzer:
    name = "local-edit"
    needs_faces = False
    media_types = frozenset({"image"})
    evidence_kind = "local_edit"  # fusion: its own kind of evidence, not generated-image traces

    def __init__(self, threads: int = 0) -> None:
        self._model: LoadedModel = load_model("local-edit", threads=threads)
        self.card = self._model.card
        self.version = self.card.version
        self._copies = self.card.other_calibrations.get("copy-move")
        if os.environ.get("FAKESCOPE_COPY_MOVE", "").lower() == "off":
            self._copies = None

    def cells(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Cell logits (ceil(h'/8), ceil(w'/8)) of the picture read at scale ``f`` (<= 1)."""
        h, w = rgb.shape[:2]
        f = min(1.0, MAX_SIDE / max(h, w))
        if f < 1.0:
            size = (max(CELL, round(w * f)), max(CELL, round(h * f)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        # the exported net expects sides that are multiples of 16 (its two strides of 2 twice)
        ph, pw = -rgb.shape[0] % 16, -rgb.shape[1] % 16
        x = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else rgb
        x = x.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0
        (logits,) = self._model.session.run(["cells"], {"input": x})  # type: ignore[attr-defined]
        hh, ww = -(-rgb.shape[0] // CELL), -(-rgb.shape[1] // CELL)
        return logits[0, :hh, :ww], f

    def analyze(self, item: ScanItem) -> Evidence:
        rgb = item.media.rgb
        logits, f = self.cells(rgb)
        top = float(np.sort(logits.ravel())[-TOP:].mean())
        c = self.card.calibration
        p = float(sigmoid(c.a * top + c.b))
        prob = sigmoid(logits).astype(np.float32)
        h, w = rgb.shape[:2]
        grid = pooled_grid(prob, max(1, round(h * f)), max(1, round(w * f)))
        rows, cols = grid.shape
        details: dict[str, object] = {"logit": round(top, 4), "read_at": round(f, 4)}
        findings = ["a region differs from the rest of the picture" if p >= 0.5 else
                    "no region differs from the rest of the picture"]
        score = p
        if self._copies is not None:
            copies = find_copies(rgb)
            cc = self._copies
            p_copy = float(sigmoid(cc.a * math.log1p(copies.inliers) + cc.b))
            details["copy_move"] = {"inliers": copies.inliers, "shift_px": round(copies.shift_px, 1),
                                    "probability": round(p_copy, 4)}
            if copies.mask is not None:
                # the copies' outline at the copy-move probability, on the map's cells
                m = copies.mask.astype(np.float32) * p_copy
                grid = np.maximum(grid, cv2.resize(m, (cols, rows), interpolation=cv2.INTER_AREA))
                cells = cv2.resize(m, (prob.shape[1], prob.shape[0]), interpolation=cv2.INTER_AREA)
                prob = np.maximum(prob, cells)
            if p_copy >= 0.5:
                findings.append(f"a region is repeated elsewhere in the picture (copy-move: "
                                f"{copies.inliers} matching points, moved {copies.shift_px:.0f} px)")
            score = max(p, p_copy)
        details["localization"] = {
            "rows": rows, "cols": cols,
            "cell_height_px": round(h / rows, 2), "cell_width_px": round(w / cols, 2),
            "grid": np.round(grid, 3).tolist(),
        }
        details["findings"] = findings
        return Evidence(
            score=score,
            details=details,
            image_heatmaps=[ImageHeatmap(heat=prob, source=self.name)] if item.settings.explain else [],
        )
