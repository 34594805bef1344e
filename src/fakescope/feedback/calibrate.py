"""Local thresholds from the reviewed scans of one deployment.

For each kind of evidence in photos (face manipulation, generated-image traces, local
edit), the reviewed photos that carry it give its probabilities on media a person called
real and on media a person called fake; for videos, the clip's probability (its report's
`score`, what its verdict reads); for audio files, likewise their score, against the voice
model card's band (the bundled thresholds of audio; a soundtrack inside a video keeps the
card's, since a deployment's calls say little about its videos' sound).

The `fake` threshold moves to the lowest value at which the next real photo (or video) of
the deployment is expected to reach it with a chance of at most ``fpr`` (one in twenty by
default): above the (k+1)-th highest of n reviewed real ones, the chance is (k+1)/(n+1),
so k = floor(fpr (n+1)) - 1 of them may stay at or above it (with 50 labels, 1; fitting
the sample's own 5 % would leave about 6 % on new media). It moves within a bound of the
bundled threshold, and down only when at least ``MIN_FAKE`` reviewed fake media carry the
kind (real labels alone say where false alarms start, not what a lower threshold would
catch). The `real` threshold moves with it, keeping the uncertain band's width. A kind
with fewer than ``MIN_REAL`` real labels keeps the bundled thresholds, and the command
says how many more it needs.

One reviewer cannot move a threshold far alone: when one API key gave more than two
thirds of a kind's labels, the bound is ``BOUND_ONE`` (0.05 in probability), otherwise
``BOUND_MANY`` (0.20). The figures are cross-validated: the reviewed media in five folds,
each fold judged with thresholds fitted on the other four, against the bundled thresholds
on the same media (a photo is `fake` when any kind reaches its threshold).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from fakescope.feedback.versions import KINDS, MEDIA_OF, KindThresholds, LocalCalibration
from fakescope.models.card import FusionCard
from fakescope.store.database import Database
from fakescope.store.models import Review, Scan

MIN_REAL = 20
MIN_FAKE = 10
BOUND_ONE = 0.05
BOUND_MANY = 0.20
ONE_REVIEWER_SHARE = 2 / 3
FOLDS = 5


@dataclass(frozen=True)
class Labelled:
    scan_id: str
    media_type: str
    fake: bool
    evidence: dict[str, float]
    reviewer: str


def reviewed(db: Database) -> list[Labelled]:
    """Reviewed scans labelled fake or real (``unsure`` teaches nothing), with their evidence
    (a video's: its score, under the kind ``video``)."""
    with db.read() as s:
        rows = list(s.execute(select(Review.scan_id, Review.label, Review.reviewer_key_id, Scan.media_type,
                                     Scan.report).join(Scan, Scan.id == Review.scan_id)
                              .where(Review.label.in_(("fake", "real")), Scan.report.is_not(None))
                              .order_by(Review.scan_id)))
    out = []
    for scan_id, label, reviewer, media_type, report in rows:
        try:
            r = json.loads(report)
        except ValueError:
            continue
        # a photo's kinds each have a probability; a video's or an audio file's verdict reads
        # its one score
        evidence = ({media_type: r.get("score")} if media_type in ("video", "audio")
                    else r.get("evidence") or {})
        out.append(Labelled(scan_id, media_type or "unknown", label == "fake",
                            {k: float(v) for k, v in evidence.items() if isinstance(v, int | float)},
                            reviewer or "local"))
    return out


def bundled_thresholds(card: FusionCard) -> dict[str, tuple[float, float]]:
    out = {}
    for kind, entries in KINDS.items():
        params = getattr(card, entries[0]) if entries else None
        if params is not None:
            out[kind] = (params.threshold_fake, params.threshold_real)
    band = audio_band()
    if band is not None:
        out["audio"] = band
    return out


def audio_band() -> tuple[float, float] | None:
    """The bundled audio thresholds (fake, real): the voice model card's band."""
    from fakescope.errors import ModelError
    from fakescope.models import load_card

    try:
        lo, hi = load_card("voice").inconclusive_band
    except ModelError:
        return None
    return (hi, lo)


def _bound(reviewers: Counter[str]) -> float:
    top = max(reviewers.values()) / sum(reviewers.values())
    return BOUND_ONE if top > ONE_REVIEWER_SHARE else BOUND_MANY


def fit_kind(real: np.ndarray, fake: np.ndarray, before: tuple[float, float], fpr: float,
             bound: float) -> KindThresholds:
    """The lowest `fake` threshold a new real photo reaches with a chance of at most
    ``fpr``, within ``bound`` of the bundled one (below it only with ``MIN_FAKE`` fake
    labels); the `real` threshold moved by as much."""
    old_fake, old_real = before
    r = np.sort(real)[::-1]
    allowed = max(0, int(np.floor(fpr * (len(r) + 1) + 1e-9)) - 1)  # reviewed reals that may reach it
    wanted = float(r[allowed]) + 1e-4 if allowed < len(r) else 0.0
    may_lower = len(fake) >= MIN_FAKE
    lowest = old_fake - bound if may_lower else old_fake
    t = float(np.clip(wanted, lowest, old_fake + bound))
    t = float(np.clip(t, 0.05, 0.99))
    real_t = float(np.clip(old_real + (t - old_fake), 0.0, t))
    return KindThresholds(threshold_fake=round(t, 4), threshold_real=round(real_t, 4), before=before,
                          real_labels=len(real), fake_labels=len(fake), bound=bound,
                          bounded=abs(wanted - t) > 1e-9 and (may_lower or wanted > old_fake),
                          lower_needs_fakes=wanted < old_fake and not may_lower)


def fit(items: list[Labelled], card: FusionCard, fpr: float = 0.05) -> tuple[dict[str, KindThresholds],
                                                                              dict[str, str]]:
    """Thresholds per kind that has enough labels, and for the others why not."""
    fitted, skipped = {}, {}
    for kind, before in bundled_thresholds(card).items():
        media = MEDIA_OF[kind]
        carry = [i for i in items if i.media_type == media and kind in i.evidence]
        real = np.array([i.evidence[kind] for i in carry if not i.fake])
        fake = np.array([i.evidence[kind] for i in carry if i.fake])
        if len(real) < MIN_REAL:
            skipped[kind] = (f"{len(real)} reviewed real {media}(s) carry this evidence; {MIN_REAL} are "
                             f"needed to move its thresholds ({MIN_REAL - len(real)} more)")
            continue
        bound = _bound(Counter(i.reviewer for i in carry))
        fitted[kind] = fit_kind(real, fake, before, fpr, bound)
    return fitted, skipped


def calls_fake(evidence: dict[str, float], thresholds: dict[str, tuple[float, float]]) -> bool:
    """`fake` when any kind of evidence reaches its `fake` threshold."""
    return any(evidence.get(k, -1.0) >= t[0] for k, t in thresholds.items())


def _fold(scan_id: str) -> int:
    return int(hashlib.sha256(scan_id.encode()).hexdigest()[:8], 16) % FOLDS


Figures = dict[str, dict[str, float | int | None]]


def cross_validated(items: list[Labelled], card: FusionCard, fpr: float) -> Figures:
    """Per media type: false alarms (reviewed real called fake) and detection (reviewed
    fake called fake) with the bundled thresholds and with thresholds fitted on the other
    folds; media types whose thresholds are not refitted get their label counts."""
    bundled = bundled_thresholds(card)
    fitted_by_fold = [fit([i for i in items if _fold(i.scan_id) != k], card, fpr)[0] for k in range(FOLDS)]

    def share(pairs: list[tuple[bool, bool]], fake: bool) -> float | None:
        hits = [called for truth, called in pairs if truth == fake]
        return round(float(np.mean(hits)), 4) if hits else None

    figures: Figures = {}
    for media in sorted({i.media_type for i in items} | {"image"}):
        of = [i for i in items if i.media_type == media]
        counts: dict[str, float | int | None] = {"real_labels": sum(1 for i in of if not i.fake),
                                                  "fake_labels": sum(1 for i in of if i.fake)}
        if media not in MEDIA_OF.values():
            figures[media] = counts
            continue
        own = {kind: t for kind, t in bundled.items() if MEDIA_OF[kind] == media}
        before, after = [], []
        for i in of:
            fitted = fitted_by_fold[_fold(i.scan_id)]
            local = {**own, **{kind: (t.threshold_fake, t.threshold_real) for kind, t in fitted.items()
                               if kind in own}}
            before.append((i.fake, calls_fake(i.evidence, own)))
            after.append((i.fake, calls_fake(i.evidence, local)))
        figures[media] = {**counts, "false_alarms_before": share(before, False),
                          "false_alarms_after": share(after, False), "detection_before": share(before, True),
                          "detection_after": share(after, True)}
    return figures


def calibrate(db: Database, card: FusionCard, fpr: float = 0.05,
              command: str = "") -> tuple[LocalCalibration | None, dict[str, str], list[Labelled]]:
    """A new local calibration (not yet saved), or None when no kind has enough labels."""
    items = reviewed(db)
    fitted, skipped = fit(items, card, fpr)
    if not fitted:
        return None, skipped, items
    used = [i for i in items if any(k in i.evidence and MEDIA_OF[k] == i.media_type for k in fitted)]
    return LocalCalibration(
        version=0, created=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        base_fusion=card.version, fpr=fpr, kinds=fitted,
        reviewers=dict(Counter(i.reviewer for i in used)), scans=[i.scan_id for i in used],
        figures=cross_validated(items, card, fpr), command=command), skipped, items
