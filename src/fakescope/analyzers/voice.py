"""voice: is the speech bona fide, or synthesised / voice-converted?

The model (ONNX, trained by ``fakescope train voice``) scores each 2 s window that holds
speech, from its Whisper log-mel (``whisper_mel.py``): the first blocks of Whisper tiny's
audio encoder, pooled over time, and a small head. Windows without speech (silence, noise,
music; voice activity from ``speech.py``) get no score. The file's score:

- file logit = mean of the speech windows' raw logits after dropping the highest and
  lowest 10 % (one cough or a burst of noise should not decide a file), turned into a
  probability by the card's Platt scaling (fitted on file-level logits of held-out
  groups);
- less than ``MIN_SPEECH_S`` of speech in the whole file: no opinion (``score`` None), so
  the verdict is ``inconclusive`` with the reason "no speech".

Each speech window also says what kinds of trace it carries (``voice_traces``:
vocoder/codec-like, prosody, spectrum), from the model's extra output columns when its card
lists ``trace_kinds``; the kinds explain the score and never change it.

Windows are processed as the audio streams in, in small batches: memory does not grow
with the length of the file.
"""

from __future__ import annotations

import numpy as np

from fakescope.analyzers.base import AudioItem, Evidence, Segment
from fakescope.analyzers.speech import MIN_SPEECH_S, analyse_window, windows
from fakescope.analyzers.voice_traces import FIRES, LABELS, kind_probabilities
from fakescope.analyzers.whisper_mel import log_mel
from fakescope.evaluation.calibration import sigmoid
from fakescope.models import LoadedModel, load_model

BATCH = 16
TRIM = 0.1


def trimmed_mean(values: list[float], trim: float = TRIM) -> float:
    """Mean after dropping ``trim`` of the values at each end (all of them when few)."""
    v = sorted(values)
    k = int(len(v) * trim)
    core = v[k : len(v) - k] if len(v) - 2 * k > 0 else v
    return float(np.mean(core))


class VoiceAnalyzer:
    name = "voice"
    needs_faces = False
    media_types = frozenset({"audio", "soundtrack"})

    def __init__(self, model_name: str = "voice", threads: int = 0) -> None:
        self._model: LoadedModel = load_model(model_name, threads=threads)
        self.card = self._model.card
        self.version = self.card.version

    def logits(self, mels: np.ndarray) -> np.ndarray:
        """Raw logits (N,) for Whisper log-mels (N, 80, 200) of 2 s windows, one window per
        run: the model's int8 activations are quantized with one range per run, so batching
        would make a window's score depend on its neighbours (it was trained one by one)."""
        return self.outputs(mels)[:, 0]

    def outputs(self, mels: np.ndarray) -> np.ndarray:
        """(N, 1 + kinds): the score logit, then the trace kinds' logits (``voice_traces``)."""
        return np.stack([self._run(np.ascontiguousarray(m[None], np.float32)) for m in mels])

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.session.run(["logit"], {"input": x})[0][0], np.float64)  # type: ignore[attr-defined]

    def probability(self, logits: np.ndarray | float) -> np.ndarray:
        c = self.card.calibration
        return sigmoid(c.a * np.asarray(logits, np.float64) + c.b)

    def analyze(self, item: AudioItem) -> Evidence:  # type: ignore[override]
        segments: list[Segment] = []
        logits: list[float] = []
        pending: list[tuple[int, np.ndarray]] = []
        speech_s = total_s = 0.0

        def flush() -> None:
            if not pending:
                return
            out = self.outputs(np.stack([f for _, f in pending]))
            for (i, _), row in zip(pending, out, strict=True):
                logits.append(float(row[0]))
                segments[i].score = round(float(self.probability(row[0])), 4)
                if self.card.trace_kinds:
                    segments[i].traces = kind_probabilities(row, self.card.trace_kinds)
            pending.clear()

        for w in windows(item.chunks()):
            fr = analyse_window(w.samples, w.valid)
            share = w.fresh / max(len(w.samples), 1)
            total_s += (w.end_s - w.start_s) * share
            segments.append(Segment(round(w.start_s, 3), round(w.end_s, 3), fr.speech, None))
            if fr.speech:
                speech_s += fr.active_s * share
                pending.append((len(segments) - 1, log_mel(w.samples)))
                if len(pending) >= BATCH:
                    flush()
        flush()
        details: dict[str, object] = {
            "speech_s": round(speech_s, 2), "audio_s": round(total_s, 2),
            "segments": len(segments), "speech_segments": len(logits),
            "aggregation": "trimmed mean (10 % each side) of speech-segment logits, Platt-calibrated",
        }
        if speech_s < MIN_SPEECH_S or not logits:
            details["reason"] = (f"no speech: {speech_s:.1f} s of speech found, at least "
                                 f"{MIN_SPEECH_S:.0f} s needed")
            return Evidence(score=None, details=details, segments=segments)
        file_logit = trimmed_mean(logits)
        score = float(self.probability(file_logit))
        details["logit"] = round(file_logit, 4)
        flagged_segs = [s for s in segments if s.score is not None and s.score >= self.card.threshold]
        flagged = len(flagged_segs)
        details["segments_flagged"] = flagged
        kinds = {k.name: sum(1 for s in flagged_segs if s.traces and s.traces.get(k.name, 0.0) >= FIRES)
                 for k in self.card.trace_kinds}
        if kinds:
            details["trace_windows"] = kinds  # flagged windows in which each kind fired
        if score >= self.card.inconclusive_band[1]:
            said = f"the voice sounds synthesised or converted in {flagged} of {len(logits)} speech segments"
            if any(kinds.values()):
                said += "; traces in them: " + ", ".join(
                    f"{LABELS.get(k, k)} in {n}"
                    for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]) if n)
            details["findings"] = [said]
        return Evidence(score=round(score, 4), details=details, segments=segments)


__all__ = ["VoiceAnalyzer", "trimmed_mean"]
