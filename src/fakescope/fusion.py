"""Evidence -> one calibrated probability and a verdict.

Rules (documented in docs/architecture.md):
- Each analyzer score is already a calibrated probability (its card's Platt scaling).
- A face's score is the mean of the face analyzers' scores for it; the raw image score is
  the maximum over faces and whole-image analyzers: one strong trace is enough.
- The fusion card (``models/weights/fusion.json``, fitted on dev data by
  ``scripts/fit_fusion.py``) recalibrates that maximum, which otherwise overstates, and
  sets the verdict thresholds: ``fake`` at or above ``threshold_fake`` (chosen for a known
  false-positive rate on dev reals), ``real`` below ``threshold_real``, ``inconclusive``
  between. Without a card, the models' own band applies.
- Weak evidence is inconclusive, not real: a face too small to judge (eyes closer than
  ``MIN_EYE_DISTANCE_PX``) cannot clear an image.
- ``no_face`` when no face was found, unless a whole-image analyzer (``synthesis``) alone
  reaches the fake threshold: then ``fake``. Whole-image analyzers never clear a faceless
  picture as ``real``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fakescope.analyzers.base import Analyzer, Evidence

if TYPE_CHECKING:
    from fakescope.models.card import FusionParams
    from fakescope.provenance.models import Provenance

DEFAULT_BAND = (0.35, 0.65)
# Below this many pixels between the eyes a face has too few pixels to be cleared as real.
MIN_EYE_DISTANCE_PX = 18.0


@dataclass
class Fused:
    verdict: str
    score: float | None
    face_scores: list[float | None]
    reason: str


def band_for(analyzers: list[Analyzer]) -> tuple[float, float]:
    """The inconclusive band: the widest one any face model's card asks for."""
    bands = [a.card.inconclusive_band for a in analyzers if a.card is not None]
    if not bands:
        return DEFAULT_BAND
    return (min(b[0] for b in bands), max(b[1] for b in bands))


def calibrate(score: float, params: FusionParams | None) -> float:
    """The fusion card's recalibration of a raw (maximum) score; identity without a card."""
    if params is None:
        return score
    p = min(max(score, 1e-6), 1 - 1e-6)
    z = params.a * float(np.log(p / (1 - p))) + params.b
    return float(1.0 / (1.0 + np.exp(-z)))


def band_of(params: FusionParams | None, fallback: tuple[float, float]) -> tuple[float, float]:
    return (params.threshold_real, params.threshold_fake) if params is not None else fallback


def fuse(results: list[tuple[Analyzer, Evidence]], n_faces: int,
         band: tuple[float, float] = DEFAULT_BAND, params: FusionParams | None = None,
         eye_distances: list[float] | None = None) -> Fused:
    face_scores: list[float | None] = []
    for i in range(n_faces):
        vals = [
            ev.face_scores[i]
            for a, ev in results
            if a.needs_faces and ev.face_scores is not None and i < len(ev.face_scores)
            and ev.face_scores[i] is not None
        ]
        face_scores.append(sum(vals) / len(vals) if vals else None)  # type: ignore[arg-type]
    image_level = [ev.score for a, ev in results if not a.needs_faces and ev.score is not None]
    scored_faces = [s for s in face_scores if s is not None]
    parts = ([max(scored_faces)] if scored_faces else []) + image_level
    if not parts:
        if n_faces == 0:
            return Fused("no_face", None, face_scores, "no face found to judge")
        return Fused("inconclusive", None, face_scores, "no analyzer could score this file")
    if n_faces == 0:
        # Whole-image analyzers alone may flag a picture but never clear it: they look for
        # one family of traces (generator upsampling), and a photo without faces is outside
        # what the face models vouch for.
        score = calibrate(max(image_level), params)
        hi = band_of(params, band)[1]
        if score >= hi:
            return Fused("fake", float(score), face_scores,
                         f"no face, but whole-image synthesis traces: probability {score:.2f} ≥ {hi:.2f}")
        return Fused("no_face", None, face_scores,
                     f"no face found to judge; no synthesis trace in the whole image ({score:.2f})")
    score = calibrate(max(parts), params)
    verdict, reason = verdict_for(score, band_of(params, band))
    if verdict == "fake":
        reason += _strongest(face_scores)
    elif verdict == "real" and not image_level and eye_distances:
        judged = [d for d, s in zip(eye_distances, face_scores, strict=False) if s is not None]
        if judged and max(judged) < MIN_EYE_DISTANCE_PX:
            verdict = "inconclusive"
            reason = (f"faces too small to clear (eyes {max(judged):.0f} px apart; "
                      f"{MIN_EYE_DISTANCE_PX:.0f} needed); {reason}")
    return Fused(verdict, float(score), face_scores, reason)


