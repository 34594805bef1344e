"""Model cards: a typed description shipped beside every bundled ONNX file.

Like timm's pretrained configs, a card says how to feed the model (crop size and margin,
mean/std); unlike them it also says what the model learned from, how it is calibrated,
and the metrics measured with the exact command that produced them.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["aligned_face", "whole_image", "audio", "face_detector", "face_landmarks"] = "aligned_face"
    size: int = Field(gt=0, description="square crop side in pixels")
    margin: float = Field(
        gt=0,
        description="crop shows margin x the ArcFace face framing (5-point similarity alignment)",
    )
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color: Literal["RGB"] = "RGB"
    border: Literal["black", "replicate"] = "black"
    # Audio models (kind "audio"): ``size`` is the number of feature bands.
    sample_rate: int | None = Field(None, description="audio: samples per second fed to the features")
    segment_s: float | None = Field(None, description="audio: seconds per scored window")
    features: str | None = Field(None, description="audio: how the model input is computed")


class Calibration(BaseModel):
    """Platt scaling of the raw logit: p = sigmoid(a * logit + b)."""

    a: float = 1.0
    b: float = 0.0
    fitted_on: str = ""


class StartingWeights(BaseModel):
    name: str
    source: str
    license: str


class Metric(BaseModel):
    dataset: str
    name: str
    value: float
    n: int | None = None
    ci95: tuple[float, float] | None = None
    command: str
    measured: dt.date


class TraceKind(BaseModel):
    """An extra output column that names a kind of trace (the voice model's trace kinds)."""

    name: str
    column: int = Field(ge=1, description="column of the model's output beside the score's column 0")
    calibration: Calibration
    trained_on: str
    held_out: dict[str, float] = Field(default_factory=dict,
                                       description="held-out window AUCs: on its own pairs, on unseen clones")


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str
    version: str
    task: str
    file: str = Field(description="ONNX file name, beside the card")
    sha256: str
    architecture: str
    input: InputSpec
    outputs: dict[str, str]
    calibration: Calibration = Field(default_factory=Calibration)
    tta: Literal["none", "hflip"] = Field(
        "none", description="test-time augmentation: hflip averages the logits of the crop and "
        "its mirror image (calibration is fitted on the averaged logit)")
    threshold: float = Field(0.5, ge=0, le=1, description="probability at or above which: fake")
    inconclusive_band: tuple[float, float] = Field(
        (0.35, 0.65), description="probabilities inside this band are reported inconclusive"
    )
    training_data: list[str]
    training_command: str
    starting_weights: StartingWeights
    license: str
    metrics: list[Metric] = Field(default_factory=list)
    limitations: list[str] = Field(default_factory=list)
    trace_kinds: list[TraceKind] = Field(default_factory=list)
    other_calibrations: dict[str, Calibration] = Field(
        default_factory=dict, description="calibrations of scores the analyzer computes beside its "
        "model (local-edit: copy-move matching, on log(1 + inliers))")
    created: dt.date

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


class FusionParams(BaseModel):
    """Calibration and verdict thresholds of one kind of media's fused score."""

    a: float = 1.0
    b: float = 0.0
    threshold_fake: float = Field(0.65, ge=0, le=1, description="fake at or above (calibrated)")
    threshold_real: float = Field(0.35, ge=0, le=1, description="real below (calibrated)")
    expected_fpr: float | None = Field(None, description="share of dev reals called fake")
    expected_tpr: float | None = Field(None, description="share of dev fakes called fake")
    fitted_on: list[str] = Field(default_factory=list)
    n: int | None = None


class ClipModel(BaseModel):
    """A video's evidence over time and over its frames, in one logistic model.

    Each feature is a value from the clip's analyzers, named as in the report
    (``analyzer`` for its score, ``analyzer.detail`` for a statistic); a missing one takes
    its ``absent`` value. Fitted by ``scripts/video_features.py fit`` with every source
    group weighed alike, heavily regularised (``l2``): few clips, many generators."""

    model_config = ConfigDict(extra="forbid")

    features: list[str]
    absent: list[float]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    l2: float
    fitted_on: list[str] = Field(default_factory=list)
    n: int | None = None
    face_gate: float | None = Field(
        None, description="beside this clip model, the face model's per-person probability counts only at "
        "or above this (its false alarms on real phone and webcam footage outweighed what it caught)")

    def reads_any(self, values: dict[str, float | None]) -> bool:
        """Whether any of its features has a value (else it has no opinion)."""
        return any(values.get(f) is not None and math.isfinite(values[f])  # type: ignore[arg-type]
                   for f in self.features)

    def logit(self, values: dict[str, float | None]) -> float:
        z = self.intercept
        for name, absent, mu, sd, w in zip(self.features, self.absent, self.mean, self.scale, self.coef,
                                           strict=True):
            v = values.get(name)
            v = absent if v is None or not math.isfinite(v) else v
            z += w * (v - mu) / sd
        return z


class FusionCard(BaseModel):
    """How fakescope turns analyzer scores into one probability and a verdict.

    Per kind of evidence (faces in photos, generated-image traces in photos, videos), the
    raw score is a maximum over analyzers or faces (one strong trace is enough); it is
    recalibrated on dev data, because a maximum of several probabilities overstates
    (``a``, ``b``: Platt on its logit), and has its own verdict thresholds."""

    model_config = ConfigDict(extra="forbid")

    version: str
    image: FusionParams = Field(description="face-manipulation evidence in photos")
    generated: FusionParams | None = Field(None, description="generated-image evidence in photos")
    generated_clip: FusionParams | None = Field(
        None, description="generated-image evidence in photos when read through CLIP (the head)")
    local_edit: FusionParams | None = Field(
        None, description="local-edit evidence in photos (a region changed); without it the analyzer's "
        "own calibration and band")
    video: FusionParams | None = None
    video_faces: FusionParams | None = Field(
        None, description="the face model alone on video (live watch; clips whose clip model has no "
        "opinion): its own calibration and thresholds, kept from the card that fitted them")
    video_model: ClipModel | None = Field(
        None, description="the clip model whose probability stands beside the face model's in a video")
    command: str
    created: dt.date

    @classmethod
    def load(cls, path: Path) -> FusionCard:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
