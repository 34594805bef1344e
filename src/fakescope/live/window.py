"""The sliding window per person: faces -> tracks -> face-model scores -> a rolling verdict.

One pipeline with the video scan (``scan/video.py``): the Scanner's face detector
(detection every ``REDETECT_S`` of stream time, FaceMesh following the faces in between,
the small-face tile search on every ``TILE_EVERY``-th detection), its face analyzers on
every analysed frame, ``faces.tracking.Tracker`` linking faces into people, and the same
aggregation and calibration: a person's score over the window is the trimmed mean of
their frame logits (``robust_track_score``), recalibrated by the fusion card's
``video_faces`` entry (else ``video``) and judged against its thresholds
(``verdict_for``). The clip-level evidence that needs a whole clip (blinking over 40 s,
lip-sync, the clip model) is not used live.

Memory stays flat: scores older than the window are dropped, a track keeps only the few
points the tracker compares with, and a person not seen for a window is forgotten.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fakescope.analyzers.base import ScanItem, media_types
from fakescope.errors import FakescopeError, LiveSourceError
from fakescope.faces.tracking import Track, Tracker
from fakescope.faces.types import Face
from fakescope.fusion import band_of, calibrate, verdict_for
from fakescope.media.types import ImageMedia
from fakescope.scan.video import REDETECT_S, TILE_EVERY, robust_track_score

if TYPE_CHECKING:
    from fakescope.scan.scanner import Scanner

# A person needs this many judged frames in the window before they get a verdict: one
# frame is a detector's false alarm as often as a face (scan/video.py, MIN_TRACK_FRAMES).
MIN_FRAMES = 3
# The tracker compares a face with a track's last 5 appearance vectors (Track.mean_embedding).
KEEP_POINTS = 5


@dataclass
class Judgement:
    verdict: str
    score: float | None
    frames: int
    reason: str


@dataclass
class Person:
    number: int  # 1, 2...: as people are named in reports ("person 1")
    track: Track
    scores: deque[tuple[float, float | None]] = field(default_factory=deque)  # (time_s, p)
    last_seen_s: float = 0.0
    last_arrival: float = 0.0
    box: tuple[float, float, float, float] | None = None
    alerted: bool = False  # alerted, and not yet judged real again

    def judged(self) -> list[float]:
        return [p for _, p in self.scores if p is not None]


class LiveAnalysis:
    """Feed it frames (``add``); ask for each person's verdict over the window (``judge``)."""

    def __init__(self, scanner: Scanner, window_s: float, min_frames: int = MIN_FRAMES) -> None:
        self.scanner = scanner
        self.window_s = window_s
        self.min_frames = min_frames
        self.analyzers = [a for a in scanner.analyzers
                          if a.needs_faces and "frame" in media_types(a)]
        if not self.analyzers:
            raise LiveSourceError("watching needs a face analyzer that judges video frames "
                                  "(face-forgery); none is loaded")
        fusion = scanner.fusion
        # Live judges the face model alone: its own calibration (fusion card 4.0.0 on).
        self.params = (fusion.video_faces or fusion.video) if fusion is not None else None
        self.band = band_of(self.params, scanner.band)
        self.tracker = Tracker()
        self.people: dict[int, Person] = {}  # by id() of the track
        self._numbers = 0
        self._n = 0  # analysed frames (the tracker's frame index)
        self._faces: list[Face] = []
        self._detections = 0
        self._last_detection = -np.inf
        self.errors: dict[str, str] = {}
        self.latest_s: float | None = None
        self.latest_arrival = 0.0

    def add(self, rgb: np.ndarray, time_s: float, arrived: float) -> list[Person]:
        """Analyse one frame; returns the people seen in it."""
        det = self.scanner.detector
        followed = None
        if self._faces and time_s - self._last_detection < REDETECT_S:
            followed = det.follow(rgb, self._faces)
        if followed is not None and all(f is not None for f in followed):
            faces: list[Face] = followed  # type: ignore[assignment]
        else:
            faces = det.detect(rgb, tiles=self._detections % TILE_EVERY == 0)
            self._detections += 1
            self._last_detection = time_s
        self._faces = faces
        tracks = self.tracker.add(self._n, time_s, rgb, faces)
        self._n += 1
        per_face: list[list[float]] = [[] for _ in faces]
        if faces:
            item = ScanItem(media=ImageMedia(rgb=rgb, format="frame", source_mode="RGB"),
                            faces=faces, settings=self.scanner.settings)
            for a in self.analyzers:
                if a.name in self.errors:
                    continue
                try:
                    ev = a.analyze(item)
                except FakescopeError as exc:
                    self.errors[a.name] = str(exc)
                    continue
                for i, sc in enumerate(ev.face_scores or []):
                    if sc is not None and i < len(per_face):
                        per_face[i].append(sc)
        seen = []
        for track, face, vals in zip(tracks, faces, per_face, strict=True):
            person = self.people.get(id(track))
            if person is None:
                self._numbers += 1
                person = self.people[id(track)] = Person(self._numbers, track)
            score = float(np.mean(vals)) if vals else None
            person.scores.append((time_s, score))
            person.last_seen_s, person.last_arrival = time_s, arrived
            person.box = tuple(round(float(v), 1) for v in face.box)  # type: ignore[assignment]
            del track.points[:-KEEP_POINTS]
            for p in track.points:
                p.crop = None  # only the appearance vector is compared
            seen.append(person)
        self.latest_s, self.latest_arrival = time_s, arrived
        self._forget(time_s)
        return seen

    def _forget(self, now_s: float) -> None:
        start = now_s - self.window_s
        for key, person in list(self.people.items()):
            while person.scores and person.scores[0][0] < start:
                person.scores.popleft()
            if person.last_seen_s < start:
                del self.people[key]
        live = {id(p.track) for p in self.people.values()}
        self.tracker.tracks = [t for t in self.tracker.tracks if id(t) in live]

    def judge(self, person: Person) -> Judgement:
        """The person's verdict over the window (the video scan's aggregation)."""
        vals = person.judged()
        if len(vals) < self.min_frames:
            why = ("too few judged frames" if len(person.scores) >= self.min_frames
                   else "seen in too few frames")
            return Judgement("inconclusive", None, len(vals),
                             f"{why} in the last {self.window_s:g} s ({len(vals)} of {self.min_frames})")
        raw = robust_track_score(vals)
        assert raw is not None
        score = calibrate(raw, self.params)
        verdict, reason = verdict_for(score, self.band)
        return Judgement(verdict, round(float(score), 4), len(vals), reason)

    def counted(self) -> list[Person]:
        """People with enough frames in the window to be reported, in order."""
        return sorted((p for p in self.people.values() if len(p.scores) >= self.min_frames),
                      key=lambda p: p.number)
