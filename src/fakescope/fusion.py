"""Evidence -> one calibrated probability, a verdict, and the kind of evidence that decided.

Rules for images (documented in docs/architecture.md, "Fusion"):
- Each analyzer score is already a calibrated probability (its card's Platt scaling).
- Three kinds of evidence: *face manipulation* (a face's score is the mean of the face
  analyzers' scores for it; the kind's score is the maximum over the judged faces: one
  manipulated face is enough), *generated image* (the whole-image analyzers' maximum) and
  *local edit* (an analyzer that declares ``evidence_kind = "local_edit"``: part of the
  picture changed).
- The fusion card (``models/weights/fusion.json``, fitted on dev data by
  ``scripts/fit_fusion.py``) recalibrates each kind (a maximum overstates) and gives each
  its own verdict thresholds, chosen so that, together, at most 5 % of the dev real
  photos of every source are called fake. Without a card, the models' own band applies.
- The verdict is ``fake`` when any kind reaches its fake threshold, ``inconclusive`` when
  none does but one is in its uncertain band, ``real`` when every kind is below its real
  threshold. The score is the highest calibrated probability; ``decided_by`` names the
  kind behind the verdict.
- A photo without a face is judged by the generated-image evidence alone; ``no_face``
  only when nothing could judge it (no face and no whole-image analyzer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fakescope.analyzers.base import Analyzer, Evidence

if TYPE_CHECKING:
    from fakescope.models.card import FusionCard, FusionParams
    from fakescope.provenance.models import Provenance

DEFAULT_BAND = (0.35, 0.65)

FACE = "face_manipulation"
GENERATED = "generated_image"
LOCAL = "local_edit"
# How a reason names each kind of evidence.
KIND_WORDS = {FACE: "face manipulation", GENERATED: "generated-image traces", LOCAL: "a local edit"}
CLIP_WORDS = "generated image (CLIP and decoder traces)"


@dataclass
class Fused:
    verdict: str
    score: float | None
    face_scores: list[float | None]
    reason: str
    decided_by: str | None = None
    evidence: dict[str, float] = field(default_factory=dict)


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


def face_scores_of(results: list[tuple[Analyzer, Evidence]], n_faces: int) -> list[float | None]:
    """Per face, the mean of the face analyzers' scores (None where none judged it)."""
    out: list[float | None] = []
    for i in range(n_faces):
        vals = [
            ev.face_scores[i]
            for a, ev in results
            if a.needs_faces and ev.face_scores is not None and i < len(ev.face_scores)
            and ev.face_scores[i] is not None
        ]
        out.append(sum(vals) / len(vals) if vals else None)  # type: ignore[arg-type]
    return out


def raw_kind_scores(results: list[tuple[Analyzer, Evidence]], n_faces: int,
                    ) -> tuple[dict[str, float], list[float | None]]:
    """Each kind's raw (uncalibrated by the fusion card) score, and the per-face scores."""
    face_scores = face_scores_of(results, n_faces)
    raw: dict[str, float] = {}
    scored = [s for s in face_scores if s is not None]
    if scored:
        raw[FACE] = max(scored)
    for kind in (GENERATED, LOCAL):
        whole = [ev.score for a, ev in results if not a.needs_faces and ev.score is not None
                 and getattr(a, "evidence_kind", GENERATED) == kind]
        if whole:
            raw[kind] = max(whole)
    return raw, face_scores


def kind_params(card: FusionCard | None, kind: str, clip: bool = False) -> FusionParams | None:
    """A kind's calibration and thresholds; generated-image evidence read through CLIP
    (``generated`` ``details.reads``) has its own, its scores being another model's."""
    if card is None:
        return None
    if kind == FACE:
        return card.image
    if kind == LOCAL:
        return card.local_edit
    return card.generated_clip if clip and card.generated_clip is not None else card.generated


def reads_clip(results: list[tuple[Analyzer, Evidence]]) -> bool:
    return any(ev.details.get("reads") == "clip+traces" for a, ev in results
               if not a.needs_faces and getattr(a, "evidence_kind", GENERATED) == GENERATED)


def fuse(results: list[tuple[Analyzer, Evidence]], n_faces: int,
         band: tuple[float, float] = DEFAULT_BAND, card: FusionCard | None = None) -> Fused:
    raw, face_scores = raw_kind_scores(results, n_faces)
    if not raw:
        if n_faces == 0:
            return Fused("no_face", None, face_scores, "no face found, and no whole-image analyzer ran")
        return Fused("inconclusive", None, face_scores,
                     "faces were found but none could be judged (too small or not confirmed as faces)")
    judged = {}
    clip = reads_clip(results)
    for kind, value in raw.items():
        params = kind_params(card, kind, clip)
        p = calibrate(value, params)
        own = band
        if kind == LOCAL:  # its own card's band, never the face models'
            own = next((a.card.inconclusive_band for a, _ in results
                        if getattr(a, "evidence_kind", None) == LOCAL and a.card is not None), band)
        judged[kind] = (p, band_of(params, own), verdict_for(p, band_of(params, own))[0])
    evidence = {k: round(v[0], 4) for k, v in judged.items()}
    score = max(v[0] for v in judged.values())
    for verdict in ("fake", "inconclusive", "real"):
        kinds = [k for k, v in judged.items() if v[2] == verdict]
        if kinds:
            break
    decided = max(kinds, key=lambda k: judged[k][0])
    p, (lo, hi), _ = judged[decided]
    names = {**KIND_WORDS, **({GENERATED: CLIP_WORDS} if clip else {})}
    words = names[decided]
    if verdict == "fake":
        reason = f"{words}: probability {p:.2f} ≥ {hi:.2f}"
        if decided == FACE:
            reason += _strongest(face_scores)
    elif verdict == "inconclusive":
        reason = f"{words}: probability {p:.2f} is within the uncertain band {lo:.2f}–{hi:.2f}"
    else:
        reason = "; ".join(f"{names[k]}: probability {v[0]:.2f} < {v[1][0]:.2f}"
                           for k, v in judged.items())
        if FACE not in judged:
            reason += "; no face to judge" if n_faces == 0 else "; no face could be judged"
    return Fused(verdict, float(score), face_scores, reason, decided, evidence)


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
                     "registered original, it may be an edited copy", fused.decided_by, fused.evidence)
    return fused


def _as(fused: Fused, verdict: str, reason: str) -> Fused:
    base = fused.score
    if verdict == "real":
        score = min(base, PROVENANCE_REAL_CAP) if base is not None else PROVENANCE_REAL_CAP
    else:
        score = max(base, PROVENANCE_FAKE_FLOOR) if base is not None else PROVENANCE_FAKE_FLOOR
    return Fused(verdict, float(score), fused.face_scores, reason, "provenance", fused.evidence)
