"""The generated-image head retrained from a deployment's reviews: a challenger that
replaces the head in use only when it beats it on held-out reviews and is no worse on the
bundled benchmark (``fakescope train generated-head --feedback``; docs/feedback.md).

Why a subspace: the head reads 12,289 features, and a deployment holds neither our corpus
nor room for it. ``generated.feedback.npz`` (scripts/feedback_bundle.py) ships the
``RANK`` leading principal directions of the head's CLIP columns over its training
pictures and two samples of those pictures as coordinates in them, with the shipped head's
logit: *replay* (fitted beside the reviews, so real-only reviews cannot teach it that
everything is real) and *guard* (never fitted on: the benchmark). A challenger is the
shipped head plus a move ``delta`` within the subspace (and of the trace logit's weight),
so its logit on any bundled picture is exact: ``shipped + z · delta + shift``.

The fit: weighted mean log loss, the reviews together weighing ``REVIEW_WEIGHT`` times the
replay set, plus ``LAM``/2 ||delta||². Then the intercept is set so that the replay
pictures' generated ones reach the `fake` threshold in the share the head in use gives
them (without it, a refit on real reviews lowers every score and detection with it).

The decision, printed and kept: on the reviews, cross-validated (five folds by scan id:
each fold judged by a challenger fitted on the other four), the challenger must make
fewer mistakes at the thresholds in use than the head in use (a reviewed real photo at or
above `fake`, a reviewed fake one below it); on the guard set its AUC may be at most
``AUC_TOLERANCE`` lower, its detection ``DETECTION_TOLERANCE`` lower and its false alarms
``FALSE_ALARM_TOLERANCE`` higher. The shipped head was fitted on the guard pictures, so
this comparison leans towards it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select

from fakescope.errors import FakescopeError
from fakescope.evaluation.metrics import auc
from fakescope.feedback import versions
from fakescope.feedback.versions import LocalCalibration, LocalHead
from fakescope.models.card import FusionCard, FusionParams

BUNDLE_FILE = "generated.feedback.npz"
HEAD_NAME = "generated"
LAM = 0.01
REVIEW_WEIGHT = 1.0
MIN_REVIEWS = 20
FOLDS = 5
AUC_TOLERANCE = 0.005
DETECTION_TOLERANCE = 0.05
FALSE_ALARM_TOLERANCE = 0.01


class FeedbackHeadError(FakescopeError):
    code = "feedback_head"


@dataclass(frozen=True)
class Sample:
    """Pictures as the head's subspace sees them: coordinates, shipped logit, label, source."""

    z: np.ndarray
    logit: np.ndarray
    label: np.ndarray
    source: np.ndarray


class Replayed(Protocol):
    """What a fit needs of a bundle: the training sample it is fitted beside."""

    @property
    def replay(self) -> Sample: ...


class Judge(Protocol):
    """What a fit and a comparison need of a reading: which logits it calls fake, and the
    logit at the `fake` threshold (video_head.py reads the appearance head through the
    fusion card's clip model)."""

    def calls_fake(self, logit: np.ndarray) -> np.ndarray: ...

    def logit_at_threshold(self) -> float: ...


@dataclass(frozen=True)
class Bundle:
    mu: np.ndarray
    basis: np.ndarray
    replay: Sample
    guard: Sample
    head_sha256: str

    def project(self, x: np.ndarray) -> np.ndarray:
        """Head features (N, 12289) -> subspace coordinates (N, RANK + 1), the trace logit last."""
        x = np.atleast_2d(x).astype(np.float64)
        return np.c_[(x[:, :-1] - self.mu) @ self.basis.T, x[:, -1:]]


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
        bundle = Bundle(
            z["mu"].astype(np.float64),
            z["basis"].astype(np.float64),
            parts["replay"],
            parts["guard"],
            str(z["head_sha256"]),
        )
    except (OSError, KeyError, ValueError) as exc:
        raise FeedbackHeadError(f"{path} is missing or unreadable ({exc}): reinstall fakescope") from None
    shipped = weights_dir / f"{HEAD_NAME}.head.json"
    if hashlib.sha256(shipped.read_bytes()).hexdigest() != bundle.head_sha256:
        raise FeedbackHeadError(
            f"{path} was built for another {shipped.name}: rebuild it with scripts/feedback_bundle.py"
        )
    return bundle


class Delta(BaseModel):
    """A challenger as a move from the shipped head: ``logit = shipped + z · d + b``."""

    d: list[float]
    b: float

    def logits(self, z: np.ndarray, shipped: np.ndarray) -> np.ndarray:
        return shipped + z @ np.asarray(self.d) + self.b

    @classmethod
    def zero(cls, rank: int) -> Delta:
        return cls(d=[0.0] * rank, b=0.0)


