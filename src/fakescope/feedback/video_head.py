"""The appearance head (what the video clip model reads: CLIP over a clip's frames)
retrained from a deployment's reviewed videos: a challenger that replaces the head in use
only when it beats it on held-out reviews and is no worse on the bundled benchmark
(``fakescope train video-head --feedback``; docs/feedback.md).

The flow of feedback/heads.py (its fit, promotion rule and tolerances), with three
differences:

- *No subspace.* The head's linear model reads 37 standardised values (32 PCA components
  of the frames' token, 5 steps), so ``appearance.feedback.npz`` (scripts/feedback_bundle.py
  ``--appearance``) ships those values themselves for the replay and guard clips, and a
  challenger's move ``Delta`` is one of the 37 coefficients and the intercept, folded
  exactly into the head file (coef + d, intercept + b).
- *A reviewed video is judged as its scan would have been with another appearance logit*,
  reconstructed from its stored report: the fusion card's clip model turns the logit into
  the clip probability (its other features, if any, at the values the scan reported); the
  followed person's score is the larger of it and their face score when at or above the
  card's ``face_gate``; other counted people keep their gated face score; the maximum,
  calibrated by the card's ``video`` entry, is `fake` at its threshold (the local
  calibration's when one is current). A verdict the head took no part in (no face, a still
  picture, no clip-model opinion, or decided by Content Credentials or a synthetic voice)
  stays what it was, for both heads alike.
- *The guard clips have no report*: they are judged by the clip probability alone,
  calibrated, at the same threshold, and ranked by the appearance logit (AUC). So is the
  intercept re-set on the replay clips.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.feedback import heads, versions
from fakescope.feedback.heads import (
    AUC_TOLERANCE,
    DETECTION_TOLERANCE,
    FALSE_ALARM_TOLERANCE,
    FOLDS,
    LAM,
    REVIEW_WEIGHT,
    Comparison,
    Delta,
    FeedbackHeadError,
    Sample,
    _side,
    enough,
    fold_of,
    in_use,
    reviewed_uploads,
    why_not_promoted,
    with_head,
)
from fakescope.feedback.heads import fit as fit_beside_replay
from fakescope.feedback.versions import LocalCalibration, LocalHead
from fakescope.models.card import ClipModel, FusionCard, FusionParams

BUNDLE_FILE = "appearance.feedback.npz"
HEAD_NAME = "appearance"
HEAD_FILE = "appearance.head.json"
FEATURE = "appearance.logit"  # how the clip model names the head's logit
# Evidence that decides a video whatever the clip model says (fusion.apply_provenance,
# scan.audio.count_soundtrack).
FIXED_BY = frozenset({"provenance", "synthetic_voice"})


@dataclass(frozen=True)
class Bundle:
    """Training clips as the head's linear model reads them (``Sample.z``: 37 values)."""

    replay: Sample
    guard: Sample
    head_sha256: str

    @property
    def inputs(self) -> int:
        return int(self.replay.z.shape[1])


def load_bundle(weights_dir: Path) -> Bundle:
    path = weights_dir / BUNDLE_FILE
    try:
        z = np.load(path)
        parts = {
            name: Sample(
                z[f"{name}_z"].astype(np.float64),
                z[f"{name}_logit"].astype(np.float64),
                z[f"{name}_label"].astype(np.int64),
                z[f"{name}_source"].astype(str),
            )
            for name in ("replay", "guard")
        }
        bundle = Bundle(parts["replay"], parts["guard"], str(z["head_sha256"]))
    except (OSError, KeyError, ValueError) as exc:
        raise FeedbackHeadError(f"{path} is missing or unreadable ({exc}): reinstall fakescope") from None
    shipped = weights_dir / HEAD_FILE
    if hashlib.sha256(shipped.read_bytes()).hexdigest() != bundle.head_sha256:
        raise FeedbackHeadError(
            f"{path} was built for another {shipped.name}: rebuild it with scripts/feedback_bundle.py "
            "--appearance"
        )
    return bundle


def shipped_head(weights_dir: Path) -> dict[str, Any]:
    return dict(json.loads((weights_dir / HEAD_FILE).read_text(encoding="utf-8")))


def shipped_logit(shipped: dict[str, Any], z: np.ndarray) -> np.ndarray:
    return np.atleast_2d(z) @ np.asarray(shipped["coef"], np.float64) + float(shipped["intercept"])


def head_with(shipped: dict[str, Any], delta: Delta) -> dict[str, Any]:
    """The head file of a challenger: the shipped one with the move added to its linear
    model (its reading, PCA and standardisation, unchanged)."""
    coef = np.asarray(shipped["coef"], np.float64) + np.asarray(delta.d, np.float64)
    return {
        **shipped,
        "coef": [round(float(c), 8) for c in coef],
        "intercept": round(float(shipped["intercept"]) + delta.b, 8),
        "feedback": "retrained on a deployment's reviews (fakescope train video-head --feedback)",
    }


