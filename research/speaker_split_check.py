"""Does a recording of two people give two voices, and a recording of one person one
(``people.match.speakers``: 3 s windows joined by similarity), on clean read speech?

    python research/speaker_split_check.py --speech ../shared/data/speech/librispeech --pairs 12

For the first ``--pairs`` pairs of LibriSpeech readers with two utterances each: one reader's
two utterances end to end (one voice expected) and the two readers' utterances interleaved
A B A B (two expected). Prints each and the counts.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speech", type=Path, default=Path("../shared/data/speech/librispeech"))
    ap.add_argument("--pairs", type=int, default=12)
    args = ap.parse_args()
    import soundfile as sf

    from fakescope.people.match import speakers
    from fakescope.people.voice_id import SpeakerEncoder

    enc = SpeakerEncoder()
    with open(args.speech / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by: dict[str, list[Path]] = {}
    for r in rows:
        by.setdefault(r["file"].split("/")[1], []).append(args.speech / r["file"])
    readers = sorted(s for s, files in by.items() if len(files) >= 2)

    def load(p: Path) -> np.ndarray:
        return sf.read(p, dtype="float32")[0]

    one_ok = two_ok = n = 0
    for a, b in itertools.islice(itertools.combinations(readers, 2), args.pairs):
        one = np.concatenate([load(f) for f in by[a][:2]])
        two = np.concatenate([load(by[a][0]), load(by[b][0]), load(by[a][1]), load(by[b][1])])
        k1, k2 = len(speakers(one, enc.embed)), len(speakers(two, enc.embed))
        one_ok += k1 == 1
        two_ok += k2 == 2
        n += 1
        print(f"{a} alone ({len(one) / 16000:.0f} s): {k1} voice(s); {a} and {b} ({len(two) / 16000:.0f} s): "
              f"{k2}")
    print(f"one reader -> one voice {one_ok}/{n}; two readers -> two voices {two_ok}/{n}")


if __name__ == "__main__":
    main()