def head_with(shipped: dict[str, Any], bundle: Bundle, delta: Delta) -> dict[str, Any]:
    """The head file of a challenger: the shipped one with the move folded into its
    coefficients (a scanner reads it like the shipped head)."""
    d = np.asarray(delta.d)
    coef = np.asarray(shipped["coef"], np.float64)
    coef = coef + np.r_[bundle.basis.T @ d[:-1], d[-1]]
    intercept = float(shipped["intercept"]) + delta.b - float(bundle.mu @ (bundle.basis.T @ d[:-1]))
    return {
        **shipped,
        "coef": [round(float(c), 8) for c in coef],
        "intercept": round(intercept, 8),
        "feedback": "retrained on a deployment's reviews (fakescope train generated-head --feedback)",
    }


@dataclass(frozen=True)
class Reading:
    """How a head logit becomes the generated-image evidence a scan reports (the head's own
    calibration, then the fusion card's), and the thresholds that judge it."""

    head_a: float
    head_b: float
    params: FusionParams

    def evidence(self, logit: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(self.head_a * logit + self.head_b)))
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return 1 / (1 + np.exp(-(self.params.a * np.log(p / (1 - p)) + self.params.b)))

    def calls_fake(self, logit: np.ndarray) -> np.ndarray:
        return self.evidence(logit) >= self.params.threshold_fake

    def logit_at_threshold(self) -> float:
        t = self.params.threshold_fake
        return ((math.log(t / (1 - t)) - self.params.b) / self.params.a - self.head_b) / self.head_a


def fit(
    z: np.ndarray,
    shipped: np.ndarray,
    y: np.ndarray,
    bundle: Replayed,
    reading: Judge,
    champion: Delta,
    lam: float = LAM,
    review_weight: float = REVIEW_WEIGHT,
) -> Delta:
    """A challenger from reviewed pictures (z, shipped logit, label 1 = fake) and the replay set."""
    r = bundle.replay
    zz, l0, yy = np.r_[z, r.z], np.r_[shipped, r.logit], np.r_[y, r.label].astype(np.float64)
    w = np.r_[np.full(len(y), review_weight / max(1, len(y))), np.full(len(r.label), 1 / len(r.label))]

    d, b = _newton(np.c_[zz, np.ones(len(yy))], l0, yy, w, lam)
    # The intercept: the replay fakes at or above `fake` in the champion's share.
    fakes = r.label == 1
    target = float(np.mean(reading.calls_fake(champion.logits(r.z[fakes], r.logit[fakes]))))
    ch = np.sort(r.logit[fakes] + r.z[fakes] @ d + b)[::-1]
    m = math.ceil(target * len(ch) - 1e-9)
    if m > 0:
        b += reading.logit_at_threshold() - float(ch[m - 1]) + 1e-6
    return Delta(d=[float(v) for v in d], b=b)


def _newton(x: np.ndarray, offset: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float,
            steps: int = 50) -> tuple[np.ndarray, float]:
    """Weighted logistic regression with an offset, L2 on all but the last column (the
    intercept), by Newton's method with step halving: 66 unknowns, exact in a few steps,
    and no SciPy (not a dependency of the service that runs this)."""
    reg = np.full(x.shape[1], lam)
    reg[-1] = 0.0

    def loss(theta: np.ndarray) -> float:
        t = offset + x @ theta
        return float((w * (np.logaddexp(0, t) - y * t)).sum() + 0.5 * (reg * theta * theta).sum())

    theta = np.zeros(x.shape[1])
    current = loss(theta)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(offset + x @ theta, -30, 30)))
        grad = x.T @ (w * (p - y)) + reg * theta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-4 and loss(theta - scale * step) > current:
            scale /= 2
        theta = theta - scale * step
        new = loss(theta)
        if current - new < 1e-10:
            break
        current = new
    return theta[:-1], float(theta[-1])


class Side(BaseModel):
    auc: float | None = None
    detection: float | None = None
    false_alarms: float | None = None
    mistakes: int | None = None


class Comparison(BaseModel):
    """Champion against challenger, as `fakescope train generated-head --feedback` decided."""

    reviews_real: int
    reviews_fake: int
    reviews: dict[str, Side] = Field(
        description="champion/challenger on the held-out reviews (cross-validated)"
    )
    guard: dict[str, Side] = Field(description="champion/challenger on the bundled benchmark (guard set)")
    guard_size: dict[str, int]
    promoted: bool
    reasons: list[str]
    settings: dict[str, float]


