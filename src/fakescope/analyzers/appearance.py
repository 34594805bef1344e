"""appearance: what a large pretrained image model sees in a clip's frames, over time.

Eight frames spread over the clip's first 10 s go through CLIP ViT-B/16's image tower
(``models.clip``, when installed). Per clip: the mean of block 8's class token (unit length
per frame) and how far each of blocks 4-11's tokens moves from one frame to the next (a
camera's footage and a generator's drift differently). A logistic head on a PCA of them
(``appearance.head.json``, fitted by ``python scripts/video_clip_embed.py fit`` on
video/dev, video/gen2 and the corpus of issue 28, every source group weighed alike) gives
the logit the fusion card's clip model reads as ``appearance.logit``.

Version 1.1.0 reads the whole frames only: held out by source group, the frames alone rank
615 clips as well as frames and the largest face together (AUC 0.845 against 0.840,
docs/metrics.md, "Video of 2025") at half the encoder's work, and they give an opinion on
clips whose people are too small for a face view (crowds, phone video of whole bodies),
where the face model judging alone called real clips fake. ``clip_tokens`` still reads
the face when given a detector: the study compares both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fakescope.analyzers.base import Evidence, VideoItem
from fakescope.errors import FakescopeError, ModelError
from fakescope.evaluation.calibration import sigmoid
from fakescope.models import clip as clip_model

FRAMES = 8
MAX_S = 10.0
FACE_SCALE = 1.8
BLOCKS = (4, 6, 8, 10, 11)
HEAD_FILE = Path(__file__).resolve().parents[1] / "models" / "weights" / "appearance.head.json"
NO_ENCODER = "the CLIP encoder is not installed (fakescope models install-clip)"


def face_square(rgb: np.ndarray, box: np.ndarray, scale: float = FACE_SCALE, side: int = 224) -> np.ndarray:
    """The face cut square, ``scale`` times its box, edges replicated where it leaves the frame."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    s = scale * max(box[2] - box[0], box[3] - box[1], 1.0)
    f = side / s
    m = np.float32([[f, 0, side / 2 - f * cx], [0, f, side / 2 - f * cy]])
    return cv2.warpAffine(rgb, m, (side, side), flags=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def sample_times(duration_s: float, frames: int = FRAMES) -> list[float]:
    d = min(duration_s if duration_s > 0 else MAX_S, MAX_S)
    return [d * (k + 0.5) / frames for k in range(frames)]


def clip_tokens(media, clip: clip_model.ClipBlocks, frames: int = FRAMES,  # type: ignore[no-untyped-def]
                detector=None, dress=None) -> tuple[np.ndarray, np.ndarray, int]:  # type: ignore[no-untyped-def]
    """Class tokens of ``BLOCKS`` for the whole frame at each sampled time and, given a face
    ``detector``, for the largest judgeable face: (frames, blocks, 768) each, NaN where no
    frame or no face; and how many faces were read. Training (``scripts/video_clip_embed.py``,
    which may ``dress`` each frame first: ``train.overlays``) and scanning share it."""
    face = np.full((frames, len(BLOCKS), 768), np.nan, np.float32)
    whole = np.full((frames, len(BLOCKS), 768), np.nan, np.float32)
    n_face = 0
    for k, fr in enumerate(media.frames_at(sample_times(media.info.duration_s, frames))):
        if k >= frames:
            break
        rgb = fr.rgb if dress is None else dress(fr.rgb)
        cls, _ = clip.tokens(rgb)
        whole[k] = cls[list(BLOCKS)]
        if detector is None:
            continue
        faces = [f for f in detector.detect(rgb) if f.why_not_judged() is None]
        if faces:
            f = max(faces, key=lambda f: f.eye_distance)
            cls, _ = clip.tokens(face_square(rgb, f.box))
            face[k] = cls[list(BLOCKS)]
            n_face += 1
    return face, whole, n_face


def pooled(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., frames, blocks, 768) -> the mean unit token per block (..., blocks, 768) and the
    mean cosine distance between consecutive frames that both have one (..., blocks)."""
    t = tokens.astype(np.float32)
    t = t / np.linalg.norm(t, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(t[..., :, :, 0])
        mean = np.nansum(np.where(valid[..., None], t, 0.0), axis=-3) / np.maximum(
            valid.sum(axis=-2), 1)[..., None]
        mean[valid.sum(axis=-2) == 0] = np.nan
        step = 1.0 - np.sum(t[..., 1:, :, :] * t[..., :-1, :, :], axis=-1)
        ok = np.isfinite(step)
        steps = np.nansum(np.where(ok, step, 0.0), axis=-2) / np.maximum(ok.sum(axis=-2), 1)
        steps[ok.sum(axis=-2) == 0] = np.nan
    return mean, steps


def clip_vector(whole: np.ndarray, block: int = 8) -> np.ndarray:
    """The head's input: block ``block``'s mean frame token, then the steps of every block
    (768 + 5 values; NaN where unseen)."""
    wm, ws = pooled(whole)
    return np.concatenate([wm[..., BLOCKS.index(block), :], ws], axis=-1)


@dataclass(frozen=True)
class Head:
    """Logistic head: the tokens projected on PCA components, the steps as they are,
    standardised, then a linear model."""

    clip_sha256: str
    block: int
    n_tokens: int  # leading values of the vector that go through the PCA
    center: np.ndarray  # (n_tokens,)
    components: np.ndarray  # (k, n_tokens)
    step_center: np.ndarray  # (n_steps,)
    mean: np.ndarray  # (k + n_steps,)
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def load(cls, path: Path = HEAD_FILE) -> Head:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: not an appearance head ({exc})") from exc
        return cls.from_dict(d, str(path))

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "the head") -> Head:
        try:
            return cls(str(d["clip_sha256"]), int(d["block"]), int(d["n_tokens"]),
                       np.array(d["center"], np.float32), np.array(d["components"], np.float32),
                       np.array(d["step_center"], np.float32), np.array(d["mean"], np.float32),
                       np.array(d["scale"], np.float32), np.array(d["coef"], np.float32),
                       float(d["intercept"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"{where}: not an appearance head ({exc})") from exc

    def inputs(self, v: np.ndarray) -> np.ndarray:
        """What the linear model reads: the design, standardised (feedback/video_head.py
        retrains the model on these)."""
        return (self.design(v) - self.mean) / self.scale

    def reads_like(self, other: Head) -> bool:
        """Whether both read a clip into the same inputs (only the linear model differs)."""
        return (self.clip_sha256 == other.clip_sha256 and self.block == other.block
                and self.n_tokens == other.n_tokens and self.coef.shape == other.coef.shape
                and all(np.array_equal(getattr(self, k), getattr(other, k))
                        for k in ("center", "components", "step_center", "mean", "scale")))

    def design(self, v: np.ndarray) -> np.ndarray:
        tok, steps = v[..., :self.n_tokens], v[..., self.n_tokens:]
        a = np.nan_to_num(tok - self.center) @ self.components.T
        return np.concatenate([a, np.nan_to_num(steps - self.step_center)], axis=-1)

    def logit(self, v: np.ndarray) -> float:
        return float(self.inputs(v) @ self.coef + self.intercept)

    def to_json(self) -> dict:
        return {"clip_sha256": self.clip_sha256, "block": self.block, "n_tokens": self.n_tokens,
                "blocks": list(BLOCKS), "frames": FRAMES, "max_s": MAX_S, "view": "frame",
                **{k: np.round(getattr(self, k).astype(np.float64), 6).tolist()
                   for k in ("center", "components", "step_center", "mean", "scale", "coef")},
                "intercept": round(self.intercept, 6)}


def over_time(whole: np.ndarray, head: Head, duration_s: float) -> list[dict[str, float]]:
    """Where in the clip the reading comes from: the head on each sampled frame's own token
    (the clip's steps kept). The head is linear in the mean token, so the clip's logit is
    the mean of these."""
    b = BLOCKS.index(head.block)
    _, steps = pooled(whole)
    out = []
    for t, w in zip(sample_times(duration_s, len(whole)), whole, strict=True):
        if not np.isfinite(w[0, 0]):
            continue
        z = head.logit(np.concatenate([w[b] / np.linalg.norm(w[b]), steps]))
        out.append({"time_s": round(t, 3), "p": round(float(sigmoid(z)), 4)})
    return out


@lru_cache(maxsize=1)
def _head() -> Head:
    return Head.load()


class AppearanceAnalyzer:
    name = "appearance"
    version = "1.1.0"
    card = None
    needs_faces = False
    media_types = frozenset({"video"})

    def __init__(self) -> None:
        self._clip: clip_model.ClipBlocks | None = None
        # A head retrained on a deployment's reviews, per scanner (the bundled one is cached
        # per process, shared by every scanner).
        self._local: Head | None = None
        self.head_source = "bundled"
        encoder = clip_model.find_encoder()
        if encoder is not None and HEAD_FILE.exists():
            if _head().clip_sha256 != clip_model.SHA256:
                raise ModelError(f"{HEAD_FILE} was fitted on another CLIP encoder than fakescope reads")
            self._clip = clip_model.load_blocks(str(encoder))

    @property
    def head(self) -> Head | None:
        """The head a clip is read with (None without the CLIP encoder)."""
        if self._clip is None:
            return None
        return self._local if self._local is not None else _head()

    def use_local_head(self, head: dict[str, Any] | None, label: str = "local") -> None:
        """Read clips with a head retrained on a deployment's reviews (a local calibration's;
        feedback/video_head.py), or, given None, with the bundled one again."""
        if head is None or self._clip is None:
            self._local, self.head_source = None, "bundled"
            return
        local = Head.from_dict(head, label)
        if not local.reads_like(_head()):
            raise ModelError(f"{label}: an appearance head for another reading than the bundled one")
        self._local, self.head_source = local, label

    def _whole(self, media) -> np.ndarray | str:  # type: ignore[no-untyped-def]
        """The frames' tokens, or why there are none to judge."""
        if self._clip is None:
            return NO_ENCODER
        try:
            _, whole, _ = clip_tokens(media, self._clip)
        except FakescopeError as exc:
            return f"frames not read: {exc}"
        if int(np.isfinite(whole[:, 0, 0]).sum()) < 2:
            return "fewer than 2 frames read"
        return whole

    def head_inputs(self, media) -> np.ndarray | None:  # type: ignore[no-untyped-def]
        """What the head's linear model reads in a clip (37 values; None when the analyzer
        would give no opinion). Every local head shares the bundled head's reading."""
        whole = self._whole(media)
        if isinstance(whole, str):
            return None
        head = _head()
        return head.inputs(clip_vector(whole, head.block)).astype(np.float64)

    def analyze(self, item: VideoItem) -> Evidence:
        head = self.head
        if head is None:
            return Evidence(score=None, details={"reason": NO_ENCODER})
        whole = self._whole(item.media)
        if isinstance(whole, str):
            return Evidence(score=None, details={"reason": whole})
        frames = int(np.isfinite(whole[:, 0, 0]).sum())
        z = head.logit(clip_vector(whole, head.block))
        p = float(sigmoid(z))
        return Evidence(score=round(p, 4), details={
            "logit": round(z, 4), "frames": frames,
            **({"head": self.head_source} if self.head_source != "bundled" else {}),
            "over_time": over_time(whole, head, item.media.info.duration_s),
            "findings": ["the frames look like generated footage to CLIP" if p > 0.5 else
                         "the frames look like camera footage to CLIP"]})
