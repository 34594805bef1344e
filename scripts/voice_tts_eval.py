"""The shipped voice analyzer scanned over speech/tts, per system and per real source.

    python scripts/voice_tts_eval.py [--data ../shared/data/speech] [--out runs/voice-tts.json]

Scans every clip of ``speech/tts`` (real recordings from the systems' demo pages and the
spoofs of 26 TTS and vocoder systems) through the same Scanner the CLI uses, then prints
per system its EER and AUC against every real clip of the set, and per real source the
share called ``fake`` at the default threshold. voice 1.0.0 never trained on speech/tts, so
with it each row was an unseen-system figure (docs/metrics.md keeps that baseline); voice
2.0.0 trained on all of speech/tts, so with it this is an in-domain regression check and
the unseen-system figures come from ``scripts/voice_lopo.py``. ``--out`` keeps every score
and is reused when present (delete it to rescan).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from fakescope.evaluation.metrics import auc, eer
from fakescope.progress import progress_iter


def scan_all(data: Path) -> list[dict]:  # type: ignore[type-arg]
    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.scan.scanner import Scanner

    scanner = Scanner(ScanSettings(provenance=ProvenanceSettings(registry=None)))
    with open(data / "tts/labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in progress_iter(rows, "scanning speech/tts"):
        rep = scanner.scan(data / "tts" / r["file"], r["file"])
        out.append({"file": r["file"], "label": r["label"], "system": r["system"],
                    "score": rep.score, "verdict": rep.verdict})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/speech"))
    ap.add_argument("--out", type=Path, default=Path("runs/voice-tts.json"))
    args = ap.parse_args()
    if args.out.is_file():
        rows = json.loads(args.out.read_text())
    else:
        rows = scan_all(args.data)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))

    scored = [r for r in rows if r["score"] is not None]
    reals = np.array([r["score"] for r in scored if r["label"] == "bonafide"])
    by_system: dict[str, list[float]] = defaultdict(list)
    for r in scored:
        if r["label"] == "spoof":
            by_system[r["system"]].append(r["score"])
    print(f"Per system, against the {len(reals)} real clips of speech/tts "
          f"({len(rows) - len(scored)} clips without a score)\n")
    print("| system | n | EER | AUC | called fake |")
    print("|---|---|---|---|---|")
    fake_verdict: dict[str, int] = defaultdict(int)
    for r in scored:
        key = r["system"] if r["label"] == "spoof" else "real:" + r["system"]
        fake_verdict[key] += r["verdict"] == "fake"
    for system in sorted(by_system, key=lambda s: (-len(by_system[s]), s)):
        s = np.array(by_system[system])
        y, sc = np.r_[np.zeros(len(reals)), np.ones(len(s))], np.r_[reals, s]
        print(f"| {system} | {len(s)} | {eer(y, sc):.3f} | {auc(y, sc):.3f} | "
              f"{fake_verdict[system] / len(s):.0%} |")
    spoofs = np.concatenate([np.array(v) for v in by_system.values()])
    y, sc = np.r_[np.zeros(len(reals)), np.ones(len(spoofs))], np.r_[reals, spoofs]
    print(f"| **all** | {len(spoofs)} | **{eer(y, sc):.3f}** | **{auc(y, sc):.3f}** | "
          f"{sum(fake_verdict[s] for s in by_system) / len(spoofs):.0%} |")

    print("\nReal clips called `fake` at the default threshold, per source\n")
    print("| real source | n | called fake |")
    print("|---|---|---|")
    real_systems = sorted({r["system"] for r in scored if r["label"] == "bonafide"})
    for system in real_systems:
        n = sum(1 for r in scored if r["label"] == "bonafide" and r["system"] == system)
        print(f"| {system} | {n} | {fake_verdict['real:' + system] / n:.0%} |")


if __name__ == "__main__":
    main()
