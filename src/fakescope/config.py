"""Scan settings: limits and knobs, with defaults that are safe on hostile input."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field


class MediaLimits(BaseModel):
    """Refuse inputs that would exhaust memory or time before decoding them."""

    max_bytes: int = Field(default=200 * 1024 * 1024, gt=0, description="largest file read")
    max_pixels: int = Field(
        default=80_000_000, gt=0, description="largest width*height decoded (decompression bombs)"
    )
    max_side: int = Field(default=20_000, gt=0, description="largest width or height")
    max_stream_bytes: int = Field(
        default=64 * 2**30, gt=0,
        description="largest video or audio file (streamed from disk, never held in memory)",
    )
    max_duration_s: float = Field(default=4 * 3600.0, gt=0, description="longest video or audio")


class FaceSettings(BaseModel):
    min_detection_score: float = Field(default=0.5, ge=0.0, le=1.0)
    max_faces: int = Field(default=8, ge=1, le=64)
    # Detection runs on a copy no larger than this; boxes are scaled back.
    detect_max_side: int = Field(default=1280, ge=128)


def default_registry_path() -> Path:
    """``$FAKESCOPE_REGISTRY``, else the user's data folder (XDG): where `register` writes."""
    env = os.environ.get("FAKESCOPE_REGISTRY")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fakescope" / "registry.db"


def _env_trust_anchors() -> str | None:
    return os.environ.get("FAKESCOPE_TRUST_ANCHORS") or None


def _env_registry() -> str:
    # Scans only look a registry up when it already exists; they never create one.
    return str(default_registry_path())


class ProvenanceSettings(BaseModel):
    c2pa: bool = Field(default=True, description="read and validate Content Credentials")
    trust_anchors: str | None = Field(
        default_factory=_env_trust_anchors,
        description="PEM bundle of trusted C2PA root certificates ($FAKESCOPE_TRUST_ANCHORS)",
    )
    watermark: bool = Field(default=True, description="look for a fakescope invisible watermark")
    registry: str | None = Field(
        default_factory=_env_registry,
        description="registry database looked up when it exists ($FAKESCOPE_REGISTRY); None: off",
    )


class VideoSettings(BaseModel):
    frames: int = Field(default=32, ge=1, le=10_000,
                        description="frames sampled evenly over the clip (the forensic protocol)")
    fps: float | None = Field(default=None, gt=0, le=120,
                              description="dense mode: analyse this many frames per second instead")
    dense_fps: float = Field(default=12.5, gt=0, le=60,
                             description="landmark rate for blink, motion and lip-sync analysis")
    dense_window_s: float = Field(default=20.0, gt=0,
                                  description="seconds of the clip followed densely (from its start)")
    max_track_points: int = Field(default=400, ge=8,
                                  description="face observations kept per track (bounded memory)")


class PeopleSettings(BaseModel):
    """Protected people (docs/people.md): where the enrolled templates are and the key that
    opens them. Off unless given: templates are biometric data."""

    database_url: str = Field(description="the database holding the enrolment (the service's)")
    key_file: Path | None = Field(default=None, description="the operator's key; None: "
                                  "FAKESCOPE_PEOPLE_KEY_FILE or FAKESCOPE_PEOPLE_KEY")


class ScanSettings(BaseModel):
    limits: MediaLimits = Field(default_factory=MediaLimits)
    faces: FaceSettings = Field(default_factory=FaceSettings)
    analyzers: list[str] | None = Field(
        default=None, description="analyzer names to run; None runs every registered one"
    )
    explain: bool = Field(
        default=False, description="compute per-face heatmaps (needed by the HTML report)"
    )
    provenance: ProvenanceSettings = Field(default_factory=ProvenanceSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    people: PeopleSettings | None = Field(
        default=None, description="compare faces and voices with the enrolled protected people; None: off")
    calibration_dir: Path | None = Field(
        default=None, description="local thresholds fitted on this deployment's reviewed scans "
        "(fakescope calibrate): the folder of their versions; None: the bundled thresholds")
