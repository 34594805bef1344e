"""Local calibrations as numbered files: ``DIR/v0001.json``, ``v0002.json``, … and
``DIR/current`` naming the one in use (absent or empty: the bundled thresholds). Writing a
new version never touches the old ones; a rollback only moves ``current``.

A scanner given the folder reads ``current`` before each file (a ``stat``), so a running
service uses a new calibration, or a rollback, from its next scan on.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from fakescope.errors import FakescopeError
from fakescope.models.card import FusionCard, FusionParams

CURRENT = "current"
# The kinds of evidence a local calibration may move, and the fusion card's entries that
# hold their thresholds (generated-image evidence read through CLIP has its own entry: a
# reviewed probability is whichever the scan used, so both move together; a video's
# probability is the clip model's beside the face model's, or the face model's alone, each
# with its entry). Audio's band is the voice model card's, not the fusion card's: a local
# calibration holds it for scan/audio.py to read (Scanner.audio_band).
KINDS = {"face_manipulation": ("image",), "generated_image": ("generated", "generated_clip"),
         "local_edit": ("local_edit",), "video": ("video", "video_faces"), "audio": ()}
MEDIA_OF = {"face_manipulation": "image", "generated_image": "image", "local_edit": "image", "video": "video",
            "audio": "audio"}


class CalibrationError(FakescopeError):
    code = "calibration"


class KindThresholds(BaseModel):
    threshold_fake: float = Field(ge=0, le=1)
    threshold_real: float = Field(ge=0, le=1)
    before: tuple[float, float] = Field(description="the thresholds it replaced (fake, real)")
    real_labels: int
    fake_labels: int
    bound: float = Field(description="how far it was allowed to move from the bundled threshold")
    bounded: bool = Field(description="whether the bound stopped it")
    lower_needs_fakes: bool = Field(False, description="it would have moved down, which needs "
                                    "fake labels too (feedback/calibrate.py MIN_FAKE)")


class LocalHead(BaseModel):
    """A head retrained on this deployment's reviews (feedback/heads.py) and why it won."""

    head: dict[str, Any] = Field(description="the head file a scanner reads in place of the bundled one")
    delta: dict[str, Any] = Field(description="its move from the bundled head, in the bundle's subspace")
    base_head_sha256: str
    comparison: dict[str, Any] = Field(description="champion against challenger when it was promoted")
    reviewers: dict[str, int]
    scans: list[str]
    created: dt.datetime


class LocalCalibration(BaseModel):
    version: int
    created: dt.datetime
    base_fusion: str = Field(description="the bundled fusion card's version it was fitted over")
    fpr: float = Field(description="the share of reviewed real media a kind may call fake")
    kinds: dict[str, KindThresholds]
    reviewers: dict[str, int] = Field(description="whose labels it used: API key id (or 'local') -> labels")
    scans: list[str] = Field(description="the reviewed scans it used")
    figures: dict[str, dict[str, float | int | None]] = Field(
        default_factory=dict, description="cross-validated before/after, per media type")
    command: str = ""
    heads: dict[str, LocalHead] = Field(default_factory=dict, description="analyzer name -> retrained head")


def _path(folder: Path, version: int) -> Path:
    return folder / f"v{version:04d}.json"


def versions(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob("v*.json"):
        try:
            out.append(int(p.stem[1:]))
        except ValueError:
            continue
    return sorted(out)


def current_version(folder: Path) -> int | None:
    try:
        text = (folder / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def _set_current(folder: Path, version: int | None) -> None:
    tmp = folder / f".{CURRENT}.tmp"
    tmp.write_text("" if version is None else f"{version}\n", encoding="utf-8")
    os.replace(tmp, folder / CURRENT)  # atomic: a scanner never reads half a name


def load(folder: Path, version: int) -> LocalCalibration:
    try:
        return LocalCalibration.model_validate_json(_path(folder, version).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"no local calibration v{version} in {folder}") from None


def save_new(folder: Path, calibration: LocalCalibration) -> LocalCalibration:
    """Write it as the next version and make it current."""
    folder.mkdir(parents=True, exist_ok=True)
    calibration = calibration.model_copy(update={"version": (versions(folder) or [0])[-1] + 1})
    _path(folder, calibration.version).write_text(calibration.model_dump_json(indent=2) + "\n",
                                                  encoding="utf-8")
    _set_current(folder, calibration.version)
    return calibration


def rollback(folder: Path) -> int | None:
    """Make the version before the current one current (None: the bundled thresholds)."""
    cur = current_version(folder)
    if cur is None:
        raise CalibrationError("nothing to roll back: the bundled thresholds are in use")
    earlier = [v for v in versions(folder) if v < cur]
    previous = earlier[-1] if earlier else None
    _set_current(folder, previous)
    return previous


def note_for(version: int | None, local: LocalCalibration | None = None,
             kinds: Collection[str] | None = None) -> list[str]:
    """The report's notes on which thresholds and heads judged it, when they are the
    deployment's own (``kinds``: the kinds of evidence the media's verdict reads; None: any)."""
    if not version:
        return []
    notes = []
    if local is None or any(k in local.kinds for k in (local.kinds if kinds is None else kinds)):
        notes.append(f"thresholds: local calibration v{version} fitted on this deployment's reviews")
    for name in sorted(local.heads if local is not None else ()):
        notes.append(f"{name} head: retrained on this deployment's reviews (local calibration v{version})")
    return notes


def apply(card: FusionCard, local: LocalCalibration) -> FusionCard:
    """The bundled card with the local thresholds in place of its own."""
    update: dict[str, FusionParams] = {}
    for kind, t in local.kinds.items():
        for entry in KINDS.get(kind, ()):
            params = getattr(card, entry)
            if params is not None:
                update[entry] = params.model_copy(update={"threshold_fake": t.threshold_fake,
                                                          "threshold_real": t.threshold_real})
    return card.model_copy(update=update)


class Watcher:
    """The fusion card a scanner should use now: the bundled one, with the current local
    calibration of ``folder`` applied; re-read when ``current`` changes."""

    def __init__(self, bundled: FusionCard | None, folder: Path | None) -> None:
        self.bundled, self.folder = bundled, folder
        self._seen: tuple[int, int, int] | None = None
        self._card = bundled
        self.version: int | None = None
        self.local: LocalCalibration | None = None

    def card(self) -> FusionCard | None:
        if self.folder is None or self.bundled is None:
            return self.bundled
        try:
            st = (self.folder / CURRENT).stat()
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)  # a new file on every change (os.replace)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            self._seen = seen
            self.version = current_version(self.folder) if seen else None
            self.local = None if self.version is None else load(self.folder, self.version)
            self._card = self.bundled if self.local is None else apply(self.bundled, self.local)
        return self._card
