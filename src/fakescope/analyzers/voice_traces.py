"""What kind of trace a speech window carries: vocoder/codec-like, prosody, spectrum.

The voice score says *how* synthetic a window sounds; a reviewer also wants *why*. The voice
model has, beside its score, one output column per kind (``fakescope.train.voice_kinds``):
a linear head on the same encoder features, fitted on pairs of recordings that differ in
that kind of trace only, so it answers "does this window sound like the edited side of
such pairs?":

- ``vocoder`` (vocoder/codec-like): real recordings against their HiFi-GAN re-syntheses,
  the decoder stage most clones share;
- ``prosody``: WORLD re-syntheses against the same with a TTS-like pitch contour (no
  micro-prosody, narrow range);
- ``spectrum``: WORLD re-syntheses against the same with a TTS-like spectral envelope
  (few cepstral dimensions, smoothed over time).

Each kind's value is calibrated so that 0.5 is the 95th percentile of held-out real speech
windows: a kind *fires* (0.5 or more) where the window carries more of that trace than 95 %
of real speech does. The card lists, per kind, how well it separates its own pairs and how
it ranks the unseen clones of the demo pages (held out, the 2023-2025 clones carry these
traces little more than real speech: a fired kind is a true statement about the window, a
silent one says nothing). The kinds explain the score and never change it or the verdict.

(Separate detectors on hand-made pitch and spectrum numbers did not carry to unseen clones:
``research/voice_kind_heads.py``.)
"""

from __future__ import annotations

import numpy as np

KINDS = ("vocoder", "prosody", "spectrum")
LABELS = {"vocoder": "vocoder/codec-like", "prosody": "prosody", "spectrum": "spectrum"}
FIRES = 0.5  # a kind fires at or above this: more of its trace than 95 % of real speech windows


def kind_probabilities(row: np.ndarray, kinds: list) -> dict[str, float]:  # type: ignore[type-arg]
    """The calibrated probability of each kind (card ``trace_kinds``) from one output row."""
    out: dict[str, float] = {}
    for k in kinds:
        if k.column < len(row):
            z = k.calibration.a * float(row[k.column]) + k.calibration.b
            out[k.name] = round(float(1 / (1 + np.exp(-z))), 4)
    return out


__all__ = ["FIRES", "KINDS", "LABELS", "kind_probabilities"]
