"""The scan report: one per input file, the same for the CLI, the API and the service.

Versioned: ``schema_version`` changes its major number when a field changes meaning or
disappears, its minor number when fields are added. ``docs/report-schema.md`` documents
it and ``fakescope schema`` prints the JSON Schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from fakescope.provenance.models import Provenance

SCHEMA_VERSION = "1.8"

Verdict = Literal["fake", "real", "inconclusive", "no_face", "error"]
EvidenceKind = Literal["face_manipulation", "generated_image", "local_edit", "temporal", "synthetic_voice",
                       "provenance"]
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
    provenance: float = 0.0
    people: float = 0.0
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


class VideoInfo(BaseModel):
    duration_s: float
    fps: float = Field(description="nominal frame rate")
    codec: str
    rotation: int = Field(0, description="display rotation applied to frames, degrees")
    has_audio: bool
    sampling: str = Field(description="how frames were chosen, e.g. '32 evenly spaced' or '5 fps'")
    frames_analysed: int
    landmark_frames: int = Field(0, description="frames followed densely for blink/motion/lip-sync")


class TimelinePoint(BaseModel):
    time_s: float
    frame: int = Field(description="index among the analysed frames")
    faces: int
    track_scores: dict[str, float | None] = Field(
        default_factory=dict, description="face-forgery probability per track id in this frame")
    score: float | None = Field(None, description="the frame's score: max over its faces")


class TrackResult(BaseModel):
    id: int
    frames: int = Field(description="sampled frames the person appears in")
    counted: bool = Field(True, description=(
        "whether this person's score counts toward the clip's: false for a person seen in "
        "fewer than 10 % of the analysed frames while others were seen more"))
    first_s: float
    last_s: float
    score: float | None = Field(None, description="fused manipulation probability of this person")
    frame_score: float | None = Field(
        None, description="robust aggregate of the per-frame face-forgery scores")
    evidence: dict[str, float | None] = Field(
        default_factory=dict, description="temporal analyzers' scores for this track, and the clip "
        "model's probability (`clip-model`) when the fusion card has one")
    box: tuple[float, float, float, float] = Field(description="box in the track's most suspicious frame")


class AudioInfo(BaseModel):
    duration_s: float
    sample_rate: int = Field(description="of the stream as stored, Hz (analysed at 16 kHz mono)")
    channels: int | None = Field(None, description="as stored (mixed down to mono for analysis)")
    codec: str
    container: str | None = None
    speech_s: float | None = Field(None, description="seconds of speech found by voice activity detection")


class AudioSegment(BaseModel):
    start_s: float
    end_s: float
    speech: bool = Field(description="voice activity detection found speech in this window")
    score: float | None = Field(
        None, ge=0, le=1, description="probability that this window's speech is synthesised or converted; "
        "null without speech")
    traces: dict[str, float] | None = Field(
        None, description="per kind of trace (vocoder, prosody, spectrum), the probability that this window "
        "carries it; explains the score, never changes it; null without speech or trace heads")


class Localization(BaseModel):
    """Where in a still picture a region was changed (schema 1.7): ``rows`` x ``cols`` cells of
    equal size tiling the whole picture, each with the probability that it was edited."""

    rows: int = Field(ge=1, le=64)
    cols: int = Field(ge=1, le=64)
    cell_height_px: float = Field(gt=0, description="each cell's height in the picture's pixels")
    cell_width_px: float = Field(gt=0, description="each cell's width in the picture's pixels")
    grid: list[list[float]] = Field(description="rows of probabilities 0..1, top row first, left to right")
    source: str = Field("local-edit", description="the analyzer that drew it")

    @model_validator(mode="after")
    def _shape(self) -> Localization:
        if len(self.grid) != self.rows or any(len(r) != self.cols for r in self.grid):
            raise ValueError("grid must have `rows` rows of `cols` values")
        if any(not 0.0 <= v <= 1.0 for r in self.grid for v in r):
            raise ValueError("grid values are probabilities 0..1")
        return self


class IdentityMatch(BaseModel):
    """One face (a photo's face, a video's face track) or the voice, against the enrolled
    people (schema 1.8): names and similarities only, never a template."""

    subject: str = Field(description="e.g. \"face 1\", \"face track 2\", \"voice\"")
    modality: Literal["face", "voice"]
    person: str | None = Field(description="the closest enrolled person with a template of this modality")
    similarity: float | None = Field(description="cosine similarity to that person's closest template")
    threshold: float = Field(description="the similarity at and above which it counts as a match")
    matches: bool
    box: tuple[int, int, int, int] | None = Field(None, description="photos: x0, y0, x1, y1 in pixels")
    frames: int | None = Field(None, description="videos: frames in which the face track was seen")
    unlike: list[str] | None = Field(
        None, description="videos: the statistics of how the person moves, blinks and speaks that lie far "
        "outside their enrolled recordings' (when compared)")


class PeopleCheck(BaseModel):
    """Protected people (docs/people.md; schema 1.8): is a face or the voice one of the
    enrolled people? Findings are worded for what a match can and cannot show."""

    enrolled: int = Field(description="people enrolled in this deployment when it was scanned")
    matches: list[IdentityMatch] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)


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
    decided_by: EvidenceKind | None = Field(
        None, description="the kind of evidence behind the verdict (schema 1.5): face_manipulation, "
        "generated_image, temporal (video: the clip model or blinking and lip-sync), synthetic_voice or "
        "provenance")
    evidence: dict[str, float] = Field(
        default_factory=dict, description="calibrated probability per kind of evidence that was "
        "judged, e.g. {\"face_manipulation\": 0.12, \"generated_image\": 0.91} (schema 1.5)")
    error: ErrorInfo | None = None
    media: MediaInfo | None = None
    faces: list[FaceResult] = Field(default_factory=list)
    analyzers: list[AnalyzerResult] = Field(default_factory=list)
    timing_ms: Timing = Field(default_factory=Timing)
    models: list[ModelRef] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    provenance: Provenance | None = Field(
        None, description="Content Credentials, watermark and registry (schema 1.1); null only "
        "when the file could not be read",
    )
    video: VideoInfo | None = Field(None, description="video files only (schema 1.2)")
    timeline: list[TimelinePoint] = Field(default_factory=list, description="video: per analysed frame")
    tracks: list[TrackResult] = Field(default_factory=list, description="video: one per person")
    audio: AudioInfo | None = Field(
        None, description="audio files, and the soundtrack of videos when it was analysed (schema 1.3)")
    segments: list[AudioSegment] = Field(
        default_factory=list, description="audio and video soundtracks: 2 s windows covering the audio, "
        "with the voice analyzer's score (schema 1.3)")
    localization: Localization | None = Field(
        None, description="still images: where a region was changed (the local-edit analyzer; schema 1.7)")
    people: PeopleCheck | None = Field(
        None, description="faces and voice against the enrolled protected people, when that check is on "
        "(schema 1.8)")

    # In-memory only (never serialised): pixels and heatmaps for the HTML report.
    _visual: Any = PrivateAttr(default=None)

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def visual(self) -> Any:
        return self._visual

    def drop_visual(self) -> None:
        self._visual = None
