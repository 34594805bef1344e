"""Evidence -> one calibrated probability and a verdict.

Rules (documented in docs/architecture.md):
- Each face-analyzer score is already a calibrated probability (its card's Platt scaling).
- A face's score is the mean of the face analyzers' scores for it; the image score is the
  maximum over faces: one manipulated face makes a manipulated image.
- Verdict: ``fake`` when the score reaches the upper edge of the inconclusive band,
  ``real`` below its lower edge, ``inconclusive`` inside it; ``no_face`` when face
  analyzers found nothing to judge and no other analyzer gave a score.
"""

from __future__ import annotations

from dataclasses import dataclass

from fakescope.analyzers.base import Analyzer, Evidence

DEFAULT_BAND = (0.35, 0.65)


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


def fuse(results: list[tuple[Analyzer, Evidence]], n_faces: int,
         band: tuple[float, float] = DEFAULT_BAND) -> Fused:
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
    score = max(parts)
    lo, hi = band
    if score >= hi:
        which = _strongest(face_scores)
        verdict, reason = "fake", f"manipulation probability {score:.2f} ≥ {hi:.2f}{which}"
    elif score < lo:
        verdict, reason = "real", f"manipulation probability {score:.2f} < {lo:.2f}"
    else:
        verdict, reason = "inconclusive", (
            f"manipulation probability {score:.2f} is within the uncertain band {lo:.2f}–{hi:.2f}"
        )
    return Fused(verdict, float(score), face_scores, reason)


def _strongest(face_scores: list[float | None]) -> str:
    scored = [(s, i) for i, s in enumerate(face_scores) if s is not None]
    if len(scored) < 2:
        return ""
    _s, i = max(scored)
    return f" (face {i + 1} of {len(face_scores)})"
