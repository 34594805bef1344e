"""The voice analyzer on the soundtracks of a labelled video folder (default: video/dev).

    python scripts/voice_soundtracks.py [../shared/data/video/dev]

Prints each clip's voice score and a summary per label: how many real soundtracks the
voice model calls synthetic (>= the band's upper edge), uncertain, or real. video/dev's
clips are real recordings or face animations driven by real speech, so its soundtracks
measure false alarms on in-the-wild speech (AAC 16 kHz), not detection.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from fakescope.analyzers.base import AudioItem
from fakescope.analyzers.voice import VoiceAnalyzer
from fakescope.config import ScanSettings
from fakescope.media.audio import RATE, stream_samples


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/video/dev")
    va = VoiceAnalyzer()
    lo, hi = va.card.inconclusive_band
    counts: dict[str, Counter[str]] = {}
    with open(root / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("has_audio", "yes") in ("yes", "1", "true")]
    for r in rows:
        src = root / r["file"]
        ev = va.analyze(AudioItem(media=None, chunks=lambda src=src: stream_samples(src, RATE, 30.0, 3600.0),
                                  rate=RATE, settings=ScanSettings()))
        s = ev.score
        call = "no speech" if s is None else "synthetic" if s >= hi else "real" if s < lo else "uncertain"
        counts.setdefault(r["label"], Counter())[call] += 1
        shown = "-" if s is None else f"{s:.4f}"
        print(f"{r['label']:5s} {r.get('method', ''):12s} {shown:>7} {call:10s} {r['file']}")
    print(f"\nvoice {va.version} ({va.card.sha256[:12]}), band {lo:.2f}-{hi:.2f}")
    for label, c in sorted(counts.items()):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        print(f"{label}: {sum(c.values())} clips with audio: {parts}")


if __name__ == "__main__":
    main()
