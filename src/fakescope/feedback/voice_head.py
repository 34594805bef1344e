"""The voice model's head retrained from a deployment's reviews: a challenger that replaces
the head in use only when it beats it on held-out reviewed audio files and is no worse on
the bundled benchmark (``fakescope train voice-head --feedback``; docs/feedback.md). The
flow of ``heads.py`` (the generated-image head), for audio files.

What moves: the voice model scores each 2 s speech window with an MLP over pooled Whisper
statistics; a challenger adds ``h · d + b`` to each window's spoof logit, ``h`` the MLP's
128 hidden activations (``analyzers/voice.py`` reads them from an extra graph output). The
file logit stays the 10 % trimmed mean of window logits, calibrated by the voice card, and
its score is judged at the audio band in use (the local calibration's `audio` thresholds,
else the card's), as the report gives it (rounded to 4 decimals).

``voice.feedback.npz`` (scripts/voice_feedback_bundle.py) holds, per training file, the mean
of ``h`` and of the shipped logit over at most 9 speech windows, where the trimmed mean
drops nothing, so a challenger's logit on a bundled file is exactly ``shipped + z · d +
b``: the *replay* sample is fitted beside the reviews, the *guard* sample is the
benchmark. A reviewed file has as many windows as it has: the fit reads it through the
same linear view (``h`` averaged over the windows the trimmed mean keeps), and every
judgement of it uses its exact trimmed mean.

The fit (``heads.fit``: weighted log loss, the reviews together weighing as much as the
replay sample, an L2 pull on ``d``, the intercept then set so that the replay sample's
synthetic files reach `fake` in the share the head in use gives them) and the promotion
rule (``heads.why_not_promoted``: fewer mistakes on cross-validated held-out reviews; on
the guard sample an AUC, detection and false alarms within the tolerances) are the
generated-image head's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.analyzers.voice import HIDDEN_OUTPUT, TRIM, LocalVoiceHead, trimmed_mean
from fakescope.evaluation.calibration import sigmoid
from fakescope.feedback import heads
from fakescope.feedback.heads import (
    FOLDS,
    LAM,
    REVIEW_WEIGHT,
    Comparison,
    Delta,
    FeedbackHeadError,
    Sample,
    fold_of,
)
from fakescope.feedback.versions import LocalCalibration, LocalHead

BUNDLE_FILE = "voice.feedback.npz"
HEAD_NAME = "voice"
MODEL = "voice"


@dataclass(frozen=True)
class Bundle:
    """Training files as the challenger sees them: mean ``h`` (z), mean shipped logit."""

    replay: Sample
    guard: Sample
    model_sha256: str

    @property
    def hidden(self) -> int:
        return int(self.replay.z.shape[1])


def load_bundle(weights_dir: Path) -> Bundle:
    from fakescope.models import load_card

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
        sha, output = str(z["head_sha256"]), str(z["hidden_output"])
    except (OSError, KeyError, ValueError) as exc:
        raise FeedbackHeadError(f"{path} is missing or unreadable ({exc}): reinstall fakescope") from None
    model = weights_dir / load_card(MODEL, weights_dir).file
    if output != HIDDEN_OUTPUT or hashlib.sha256(model.read_bytes()).hexdigest() != sha:
        raise FeedbackHeadError(
            f"{path} was built for another {model.name}: rebuild it with scripts/voice_feedback_bundle.py"
        )
    return Bundle(parts["replay"], parts["guard"], sha)


@dataclass(frozen=True)
class AudioReading:
    """How a file logit becomes an audio report's score (the voice card's calibration, rounded
    as the report rounds it) and the `fake` threshold of the audio band in use."""

    a: float
    b: float
    threshold_fake: float

    def score(self, logit: np.ndarray) -> np.ndarray:
        return np.round(sigmoid(self.a * np.asarray(logit, np.float64) + self.b), 4)

    def calls_fake(self, logit: np.ndarray) -> np.ndarray:
        return np.asarray(self.score(logit) >= self.threshold_fake)

    def logit_at_threshold(self) -> float:
        # the lowest probability whose 4-decimal rounding reaches the threshold
        p = math.ceil(self.threshold_fake * 1e4 - 1e-9) / 1e4 - 5e-5
        return (math.log(p / (1 - p)) - self.b) / self.a


def reading_for(weights_dir: Path, current: LocalCalibration | None) -> AudioReading:
    """The reading of audio files in use: the card's calibration, and the local calibration's
    `audio` threshold when it holds one (``Scanner.audio_band``), else the card's band."""
    from fakescope.models import load_card

    card = load_card(MODEL, weights_dir)
    local = current.kinds.get("audio") if current is not None else None
    fake = local.threshold_fake if local is not None else card.inconclusive_band[1]
    return AudioReading(float(card.calibration.a), float(card.calibration.b), float(fake))


@dataclass(frozen=True)
class ReviewedAudio:
    """A reviewed audio file: its speech windows' hidden activations and shipped logits."""

    scan_id: str
    fake: bool
    reviewer: str
    hidden: np.ndarray  # (N, 128)
    logits: np.ndarray  # (N,)

    def logit(self, delta: Delta) -> float:
        """Its file logit under ``delta``, exactly as the analyzer computes it."""
        return trimmed_mean(list(delta.logits(self.hidden, self.logits)))

    def linear(self) -> tuple[np.ndarray, float]:
        """(z, shipped): mean ``h`` over the windows the shipped head's trimmed mean keeps, and
        that trimmed mean: the file logit is ``shipped + z · d + b`` while the trimming keeps
        the same windows."""
        n = len(self.logits)
        k = int(n * TRIM)
        order = np.argsort(self.logits, kind="stable")
        kept = order[k : n - k] if n - 2 * k > 0 else order
        return self.hidden[kept].mean(0), trimmed_mean(list(self.logits))


