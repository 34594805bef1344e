"""The analyzer contract.

An analyzer has a ``name``, a ``version``, an optional model ``card`` and one method,
``analyze(item) -> Evidence``. It never decodes media and never writes files: it gets
the decoded media and the faces found once per item, and returns evidence.

An optional ``media_types`` attribute says what it judges (default ``{"image"}``):
``image`` (still image files), ``frame`` (every sampled frame of a video, as a
``ScanItem`` too), ``video`` (a whole clip once, as a ``VideoItem``: face tracks, dense
landmarks, audio), ``audio`` (an audio file, as an ``AudioItem``) and ``soundtrack``
(the audio track of a video, once per clip, also as an ``AudioItem``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fakescope.config import ScanSettings
from fakescope.faces.types import Face
from fakescope.media.types import Media
from fakescope.models.card import ModelCard


@dataclass
class ScanItem:
    media: Media
    faces: list[Face]
    settings: ScanSettings


@dataclass
class VideoItem:
    """A whole clip: its face tracks over the sampled frames, the dense landmark series of
    the face followed (the most prominent one that is not a still picture), and the mono
    audio track (when there is one)."""

    media: Any  # fakescope.media.video.VideoMedia
    tracks: list[Any]  # fakescope.faces.tracking.Track
    series: Any | None  # fakescope.faces.landmark_series.LandmarkSeries
    audio: np.ndarray | None
    audio_rate: int
    settings: ScanSettings
    followed: Any | None = None  # the track ``series`` follows (None: the most prominent)


@dataclass
class AudioItem:
    """An audio file or a video's soundtrack, streamed: ``chunks()`` starts a fresh pass of
    mono float32 blocks at ``rate`` Hz, so an hour of audio is never held in memory."""

    media: Any  # fakescope.media.audio.AudioMedia, or the VideoMedia whose soundtrack it is
    chunks: Callable[[], Iterator[np.ndarray]]
    rate: int
    settings: ScanSettings


@dataclass
class Segment:
    """A stretch of audio an analyzer judged (or found no speech in)."""

    start_s: float
    end_s: float
    speech: bool
    score: float | None  # calibrated probability; None without speech
    traces: dict[str, float] | None = None  # per trace kind, its probability (voice_traces)


def media_types(analyzer: object) -> frozenset[str]:
    return frozenset(getattr(analyzer, "media_types", ("image",)))


@dataclass
class FaceHeatmap:
    """Where a face analyzer saw manipulation, on its aligned crop."""

    face_index: int
    heat: np.ndarray  # (h, w) float in [0, 1], crop coordinates (any resolution)
    crop_size: int
    image_to_crop: np.ndarray  # 2x3 affine matrix


@dataclass
class ImageHeatmap:
    """Where in the whole image a whole-image analyzer saw its evidence."""

    # (h, w) float in [0, 1] at image resolution, or a uniform downscale of it for large
    # pictures (same aspect: resize to draw); NaN where nothing looked
    heat: np.ndarray
    source: str  # the analyzer's name


@dataclass
class Evidence:
    score: float | None  # 0..1, higher = more likely manipulated; None = no opinion
    face_scores: list[float | None] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    heatmaps: list[FaceHeatmap] = field(default_factory=list)
    image_heatmaps: list[ImageHeatmap] = field(default_factory=list)
    segments: list[Segment] | None = None  # audio analyzers: the score over time


@runtime_checkable
class Analyzer(Protocol):
    name: str
    version: str
    card: ModelCard | None
    #: True when the analyzer judges faces: with no face it has nothing to say.
    needs_faces: bool

    def analyze(self, item: ScanItem) -> Evidence: ...
