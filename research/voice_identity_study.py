"""How well does an offline speaker encoder tell the same voice from another, on the speech
fakescope holds (issue 31's groundwork)?

    pip install resemblyzer          # in a separate environment: it needs torch and librosa
    python research/voice_identity_study.py --speech ../shared/data/speech/librispeech

Resemblyzer 0.1.4's bundled encoder (GE2E, Apache-2.0) embeds every utterance of the
LibriSpeech sample (the speaker is the first folder under the subset). Pairs: two
different utterances of one speaker (same reader, often another chapter), and utterances
of two speakers. Prints the EER and the false-match rate where 5 % of same-speaker pairs
are rejected, with the counts it rests on: the sample holds few speakers with more than
one utterance, so the same-speaker side is small.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np


def eer(same: np.ndarray, other: np.ndarray) -> float:
    thresholds = np.sort(np.r_[same, other])
    frr = np.array([np.mean(same < t) for t in thresholds])
    far = np.array([np.mean(other >= t) for t in thresholds])
    k = int(np.argmin(np.abs(frr - far)))
    return float((frr[k] + far[k]) / 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speech", type=Path, required=True, help="a folder with labels.csv (file column)")
    args = ap.parse_args()
    from resemblyzer import VoiceEncoder, preprocess_wav

    encoder = VoiceEncoder("cpu")
    with open(args.speech / "labels.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("label", "bonafide") == "bonafide"]
    items = []
    for r in rows:
        speaker = Path(r["file"]).parts[1]
        wav = preprocess_wav(args.speech / r["file"])
        if len(wav) < 16000:  # under a second of speech
            continue
        items.append((speaker, r["file"], encoder.embed_utterance(wav)))
    same, other = [], []
    for a, b in itertools.combinations(items, 2):
        cos = float(a[2] @ b[2])
        (same if a[0] == b[0] else other).append(cos)
    s, o = np.array(same), np.array(other)
    speakers = {i[0] for i in items}
    print(f"{len(items)} utterances of {len(speakers)} speakers; same-speaker pairs {len(s)} "
          f"(median cosine {np.median(s):.3f}), other-speaker pairs {len(o)} (median {np.median(o):.3f})")
    print(f"EER {eer(s, o):.4f}")
    thr = float(np.quantile(s, 0.05))
    print(f"at 5 % of same-speaker pairs rejected (cosine {thr:.3f}): {np.mean(o >= thr):.2%} of "
          "other-speaker pairs accepted")


if __name__ == "__main__":
    main()
