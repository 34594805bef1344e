"""synthesis: traces of generator decoders (GAN/diffusion upsampling) in the whole image.

Works on native-resolution patches over the whole picture, faces or not: resizing the
image first would erase the periodic traces the model looks for.
"""

from __future__ import annotations

import numpy as np

from fakescope.analyzers.base import Evidence, ScanItem
from fakescope.evaluation.calibration import sigmoid
from fakescope.models import LoadedModel, load_model

# Four patches (a 2x2 grid) keep a photo scan fast; generator traces cover the whole picture.
MAX_PATCHES = 4


def grid_patches(rgb: np.ndarray, size: int, max_patches: int = MAX_PATCHES,
                 ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Up to ``max_patches`` patches spread evenly over the image, at native resolution."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        rgb = np.pad(rgb, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = rgb.shape[:2]
    per_side = max(1, int(np.sqrt(max_patches)))
    ny = min(per_side, max(1, h // size))
    nx = min(per_side, max(1, w // size))
    ys = np.linspace(0, h - size, ny).round().astype(int)
    xs = np.linspace(0, w - size, nx).round().astype(int)
    pos = [(int(y), int(x)) for y in ys for x in xs]
    return np.stack([rgb[y : y + size, x : x + size] for y, x in pos]), pos


class SynthesisAnalyzer:
    name = "synthesis"
    needs_faces = False
    # Photos only: video codecs smear the per-pixel upsampling traces this model reads, and
    # 16 patches per sampled frame would double the cost of a video scan.
    media_types = frozenset({"image"})

    def __init__(self, model_name: str = "synthesis", threads: int = 0) -> None:
        self._model: LoadedModel = load_model(model_name, threads=threads)
        self.card = self._model.card
        self.version = self.card.version

    def run(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(patches.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        logit, cam = self._model.session.run(["logit", "cam"], {"input": x})  # type: ignore[attr-defined]
        return logit[:, 0], cam[:, 0]

    def analyze(self, item: ScanItem) -> Evidence:
        patches, pos = grid_patches(item.media.rgb, self.card.input.size)
        logits, _ = self.run(patches)
        c = self.card.calibration
        # The image logit is the patches' mean: traces are everywhere in a generated image,
        # and one odd patch (text, a logo) should not decide alone.
        p = float(sigmoid(c.a * float(logits.mean()) + c.b))
        return Evidence(
            score=p,
            details={
                "patches": len(pos),
                "patch_size": self.card.input.size,
                "mean_logit": round(float(logits.mean()), 4),
                "patch_logit_range": [round(float(logits.min()), 4), round(float(logits.max()), 4)],
            },
        )
