"""Scan settings: limits and knobs, with defaults that are safe on hostile input."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MediaLimits(BaseModel):
    """Refuse inputs that would exhaust memory or time before decoding them."""

    max_bytes: int = Field(default=200 * 1024 * 1024, gt=0, description="largest file read")
    max_pixels: int = Field(
        default=80_000_000, gt=0, description="largest width*height decoded (decompression bombs)"
    )
    max_side: int = Field(default=20_000, gt=0, description="largest width or height")


class FaceSettings(BaseModel):
    min_detection_score: float = Field(default=0.5, ge=0.0, le=1.0)
    max_faces: int = Field(default=8, ge=1, le=64)
    # Detection runs on a copy no larger than this; boxes are scaled back.
    detect_max_side: int = Field(default=1280, ge=128)


class ScanSettings(BaseModel):
    limits: MediaLimits = Field(default_factory=MediaLimits)
    faces: FaceSettings = Field(default_factory=FaceSettings)
    analyzers: list[str] | None = Field(
        default=None, description="analyzer names to run; None runs every registered one"
    )
    explain: bool = Field(
        default=False, description="compute per-face heatmaps (needed by the HTML report)"
    )
