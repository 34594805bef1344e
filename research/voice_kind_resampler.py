"""Study: does the vocoder trace kind read HiFi-GAN, or the resampler its twins went through?

Question: the HiFi-GAN twins were rendered at 22.05 kHz and resampled back to 16 kHz, a chain
real clips never went through. Does a resample round trip alone make the shipped model's
``vocoder`` kind fire?

Command: python research/voice_kind_resampler.py [--data ../shared/data/speech] \
    [--vocoder runs/vocoder/hifigan-universal.onnx] [--n 40]

Answer (docs/metrics.md, "What kind of trace"): no. On the first 40 LibriSpeech utterances
(196 speech windows) the kind fires on 0.0 % of the originals and 0.0 % of their
16 -> 22.05 -> 16 kHz round trips (median 0.099 and 0.100), and on 21.4 % of their HiFi-GAN
twins (median 0.361; these utterances were among the heads' training pairs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fakescope.analyzers.voice import VoiceAnalyzer
from fakescope.analyzers.voice_traces import kind_probabilities
from fakescope.analyzers.whisper_mel import log_mel
from fakescope.synth.vocoder import RATE, VOC_RATE, Resynth, resample
from fakescope.train.voice_corpus import decode, speech_windows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/speech"))
    ap.add_argument("--vocoder", type=Path, default=Path("runs/vocoder/hifigan-universal.onnx"))
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    va = VoiceAnalyzer()
    twin = Resynth(a.vocoder)
    versions = {
        "original": lambda x: x,
        "resampled 16 -> 22.05 -> 16 kHz":
            lambda x: resample(resample(x, RATE, VOC_RATE), VOC_RATE, RATE)[: len(x)],
        "HiFi-GAN twin": twin,
    }
    found: dict[str, list[float]] = {k: [] for k in versions}
    for f in sorted((a.data / "librispeech").rglob("*.flac"))[: a.n]:
        x = decode(f)
        for name, make in versions.items():
            for w in speech_windows(make(x)):
                row = va.outputs(log_mel(w)[None])[0]
                found[name].append(kind_probabilities(row, va.card.trace_kinds)["vocoder"])
    for name, v in found.items():
        p = np.array(v)
        print(f"{name}: {len(p)} windows, vocoder kind fires on {np.mean(p >= 0.5):.1%}, "
              f"median {np.median(p):.3f}")


if __name__ == "__main__":
    main()
