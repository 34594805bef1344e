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

A head retrained on a deployment's reviews (``feedback/voice_head.py``, held by the current
local calibration; ``use_local_head``) moves each speech window's score logit by ``h · d +
b``, ``h`` the 128 hidden activations of the head's MLP, which a second session of the same
file exposes as an extra output. Only audio files are read with it: it was judged on the
deployment's reviewed audio files, which say little about the soundtracks of its videos (as
for the local `audio` thresholds). Without one, the bundled session runs as it always did.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from fakescope.analyzers.base import AudioItem, Evidence, Segment
from fakescope.analyzers.speech import MIN_SPEECH_S, analyse_window, windows
from fakescope.analyzers.voice_traces import FIRES, LABELS, kind_probabilities
from fakescope.analyzers.whisper_mel import log_mel
from fakescope.errors import ModelError
from fakescope.evaluation.calibration import sigmoid
from fakescope.media.audio import AudioMedia
from fakescope.models import LoadedModel, load_model
from fakescope.models.clip import with_outputs

BATCH = 16
TRIM = 0.1
# The MLP's hidden activations (after its GELU), the features a local head reads.
HIDDEN_OUTPUT = "/head/net/net.2/Mul_1_output_0"


def trimmed_mean(values: list[float], trim: float = TRIM) -> float:
    """Mean after dropping ``trim`` of the values at each end (all of them when few)."""
    v = sorted(values)
    k = int(len(v) * trim)
    core = v[k : len(v) - k] if len(v) - 2 * k > 0 else v
    return float(np.mean(core))


class LocalVoiceHead(BaseModel):
    """A voice head retrained on a deployment's reviews, as a local calibration holds it:
    each speech window's score logit + ``h · d + b`` (feedback/voice_head.py)."""

    d: list[float]
    b: float
    base_sha256: str
    hidden_output: str = HIDDEN_OUTPUT
    feedback: str = ""


@lru_cache(maxsize=2)
def _hidden_session(path: str, sha256: str, threads: int) -> Any:
    """The voice model with its hidden activations as a second output (loaded on first use)."""
    import onnxruntime as ort

    with open(path, "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelError(f"{path} changed since it was loaded (sha256 differs)")
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if os.environ.get("FAKESCOPE_ORT_SPIN") != "1":  # as models._load: idle threads sleep
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(with_outputs(data, [HIDDEN_OUTPUT]), sess_options=opts,
                                providers=["CPUExecutionProvider"])


@dataclass
class _Pass:
    """What one pass over a stream saw: every window's segment, and seconds of audio and speech."""

    segments: list[Segment] = field(default_factory=list)
    speech_s: float = 0.0
    total_s: float = 0.0


class VoiceAnalyzer:
    name = "voice"
    needs_faces = False
    media_types = frozenset({"audio", "soundtrack"})

    def __init__(self, model_name: str = "voice", threads: int = 0) -> None:
        self._model: LoadedModel = load_model(model_name, threads=threads)
        self.card = self._model.card
        self.version = self.card.version
        self._threads = threads
        self._local: tuple[np.ndarray, float] | None = None
        self.head_source = "bundled"

    def use_local_head(self, head: dict[str, Any] | None, label: str = "local") -> None:
        """Read audio files with a head retrained on a deployment's reviews (a local
        calibration's; feedback/voice_head.py), or, given None, with the bundled one again."""
        if head is None:
            self._local, self.head_source = None, "bundled"
            return
        try:
            local = LocalVoiceHead.model_validate(head)
        except ValidationError as exc:
            raise ModelError(f"{label}: not a voice head ({exc.error_count()} errors)") from None
        if local.base_sha256 != self.card.sha256 or local.hidden_output != HIDDEN_OUTPUT:
            raise ModelError(f"{label}: a voice head for another voice model than {self._model.path.name}")
        self._hidden_session()  # fail now, not in the middle of a scan
        self._local, self.head_source = (np.asarray(local.d, np.float64), float(local.b)), label

    def _hidden_session(self) -> Any:
        return _hidden_session(str(self._model.path), self.card.sha256, self._threads)

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

    def readings(self, mels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``outputs`` of the bundled head, and each window's hidden activations (N, 128)."""
        sess = self._hidden_session()
        outs, hidden = [], []
        for m in mels:  # one window per run, as ``outputs``
            x = np.ascontiguousarray(m[None], np.float32)
            logit, h = sess.run(["logit", HIDDEN_OUTPUT], {"input": x})
            outs.append(np.asarray(logit[0], np.float64))
            hidden.append(np.asarray(h[0], np.float64))
        return np.stack(outs), np.stack(hidden)

    def _speech(self, item: AudioItem, seen: _Pass) -> Iterator[list[tuple[int, np.ndarray]]]:
        """Batches of (segment index, log-mel) of the speech windows, as the audio streams in;
        ``seen`` collects every window's segment and the seconds of audio and speech."""
        pending: list[tuple[int, np.ndarray]] = []
        for w in windows(item.chunks()):
            fr = analyse_window(w.samples, w.valid)
            share = w.fresh / max(len(w.samples), 1)
            seen.total_s += (w.end_s - w.start_s) * share
            seen.segments.append(Segment(round(w.start_s, 3), round(w.end_s, 3), fr.speech, None))
            if fr.speech:
                seen.speech_s += fr.active_s * share
                pending.append((len(seen.segments) - 1, log_mel(w.samples)))
                if len(pending) >= BATCH:
                    yield pending
                    pending = []
        if pending:
            yield pending

    def head_readings(self, item: AudioItem) -> tuple[np.ndarray, np.ndarray] | None:
        """What a local head reads in an audio file: its speech windows' hidden activations
        (N, 128) and bundled score logits (N,), found as ``analyze`` finds them; None when
        ``analyze`` would give no opinion (too little speech)."""
        seen = _Pass()
        hidden, logits = [], []
        for batch in self._speech(item, seen):
            out, h = self.readings(np.stack([m for _, m in batch]))
            hidden.append(h)
            logits.append(out[:, 0])
        if seen.speech_s < MIN_SPEECH_S or not logits:
            return None
        return np.concatenate(hidden), np.concatenate(logits)

    def probability(self, logits: np.ndarray | float) -> np.ndarray:
        c = self.card.calibration
        return sigmoid(c.a * np.asarray(logits, np.float64) + c.b)

    def analyze(self, item: AudioItem) -> Evidence:  # type: ignore[override]
        seen = _Pass()
        segments = seen.segments
        logits: list[float] = []
        local = self._local if isinstance(item.media, AudioMedia) else None
        for batch in self._speech(item, seen):
            mels = np.stack([f for _, f in batch])
            if local is None:
                out = self.outputs(mels)
            else:
                out, h = self.readings(mels)
                out[:, 0] += h @ local[0] + local[1]
            for (i, _), row in zip(batch, out, strict=True):
                logits.append(float(row[0]))
                segments[i].score = round(float(self.probability(row[0])), 4)
                if self.card.trace_kinds:
                    segments[i].traces = kind_probabilities(row, self.card.trace_kinds)
        speech_s = seen.speech_s
        details: dict[str, object] = {
            "speech_s": round(speech_s, 2), "audio_s": round(seen.total_s, 2),
            "segments": len(segments), "speech_segments": len(logits),
            "aggregation": "trimmed mean (10 % each side) of speech-segment logits, Platt-calibrated",
            **({"head": self.head_source} if local is not None else {}),
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


__all__ = ["HIDDEN_OUTPUT", "LocalVoiceHead", "VoiceAnalyzer", "trimmed_mean"]
