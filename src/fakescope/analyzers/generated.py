"""generated: was this picture made whole by a generator (diffusion, GAN)?

Two readings of one picture:

- *Decoder traces* (``generated.onnx``): native-resolution crops spread over the whole
  picture, faces or not (resizing first would erase the traces). Their mean logit is the
  trace score (one odd crop of text or a logo must not decide alone), and the crops'
  evidence maps form the heatmap of the HTML report.
- *What a large image model sees* (still pictures, when the CLIP encoder is installed:
  ``models.clip``): the class tokens of CLIP ViT-B/16 blocks 4-11 and the trace score go
  through one logistic head (``generated.head.json``, fitted by ``fakescope train
  generated-head`` on a corpus matched in content: docs/metrics.md). Without the encoder,
  or on video frames (whose clip model reads the trace statistics), the traces decide alone.

``details.reads`` says which reading gave the score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.analyzers.base import Evidence, ImageHeatmap, ScanItem
from fakescope.errors import ModelError
from fakescope.evaluation.calibration import sigmoid
from fakescope.models import LoadedModel, load_model
from fakescope.models import clip as clip_model

# 3x3 crops of 128 px keep a 512 px photo near 15 ms on two cores; more crops bought
# little on the dev pictures (docs/metrics.md, "Generated images").
MAX_CROPS = 9
# On a video frame, the region around the largest face (this many face sizes wide) is
# also read on its own: a talking head is generated where the face is, while the rest of
# the frame may be a real background, an inset or a caption.
FACE_REGION = 1.3
FACE_CROPS = 4
HEAT_MAX_SIDE = 2048
HEAD_FILE = "generated.head.json"


@dataclass(frozen=True)
class Head:
    """The logistic head on CLIP block tokens (class tokens of ``blocks``, mean patch
    tokens of ``patch_blocks``, each scaled to unit length) and the trace logit."""

    blocks: tuple[int, ...]
    patch_blocks: tuple[int, ...]
    coef: np.ndarray
    intercept: float
    a: float
    b: float
    clip_sha256: str

    @classmethod
    def load(cls, path: Path) -> Head:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path} is not a generated-image head ({exc})") from None
        return cls.from_dict(d, str(path))

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "the head") -> Head:
        try:
            head = cls(tuple(int(b) for b in d["blocks"]), tuple(int(b) for b in d.get("patch_blocks", ())),
                       np.asarray(d["coef"], np.float64), float(d["intercept"]),
                       float(d["calibration"]["a"]), float(d["calibration"]["b"]), str(d["clip_sha256"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{where} is not a generated-image head ({exc})") from None
        n_blocks = len(head.blocks) + len(head.patch_blocks)
        if head.coef.shape != (n_blocks * 768 + 1,):
            raise ModelError(f"{where}: {head.coef.shape[0]} coefficients for {n_blocks} blocks")
        return head

    def features(self, cls_tokens: np.ndarray, patch_tokens: np.ndarray, trace_logit: float) -> np.ndarray:
        """The head's blocks, each scaled to unit length, then the trace logit."""
        x = np.concatenate([cls_tokens[list(self.blocks)], patch_tokens[list(self.patch_blocks)]])
        x = x.astype(np.float64)
        x /= np.array([[max(math.sqrt(math.fsum(v * v)), 1e-6)] for v in x])
        return np.concatenate([x.ravel(), [trace_logit]])

    def logit(self, cls_tokens: np.ndarray, patch_tokens: np.ndarray, trace_logit: float) -> float:
        # Exactly rounded sums (fsum), not a BLAS dot: OpenBLAS sums in another order with
        # another thread count (Ray workers run with OMP_NUM_THREADS=1), and a batch on Ray
        # must give the rows that local workers give.
        x = self.features(cls_tokens, patch_tokens, trace_logit)
        return math.fsum(x * self.coef) + self.intercept

    def probability(self, logit: float) -> float:
        return float(sigmoid(self.a * logit + self.b))