def _side(y: np.ndarray, logit: np.ndarray, reading: Judge) -> Side:
    called = reading.calls_fake(logit)
    real, fake = y == 0, y == 1
    return Side(
        auc=round(auc(y, logit), 4) if real.any() and fake.any() else None,
        detection=round(float(called[fake].mean()), 4) if fake.any() else None,
        false_alarms=round(float(called[real].mean()), 4) if real.any() else None,
        mistakes=int(called[real].sum() + (~called[fake]).sum()),
    )


def why_not_promoted(reviews: dict[str, Side], guard: dict[str, Side]) -> list[str]:
    """The promotion rule (every head retrained from reviews): none of these, or it stays out."""
    reasons = []
    rc, rn = reviews["champion"].mistakes or 0, reviews["challenger"].mistakes or 0
    if rn >= rc:
        reasons.append(f"held-out reviews: {rn} mistakes against the model in use's {rc}")
    gc, gn = guard["champion"], guard["challenger"]
    if (gn.auc or 0) < (gc.auc or 0) - AUC_TOLERANCE:
        reasons.append(f"benchmark AUC {gn.auc:.3f} against {gc.auc:.3f}")
    if (gn.detection or 0) < (gc.detection or 0) - DETECTION_TOLERANCE:
        reasons.append(f"benchmark detection {gn.detection:.1%} against {gc.detection:.1%}")
    if (gn.false_alarms or 0) > (gc.false_alarms or 0) + FALSE_ALARM_TOLERANCE:
        reasons.append(f"benchmark false alarms {gn.false_alarms:.1%} against {gc.false_alarms:.1%}")
    return reasons


def fold_of(scan_id: str) -> int:
    return int(hashlib.sha256(scan_id.encode()).hexdigest()[:8], 16) % FOLDS


def compare(
    ids: list[str],
    z: np.ndarray,
    shipped: np.ndarray,
    y: np.ndarray,
    bundle: Bundle,
    reading: Reading,
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
    reviews = {
        "champion": _side(y, champion.logits(z, shipped), reading),
        "challenger": _side(y, held, reading),
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
            "rank": float(bundle.basis.shape[0]),
            "auc_tolerance": AUC_TOLERANCE,
            "detection_tolerance": DETECTION_TOLERANCE,
            "false_alarm_tolerance": FALSE_ALARM_TOLERANCE,
        },
    )


@dataclass(frozen=True)
class ReviewedPicture:
    scan_id: str
    fake: bool
    reviewer: str
    features: np.ndarray


@dataclass(frozen=True)
class ReviewedUpload:
    """A scan reviewed fake or real, with what ``read`` gave for its kept upload."""

    scan_id: str
    fake: bool
    reviewer: str
    value: Any
    report: str | None


def reviewed_uploads(db: Any, blobs: Any, media_type: str, read: Any, unread: str, noun: str,
                     progress: bool | None = None) -> tuple[list[ReviewedUpload], Counter[str]]:
    """The deployment's ``media_type`` scans reviewed fake or real whose upload is still
    kept, each with ``read(path)`` (None: left out, counted as ``unread``); and why others
    were left out. Shared by the picture, video and voice heads."""
    from fakescope.progress import progress_iter
    from fakescope.store.models import Review, Scan

    with db.read() as s:
        rows = list(
            s.execute(
                select(Review.scan_id, Review.label, Review.reviewer_key_id, Scan.upload_key, Scan.filename,
                       Scan.report)
                .join(Scan, Scan.id == Review.scan_id)
                .where(Review.label.in_(("fake", "real")), Scan.media_type == media_type)
                .order_by(Review.scan_id)
            )
        )
    out, skipped = [], Counter[str]()
    for scan_id, label, reviewer, key, filename, report in progress_iter(
        rows, f"reading reviewed {noun}", enabled=progress
    ):
        if not key or not blobs.exists(key):
            skipped["upload no longer kept"] += 1
            continue
        with blobs.local_file(key, suffix=Path(filename or key).suffix) as path:
            value = read(path)
        if value is None:
            skipped[unread] += 1
            continue
        out.append(ReviewedUpload(scan_id, label == "fake", reviewer or "local", value, report))
    return out, skipped