def _logits(files: list[ReviewedAudio], delta: Delta) -> np.ndarray:
    return np.array([f.logit(delta) for f in files])


def compare(
    files: list[ReviewedAudio],
    bundle: Bundle,
    reading: AudioReading,
    champion: Delta,
    challenger: Delta,
    lam: float = LAM,
    review_weight: float = REVIEW_WEIGHT,
) -> Comparison:
    """Champion against challenger on the reviews (five folds by scan id, each judged by a
    challenger fitted on the other four) and on the guard sample."""
    z = np.stack([f.linear()[0] for f in files])
    shipped = np.array([f.linear()[1] for f in files])
    y = np.array([int(f.fake) for f in files])
    held = np.zeros(len(files))
    folds = np.array([fold_of(f.scan_id) for f in files])
    for k in range(FOLDS):
        te = folds == k
        if te.any():
            part = heads.fit(z[~te], shipped[~te], y[~te], bundle, reading, champion, lam, review_weight)
            held[te] = _logits([f for f, t in zip(files, te, strict=True) if t], part)
    reviews = {
        "champion": heads._side(y, _logits(files, champion), reading),
        "challenger": heads._side(y, held, reading),
    }
    g = bundle.guard
    guard = {
        "champion": heads._side(g.label, champion.logits(g.z, g.logit), reading),
        "challenger": heads._side(g.label, challenger.logits(g.z, g.logit), reading),
    }
    reasons = heads.why_not_promoted(reviews, guard)
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
            "hidden": float(bundle.hidden),
            "threshold_fake": reading.threshold_fake,
            "auc_tolerance": heads.AUC_TOLERANCE,
            "detection_tolerance": heads.DETECTION_TOLERANCE,
            "false_alarm_tolerance": heads.FALSE_ALARM_TOLERANCE,
        },
    )


def reviewed_audio(
    db: Any,
    blobs: Any,
    readings_of: Any,
    progress: bool | None = None,
) -> tuple[list[ReviewedAudio], Counter[str]]:
    """The deployment's audio files reviewed fake or real whose upload is still kept, with what
    the head reads in them (``readings_of(path) -> (hidden (N, 128), logits (N,)) | None``,
    None: no opinion on it); and why others were left out."""
    found, skipped = heads.reviewed_uploads(db, blobs, "audio", readings_of,
                                            "too little speech, or not readable as audio", "audio files",
                                            progress)
    out = []
    for r in found:
        h, logits = (np.asarray(a, np.float64) for a in r.value)
        out.append(ReviewedAudio(r.scan_id, r.fake, r.reviewer, np.atleast_2d(h), np.atleast_1d(logits)))
    return out, skipped


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    challenger: LocalHead
    calibration: LocalCalibration = field(repr=False)
    files: int
    skipped: Counter[str]


def retrain(
    db: Any,
    blobs: Any,
    folder: Path,
    weights_dir: Path,
    readings_of: Any,
    lam: float = LAM,
    review_weight: float = REVIEW_WEIGHT,
    progress: bool | None = None,
    command: str = "",
    base_fusion: str = "",
) -> Outcome:
    """Fit a challenger on the deployment's reviewed audio files and compare it with the head
    in use (the current local calibration's, or the bundled one). Saves nothing: the caller
    keeps the comparison and, when ``comparison.promoted``, saves ``calibration``."""
    bundle = load_bundle(weights_dir)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    current, head_in_use = heads.in_use(folder, HEAD_NAME)
    champion = heads.champion_of(head_in_use, bundle.hidden)
    reading = reading_for(weights_dir, current)
    files, skipped = reviewed_audio(db, blobs, readings_of, progress)
    heads.enough(len(files), "audio files")
    width = {f.hidden.shape[1] for f in files}
    if width != {bundle.hidden}:
        raise FeedbackHeadError(f"the reviewed files' hidden activations have {sorted(width)} values, "
                                f"the bundle {bundle.hidden}: not the voice model it was built for")
    z = np.stack([f.linear()[0] for f in files])
    shipped = np.array([f.linear()[1] for f in files])
    y = np.array([int(f.fake) for f in files])
    challenger = heads.fit(z, shipped, y, bundle, reading, champion, lam, review_weight)
    comparison = compare(files, bundle, reading, champion, challenger, lam, review_weight)
    head = LocalVoiceHead(
        d=challenger.d,
        b=challenger.b,
        base_sha256=bundle.model_sha256,
        feedback="retrained on a deployment's reviews (fakescope train voice-head --feedback)",
    )
    local_head = LocalHead(
        head=head.model_dump(),
        delta=challenger.model_dump(),
        base_head_sha256=bundle.model_sha256,
        comparison=comparison.model_dump(),
        reviewers=dict(Counter(f.reviewer for f in files)),
        scans=[f.scan_id for f in files],
        created=now,
    )
    calibration = heads.with_head(current, HEAD_NAME, local_head, base_fusion, command)
    return Outcome(comparison, local_head, calibration, len(files), skipped)


def keep(folder: Path, outcome: Outcome) -> Path:
    """Every challenger's comparison is kept, promoted or not: ``DIR/challengers/voice-TIME.json``."""
    return heads.keep(folder, outcome, HEAD_NAME)