def _calibrated(p: np.ndarray, params: FusionParams) -> np.ndarray:
    """``fusion.calibrate``, on arrays."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(1 / (1 + np.exp(-(params.a * np.log(p / (1 - p)) + params.b))))


@dataclass(frozen=True)
class ClipReading:
    """How an appearance logit becomes a video's evidence: the fusion card's clip model,
    whose probability the card's ``video`` entry calibrates and judges. Without other
    features (a bundled clip) the clip model's other inputs take their absent values."""

    model: ClipModel
    params: FusionParams

    @classmethod
    def of(cls, card: FusionCard) -> ClipReading:
        model = card.video_model
        if model is None or card.video is None or FEATURE not in model.features:
            raise FeedbackHeadError(
                f"the fusion card ({card.version}) has no clip model reading {FEATURE}: "
                "nothing judges the head"
            )
        reading = cls(model, card.video)
        if reading.weight <= 0:
            raise FeedbackHeadError(f"the fusion card's clip model weighs {FEATURE} at or below 0")
        return reading

    @property
    def weight(self) -> float:
        """The clip model's logit per unit of appearance logit (the model is linear in it)."""
        i = self.model.features.index(FEATURE)
        return self.model.coef[i] / self.model.scale[i]

    def offset(self, values: dict[str, float | None] | None = None) -> float:
        """The clip model's logit without the appearance term."""
        return self.model.logit({**(values or {}), FEATURE: 0.0})

    def clip_p(self, logit: np.ndarray, offset: np.ndarray | float | None = None) -> np.ndarray:
        off = self.offset() if offset is None else offset
        return np.asarray(1 / (1 + np.exp(-np.clip(off + self.weight * np.asarray(logit), -30, 30))))

    def calls_fake(self, logit: np.ndarray) -> np.ndarray:
        """A clip judged by the clip model alone (a guard or replay clip: no face score)."""
        return _calibrated(self.clip_p(logit), self.params) >= self.params.threshold_fake

    def logit_at_threshold(self) -> float:
        t = self.params.threshold_fake
        clip_logit = (math.log(t / (1 - t)) - self.params.b) / self.params.a
        return (clip_logit - self.offset()) / self.weight


@dataclass(frozen=True)
class Judged:
    """How a reviewed video's verdict depends on the appearance logit, read from its report."""

    fixed: bool | None  # called fake whatever the head reads (None: the head takes part)
    floor: float = 0.0  # the largest score beside the clip model's: counted faces, gated
    offset: float = 0.0  # the clip model's logit before the appearance term


