"""face-forgery: an ONNX classifier of aligned faces (swaps, reenactment, blending)."""

from __future__ import annotations

import numpy as np

from fakescope.analyzers.base import Evidence, FaceHeatmap, ScanItem
from fakescope.evaluation.calibration import sigmoid
from fakescope.models import LoadedModel, load_model


class FaceForgeryAnalyzer:
    name = "face-forgery"
    needs_faces = True
    media_types = frozenset({"image", "frame"})

    def __init__(self, model_name: str = "face-forgery", threads: int = 0) -> None:
        self._model: LoadedModel = load_model(model_name, threads=threads)
        self.card = self._model.card
        self.version = self.card.version
        spec = self.card.input
        self._mean = np.array(spec.mean, np.float32) * 255.0
        self._inv_std = 1.0 / (np.array(spec.std, np.float32) * 255.0)

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        x = (crops.astype(np.float32) - self._mean) * self._inv_std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits (N,) and manipulation maps (N, h, w) for uint8 aligned crops, with the
        card's test-time augmentation (a mirrored copy in the same batch)."""
        n = len(crops)
        if self.card.tta == "hflip":
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        logit, cam = self._model.session.run(["logit", "cam"], {"input": self.preprocess(crops)})  # type: ignore[attr-defined]
        logit, cam = logit[:, 0], cam[:, 0]
        if self.card.tta == "hflip":
            # Mirror the second map back so both describe the same face positions.
            return (logit[:n] + logit[n:]) / 2, (cam[:n] + cam[n:, :, ::-1]) / 2
        return logit, cam

    def probability(self, logits: np.ndarray) -> np.ndarray:
        c = self.card.calibration
        return sigmoid(c.a * logits + c.b)

    def analyze(self, item: ScanItem) -> Evidence:
        if not item.faces:
            return Evidence(score=None, face_scores=[], details={"reason": "no face"})
        skipped = {i: why for i, f in enumerate(item.faces) if (why := f.why_not_judged()) is not None}
        judged = [i for i in range(len(item.faces)) if i not in skipped]
        not_judged = [{"face": i, "why": why} for i, why in skipped.items()]
        if not judged:
            return Evidence(score=None, face_scores=[None] * len(item.faces),
                            details={"reason": "no face could be judged", "not_judged": not_judged})
        spec = self.card.input
        aligned = [item.faces[i].aligned(item.media.rgb, spec.size, spec.margin) for i in judged]
        crops = np.stack([c for c, _ in aligned])
        logits, cams = self.run(crops)
        probs = self.probability(logits)
        heatmaps = []
        if item.settings.explain:
            for i, cam, p, (_, m) in zip(judged, cams, probs, aligned, strict=True):
                # The map averages to the face's logit (CAM = Grad-CAM for this head).
                # Stretched to 0..1 it shows *where* the evidence is; scaled by the face's
                # probability, a face judged real stays cool instead of showing noise.
                span = float(cam.max() - cam.min())
                rel = (cam - cam.min()) / span if span > 1e-6 else np.zeros_like(cam)
                heatmaps.append(FaceHeatmap(i, (rel * p).astype(np.float32), spec.size, m))
        face_scores: list[float | None] = [None] * len(item.faces)
        for i, p in zip(judged, probs, strict=True):
            face_scores[i] = float(p)
        return Evidence(
            score=float(probs.max()),
            face_scores=face_scores,
            details={
                "aggregation": "max over judged faces",
                "logits": [round(float(v), 4) for v in logits],
                "crop": {"size": spec.size, "margin": spec.margin},
                **({"not_judged": not_judged} if not_judged else {}),
            },
            heatmaps=heatmaps,
        )