def crop_positions(h: int, w: int, size: int, max_crops: int = MAX_CROPS) -> list[tuple[int, int]]:
    """Top-left corners of up to ``max_crops`` crops spread evenly over the image: a grid
    that tiles it without overlap when it is small, spread out when it is large."""
    per_side = max(1, int(np.sqrt(max_crops)))
    ny = min(per_side, max(1, -(-h // size)))
    nx = min(per_side, max(1, -(-w // size)))
    ys = np.linspace(0, max(0, h - size), ny).round().astype(int)
    xs = np.linspace(0, max(0, w - size), nx).round().astype(int)
    return [(int(y), int(x)) for y in ys for x in xs]


def cut_crops(rgb: np.ndarray, size: int, max_crops: int = MAX_CROPS,
              ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The crops (N, size, size, 3) and their positions; a small image is mirrored out."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        rgb = np.pad(rgb, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
    pos = crop_positions(h, w, size, max_crops)
    return np.stack([rgb[y : y + size, x : x + size] for y, x in pos]), pos


class GeneratedImageAnalyzer:
    name = "generated"
    needs_faces = False
    media_types = frozenset({"image", "frame"})

    def __init__(self, model_name: str = "generated", threads: int = 0, clip: bool = True) -> None:
        self._model: LoadedModel = load_model(model_name, threads=threads)
        self.card = self._model.card
        self.version = self.card.version
        spec = self.card.input
        self._mean = np.asarray(spec.mean, np.float32)[None, :, None, None] * 255.0
        self._scale = 1.0 / (np.asarray(spec.std, np.float32)[None, :, None, None] * 255.0)
        self.head: Head | None = None
        self._clip: clip_model.ClipBlocks | None = None
        encoder = clip_model.find_encoder() if clip else None
        head_path = self._model.path.parent / HEAD_FILE  # beside the trace model it reads
        if encoder is not None and head_path.is_file():
            self.head = Head.load(head_path)
            if self.head.clip_sha256 != clip_model.SHA256:
                raise ModelError(f"{head_path} was fitted on another CLIP encoder than fakescope reads")
            self._clip = clip_model.load_blocks(str(encoder), threads)
        self._bundled_head = self.head
        self.head_source = "bundled"

    def use_local_head(self, head: dict[str, Any] | None, label: str = "local") -> None:
        """Read still pictures with a head retrained on a deployment's reviews (a local
        calibration's; feedback/heads.py), or, given None, with the bundled one again."""
        if head is None or self._bundled_head is None:
            self.head, self.head_source = self._bundled_head, "bundled"
            return
        local = Head.from_dict(head, label)
        bundled = self._bundled_head
        if local.clip_sha256 != bundled.clip_sha256 or len(local.coef) != len(bundled.coef):
            raise ModelError(f"{label}: a head for another reading than the bundled one")
        self.head, self.head_source = local, label

    def head_features(self, rgb: np.ndarray) -> np.ndarray | None:
        """What the head reads in a still picture (None without the CLIP encoder)."""
        if self._clip is None or self.head is None:
            return None
        crops, _ = cut_crops(rgb, self.card.input.size)
        return self.head.features(*self._clip.tokens(rgb), float(self.run(crops)[0].mean()))

    @property
    def reads(self) -> str:
        """What a still picture's score comes from: ``clip+traces`` or ``traces``."""
        return "clip+traces" if self._clip is not None else "traces"

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits (N,) and evidence maps (N, h, w) of uint8 crops (N, size, size, 3)."""
        x = (crops.transpose(0, 3, 1, 2).astype(np.float32) - self._mean) * self._scale
        logit, cam = self._model.session.run(["logit", "cam"], {"input": x})  # type: ignore[attr-defined]
        return logit[:, 0], cam[:, 0]

    def probability(self, mean_logit: float) -> float:
        c = self.card.calibration
        return float(sigmoid(c.a * mean_logit + c.b))

    def analyze(self, item: ScanItem) -> Evidence:
        rgb = item.media.rgb
        size = self.card.input.size
        crops, pos = cut_crops(rgb, size)
        logits, cams = self.run(crops)
        mean = float(logits.mean())
        p = trace_p = self.probability(mean)
        frame = item.media.format == "frame"
        face = self.face_logit(item) if frame else None
        reading: dict[str, object] = {"reads": "traces"}
        if not frame and self._clip is not None and self.head is not None:
            head_logit = self.head.logit(*self._clip.tokens(rgb), mean)
            p = self.head.probability(head_logit)
            reading = {"reads": "clip+traces", "head_logit": round(head_logit, 4),
                       "trace_probability": round(trace_p, 4),
                       **({"head": self.head_source} if self.head_source != "bundled" else {})}
        return Evidence(
            score=p,
            details={
                **reading,
                # On video frames, the median crop too: a caption bar, a logo or an inset
                # covers a few crops and moves the mean, hardly the median.
                **({"median_logit": round(float(np.median(logits)), 4)} if frame else {}),
                **({"face_logit": round(face, 4)} if face is not None else {}),
                "crops": len(pos),
                "crop_size": size,
                "mean_logit": round(mean, 4),
                "crop_probability_range": [round(self.probability(float(logits.min())), 4),
                                           round(self.probability(float(logits.max())), 4)],
            },
            image_heatmaps=[ImageHeatmap(heat=self._heat(rgb.shape[:2], size, pos, cams),
                                         source=self.name)] if item.settings.explain else [],
        )

    def face_logit(self, item: ScanItem) -> float | None:
        """Mean crop logit of the region around the largest face (None without one)."""
        if not item.faces:
            return None
        rgb = item.media.rgb
        x0, y0, x1, y1 = max(item.faces, key=lambda f: f.eye_distance).box
        half = FACE_REGION / 2 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        h, w = rgb.shape[:2]
        region = rgb[int(max(0, cy - half)):int(min(h, cy + half)),
                     int(max(0, cx - half)):int(min(w, cx + half))]
        if min(region.shape[:2]) < 32:
            return None
        crops, _ = cut_crops(region, self.card.input.size, FACE_CROPS)
        return float(self.run(crops)[0].mean())

    def _heat(self, shape: tuple[int, ...], size: int, pos: list[tuple[int, int]],
              cams: np.ndarray) -> np.ndarray:
        """Crop maps -> probabilities, pasted at their crops (NaN where no crop looked); at
        most HEAT_MAX_SIDE a side (a uniform downscale of a larger picture: two float maps
        at 8900 px were 634 MB for evidence from 128 px crops)."""
        import cv2

        h, w = shape[:2]
        g = min(1.0, HEAT_MAX_SIDE / max(h, w))
        hh, ww, side = max(1, round(h * g)), max(1, round(w * g)), max(1, round(size * g))
        total = np.zeros((max(hh, side), max(ww, side)), np.float32)
        count = np.zeros_like(total)
        for (y, x), cam in zip(pos, cams, strict=True):
            # The map averages to the crop logit: calibrated like it, cell by cell.
            prob = sigmoid(self.card.calibration.a * cam + self.card.calibration.b).astype(np.float32)
            y0, x0 = min(round(y * g), total.shape[0] - side), min(round(x * g), total.shape[1] - side)
            total[y0 : y0 + side, x0 : x0 + side] += cv2.resize(prob, (side, side),
                                                                interpolation=cv2.INTER_LINEAR)
            count[y0 : y0 + side, x0 : x0 + side] += 1
        with np.errstate(invalid="ignore"):
            heat = total / count
        heat[count == 0] = np.nan
        return heat[:hh, :ww]