def verdict_for(score: float, band: tuple[float, float]) -> tuple[str, str]:
    """fake at or above the band, real below it, inconclusive inside; with the reason."""
    lo, hi = band
    if score >= hi:
        return "fake", f"manipulation probability {score:.2f} ≥ {hi:.2f}"
    if score < lo:
        return "real", f"manipulation probability {score:.2f} < {lo:.2f}"
    return "inconclusive", (
        f"manipulation probability {score:.2f} is within the uncertain band {lo:.2f}–{hi:.2f}"
    )


def _strongest(face_scores: list[float | None]) -> str:
    scored = [(s, i) for i, s in enumerate(face_scores) if s is not None]
    if len(scored) < 2:
        return ""
    _s, i = max(scored)
    return f" (face {i + 1} of {len(face_scores)})"


# --- provenance ------------------------------------------------------------------------
# Detection guesses; provenance proves. These rules run after `fuse` (documented in
# docs/architecture.md, "Provenance"): a provenance fact overrides the detectors' verdict
# and moves the score to the edge of the scale, without touching per-face scores.
PROVENANCE_REAL_CAP = 0.05
PROVENANCE_FAKE_FLOOR = 0.95
# Failure codes about the signing credential, not about the content: an expired or
# revoked certificate makes a manifest invalid but says nothing about edits to the media.
_CREDENTIAL_ONLY = ("signingCredential.", "timeStamp.", "claimSignature.outsideValidity")


def apply_provenance(fused: Fused, provenance: Provenance | None) -> Fused:
    """Fold provenance into the verdict; absent or unverifiable credentials change nothing."""
    if provenance is None or fused.verdict == "error":
        return fused
    c = provenance.c2pa
    signer = f"{c.signer or 'an unknown signer'}{' (trusted)' if c.trusted else ''}"
    if c.state == "valid" and c.ai_generated:
        kinds = ", ".join(t for t in c.digital_source_types if "rained" in t)
        return _as(fused, "fake", f"its Content Credentials declare AI generation ({kinds}), signed by "
                                  f"{signer}")
    if c.state == "invalid":
        codes = [e.split(":", 1)[0] for e in c.validation_errors]
        tamper = [x for x in codes if not x.startswith(_CREDENTIAL_ONLY)]
        if tamper or not codes:
            what = tamper[0] if tamper else "validation failed"
            return _as(fused, "fake", f"its Content Credentials fail validation ({what}): the content "
                                      "or its manifest changed after signing")
    if c.state == "valid" and c.trusted:
        return _as(fused, "real", f"valid Content Credentials signed by {signer}")
    reg = provenance.registry
    if reg is not None and reg.matches and reg.matched == "exact":
        m = reg.matches[0]
        return _as(fused, "real", f"identical to registry entry {m.entry_id} (registered {m.registered_at})")
    if reg is not None and reg.matches and reg.matched == "near":
        m = reg.matches[0]
        if fused.verdict in ("real", "no_face"):
            return _as(fused, "real", f"a near duplicate of registry entry {m.entry_id} (distance "
                                      f"{m.distance:.3f}): a re-encoded or resized copy of registered media")
        # A near duplicate survives local edits too (21 % of the dev set's face swaps of
        # registered frames match their original): when the detectors doubt, the match
        # points a person at the original to compare with, it does not overrule them.
        return Fused(fused.verdict, fused.score, fused.face_scores,
                     f"{fused.reason}; a near duplicate of registry entry {m.entry_id}: compare with the "
                     "registered original, it may be an edited copy")
    return fused


def _as(fused: Fused, verdict: str, reason: str) -> Fused:
    base = fused.score
    if verdict == "real":
        score = min(base, PROVENANCE_REAL_CAP) if base is not None else PROVENANCE_REAL_CAP
    else:
        score = max(base, PROVENANCE_FAKE_FLOOR) if base is not None else PROVENANCE_FAKE_FLOOR
    return Fused(verdict, float(score), fused.face_scores, reason)
