"""The scan report: one per input file, the same for the CLI, the API and the service.

Versioned: ``schema_version`` changes its major number when a field changes meaning or
disappears, its minor number when fields are added. ``docs/report-schema.md`` documents
it and ``fakescope schema`` prints the JSON Schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

SCHEMA_VERSION = "1.0"

Verdict = Literal["fake", "real", "inconclusive", "no_face", "error"]
MediaTypeName = Literal["image", "video", "audio"]


class ErrorInfo(BaseModel):
    code: str = Field(description="stable machine-readable reason, e.g. truncated_file")
    message: str = Field(description="one line for a person")


class FaceResult(BaseModel):
    index: int
    box: tuple[float, float, float, float] = Field(description="x0, y0, x1, y1 in image pixels")
    detector_score: float = Field(ge=0, le=1)
    landmarks: list[tuple[float, float]] = Field(
        description="5 points (x, y): eye on the image's left, eye on the image's right, "
        "nose tip, mouth corner left, mouth corner right"
    )
    landmarks_source: Literal["facemesh", "detector"]
    score: float | None = Field(
        None, ge=0, le=1, description="manipulation probability of this face (fused)"
    )


class AnalyzerResult(BaseModel):
    name: str
    version: str
    score: float | None = Field(None, ge=0, le=1, description="higher = more likely manipulated")
    face_scores: list[float | None] | None = Field(
        None, description="per face, in the order of `faces` (face analyzers only)"
    )
    details: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None
    time_ms: float = 0.0


class Timing(BaseModel):
    decode: float = 0.0
    faces: float = 0.0
    analyzers: float = 0.0
    total: float = 0.0


class ModelRef(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    sha256: str = Field(description="first 12 hex digits of the weights' SHA-256")


class MediaInfo(BaseModel):
    format: str
    width: int
    height: int
    source_mode: str | None = None


class ScanReport(BaseModel):
    """Everything fakescope concluded about one input."""

    schema_version: str = SCHEMA_VERSION
    fakescope_version: str
    file: str = Field(description="the path as given")
    sha256: str | None = None
    media_type: MediaTypeName | None = None
    verdict: Verdict
    score: float | None = Field(
        None, ge=0, le=1,
        description="calibrated probability of manipulation; null only for no_face and error",
    )
    reason: str = Field("", description="one line explaining the verdict")
    error: ErrorInfo | None = None
    media: MediaInfo | None = None
    faces: list[FaceResult] = Field(default_factory=list)
    analyzers: list[AnalyzerResult] = Field(default_factory=list)
    timing_ms: Timing = Field(default_factory=Timing)
    models: list[ModelRef] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    # In-memory only (never serialised): pixels and heatmaps for the HTML report.
    _visual: Any = PrivateAttr(default=None)

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def visual(self) -> Any:
        return self._visual

    def drop_visual(self) -> None:
        self._visual = None