def reviewed_pictures(
    db: Any,
    blobs: Any,
    features_of: Any,
    progress: bool | None = None,
) -> tuple[list[ReviewedPicture], Counter[str]]:
    """The deployment's photos reviewed fake or real whose upload is still kept, with the
    head's features (``features_of(path) -> array | None``); and why others were left out."""
    found, skipped = reviewed_uploads(db, blobs, "image", features_of, "not readable as a still picture",
                                      "photos", progress)
    pictures = [ReviewedPicture(r.scan_id, r.fake, r.reviewer, np.asarray(r.value, np.float64))
                for r in found]
    return pictures, skipped


def in_use(folder: Path, name: str) -> tuple[LocalCalibration | None, LocalHead | None]:
    """The current local calibration of ``folder`` (None: the bundled thresholds) and the head
    ``name`` it holds (None: the bundled head is in use)."""
    current_v = versions.current_version(folder)
    current = versions.load(folder, current_v) if current_v else None
    return current, current.heads.get(name) if current is not None else None


def champion_of(head: LocalHead | None, size: int) -> Delta:
    """The move of the head in use (``size`` values, zero: the bundled head)."""
    return Delta.model_validate(head.delta) if head is not None else Delta.zero(size)


def enough(n: int, noun: str) -> None:
    if n < MIN_REVIEWS:
        raise FeedbackHeadError(
            f"{n} reviewed {noun} with their upload kept: a retrain needs {MIN_REVIEWS} "
            f"({MIN_REVIEWS - n} more; label {noun.split()[-1]} in the service's review queue)"
        )


def with_head(current: LocalCalibration | None, name: str, head: LocalHead, base_fusion: str,
              command: str) -> LocalCalibration:
    """The version a winner would become: the current one (thresholds and other heads kept)
    with ``head`` as ``name``."""
    base = current or LocalCalibration(version=0, created=head.created, base_fusion=base_fusion, fpr=0.05,
                                       kinds={}, reviewers={}, scans=[])
    return base.model_copy(update={"version": 0, "created": head.created, "command": command,
                                   "heads": {**base.heads, name: head}})


def shipped_head(weights_dir: Path) -> dict[str, Any]:
    return dict(json.loads((weights_dir / f"{HEAD_NAME}.head.json").read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    challenger: LocalHead
    calibration: LocalCalibration = field(repr=False)
    pictures: int
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
    """Fit a challenger on the deployment's reviewed photos and compare it with the head in
    use (the current local calibration's, or the bundled one). Saves nothing: the caller
    keeps the comparison and, when ``comparison.promoted``, saves ``calibration``."""
    bundle = load_bundle(weights_dir)
    shipped = shipped_head(weights_dir)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    current, head_in_use = in_use(folder, HEAD_NAME)
    rank = bundle.basis.shape[0] + 1
    champion = champion_of(head_in_use, rank)
    fusion = versions.apply(card, current) if current is not None else card
    if fusion.generated_clip is None:
        raise FeedbackHeadError("the fusion card has no generated_clip entry: nothing judges the head")
    reading = Reading(
        float(shipped["calibration"]["a"]), float(shipped["calibration"]["b"]), fusion.generated_clip
    )
    pictures, skipped = reviewed_pictures(db, blobs, features_of, progress)
    enough(len(pictures), "photos")
    x = np.stack([p.features for p in pictures])
    z = bundle.project(x)
    base_logit = x @ np.asarray(shipped["coef"], np.float64) + float(shipped["intercept"])
    y = np.array([int(p.fake) for p in pictures])
    ids = [p.scan_id for p in pictures]
    challenger = fit(z, base_logit, y, bundle, reading, champion, lam, review_weight)
    comparison = compare(ids, z, base_logit, y, bundle, reading, champion, challenger, lam, review_weight)
    local_head = LocalHead(
        head=head_with(shipped, bundle, challenger),
        delta=challenger.model_dump(),
        base_head_sha256=bundle.head_sha256,
        comparison=comparison.model_dump(),
        reviewers=dict(Counter(p.reviewer for p in pictures)),
        scans=ids,
        created=now,
    )
    calibration = with_head(current, HEAD_NAME, local_head, card.version, command)
    return Outcome(comparison, local_head, calibration, len(pictures), skipped)


def keep(folder: Path, outcome: Any, name: str = HEAD_NAME) -> Path:
    """Every challenger's comparison is kept, promoted or not: ``DIR/challengers/NAME-TIME.json``
    (the head itself left out: ``delta`` is the same move)."""
    out = folder / "challengers"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{outcome.challenger.created:%Y%m%dT%H%M%S}.json"
    path.write_text(
        outcome.challenger.model_copy(update={"head": {}}).model_dump_json(indent=1) + "\n", encoding="utf-8"
    )
    return path