def _values(report: dict[str, Any]) -> dict[str, float | None]:
    """What the clip model read, as ``scan.video.clip_features`` named it: each analyzer's
    score and the numbers of its details."""
    out: dict[str, float | None] = {}
    for a in report.get("analyzers") or []:
        name = a.get("name")
        if not name:
            continue
        out[name] = a.get("score")
        for k, v in (a.get("details") or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[f"{name}.{k}"] = float(v)
    return out


def judged(report_json: str | None, reading: ClipReading) -> Judged:
    """From a stored report (``scan.video._fuse_video``'s tracks), what would decide the video
    with another appearance logit."""
    try:
        report = json.loads(report_json or "{}")
    except ValueError:
        report = {}
    if not isinstance(report, dict):
        report = {}
    as_scanned = report.get("verdict") == "fake"
    tracks = [t for t in report.get("tracks") or [] if isinstance(t, dict)]
    main = next((t for t in tracks if "clip-model" in (t.get("evidence") or {})), None)
    if report.get("decided_by") in FIXED_BY or main is None or not main.get("counted", True):
        return Judged(as_scanned)
    gate = reading.model.face_gate
    faces = [t["frame_score"] for t in tracks if t.get("counted", True) and t.get("frame_score") is not None]
    floor = max((f if gate is None or f >= gate else 0.0 for f in faces), default=0.0)
    return Judged(None, float(floor), reading.offset(_values(report)))


@dataclass(frozen=True)
class ReviewJudge:
    """The reviewed videos, in order, judged by a vector of appearance logits (one each)."""

    videos: list[Judged]
    reading: ClipReading

    def calls_fake(self, logit: np.ndarray) -> np.ndarray:
        fixed = np.array([j.fixed is True for j in self.videos])
        free = np.array([j.fixed is None for j in self.videos])
        floor = np.array([j.floor for j in self.videos])
        offset = np.array([j.offset for j in self.videos])
        raw = np.maximum(floor, self.reading.clip_p(logit, offset))
        called = _calibrated(raw, self.reading.params) >= self.reading.params.threshold_fake
        return np.where(free, called, fixed)

    def logit_at_threshold(self) -> float:
        return self.reading.logit_at_threshold()


def fit(
    z: np.ndarray,
    shipped: np.ndarray,
    y: np.ndarray,
    bundle: Bundle,
    reading: ClipReading,
    champion: Delta,
    lam: float = LAM,
    review_weight: float = REVIEW_WEIGHT,
) -> Delta:
    """A challenger from reviewed videos (z, shipped logit, label 1 = fake) and the replay
    clips (feedback/heads.py's fit: the replay fakes at or above `fake` in the champion's share)."""
    return fit_beside_replay(z, shipped, y, bundle, reading, champion, lam, review_weight)


def compare(
    ids: list[str],
    z: np.ndarray,
    shipped: np.ndarray,
    y: np.ndarray,
    videos: list[Judged],
    bundle: Bundle,
    reading: ClipReading,
    champion: Delta,
    challenger: Delta,
    lam: float = LAM,
    review_weight: float = REVIEW_WEIGHT,
) -> Comparison:
    held = np.zeros(len(y))
    folds = np.array([fold_of(i) for i in ids])
    for k in range(FOLDS):
        te = folds == k
        if te.any():
            part = fit(z[~te], shipped[~te], y[~te], bundle, reading, champion, lam, review_weight)
            held[te] = part.logits(z[te], shipped[te])
    judge = ReviewJudge(videos, reading)
    reviews = {
        "champion": _side(y, champion.logits(z, shipped), judge),
        "challenger": _side(y, held, judge),
    }
    g = bundle.guard
    guard = {
        "champion": _side(g.label, champion.logits(g.z, g.logit), reading),
        "challenger": _side(g.label, challenger.logits(g.z, g.logit), reading),
    }
    reasons = why_not_promoted(reviews, guard)
    return Comparison(
        reviews_real=int((y == 0).sum()),
        reviews_fake=int((y == 1).sum()),
        reviews=reviews,
        guard=guard,
        guard_size={"real": int((g.label == 0).sum()), "fake": int((g.label == 1).sum())},
        promoted=not reasons,
        reasons=reasons,
        settings={
            "lam": lam,
            "review_weight": review_weight,
            "rank": float(bundle.inputs),
            "auc_tolerance": AUC_TOLERANCE,
            "detection_tolerance": DETECTION_TOLERANCE,
            "false_alarm_tolerance": FALSE_ALARM_TOLERANCE,
        },
    )


@dataclass(frozen=True)
class ReviewedVideo:
    scan_id: str
    fake: bool
    reviewer: str
    features: np.ndarray
    report: str | None


def reviewed_videos(
    db: Any,
    blobs: Any,
    features_of: Any,
    progress: bool | None = None,
) -> tuple[list[ReviewedVideo], Counter[str]]:
    """The deployment's videos reviewed fake or real whose upload is still kept, with what
    the head's linear model reads in each (``features_of(path) -> array | None``) and their
    stored report; and why others were left out."""
    found, skipped = reviewed_uploads(db, blobs, "video", features_of, "no frames the head can read",
                                      "videos", progress)
    return [ReviewedVideo(r.scan_id, r.fake, r.reviewer, np.asarray(r.value, np.float64), r.report)
            for r in found], skipped


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    challenger: LocalHead
    calibration: LocalCalibration = field(repr=False)
    videos: int
    skipped: Counter[str]


def retrain(
    db: Any,
    blobs: Any,
    folder: Path,
    weights_dir: Path,
    card: FusionCard,
    features_of: Any,
    lam: float = LAM,
    review_weight: float = REVIEW_WEIGHT,
    progress: bool | None = None,
    command: str = "",
) -> Outcome:
    """Fit a challenger on the deployment's reviewed videos and compare it with the head in
    use (the current local calibration's, or the bundled one). Saves nothing: the caller
    keeps the comparison and, when ``comparison.promoted``, saves ``calibration``."""
    bundle = load_bundle(weights_dir)
    shipped = shipped_head(weights_dir)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    current, head_in_use = in_use(folder, HEAD_NAME)
    champion = heads.champion_of(head_in_use, bundle.inputs)
    reading = ClipReading.of(versions.apply(card, current) if current is not None else card)
    videos, skipped = reviewed_videos(db, blobs, features_of, progress)
    enough(len(videos), "videos")
    z = np.stack([v.features for v in videos])
    if z.shape[1] != bundle.inputs:
        raise FeedbackHeadError(f"{z.shape[1]} values per video, the head reads {bundle.inputs}")
    base_logit = shipped_logit(shipped, z)
    y = np.array([int(v.fake) for v in videos])
    ids = [v.scan_id for v in videos]
    judgements = [judged(v.report, reading) for v in videos]
    challenger = fit(z, base_logit, y, bundle, reading, champion, lam, review_weight)
    comparison = compare(
        ids, z, base_logit, y, judgements, bundle, reading, champion, challenger, lam, review_weight
    )
    local_head = LocalHead(
        head=head_with(shipped, challenger),
        delta=challenger.model_dump(),
        base_head_sha256=bundle.head_sha256,
        comparison=comparison.model_dump(),
        reviewers=dict(Counter(v.reviewer for v in videos)),
        scans=ids,
        created=now,
    )
    calibration = with_head(current, HEAD_NAME, local_head, card.version, command)
    return Outcome(comparison, local_head, calibration, len(videos), skipped)


def keep(folder: Path, outcome: Outcome) -> Path:
    """Every challenger's comparison is kept, promoted or not: ``DIR/challengers/appearance-TIME.json``."""
    return heads.keep(folder, outcome, HEAD_NAME)
