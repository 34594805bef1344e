"""Leave-one-system-out evaluation of the voice model on speech/vc, then the shipped model.

    python scripts/voice_loso.py [--data ../shared/data/speech] [--steps 900] [--final]

For each voice-conversion system in turn: train without it (3 folds over utterance
groups, so no tested real utterance nor its words were trained on) and measure EER/AUC
of its conversions against the held-out real utterances. Prints a Markdown table (the
one in docs/metrics.md) and writes runs/voice-loso.json. ``--final`` then trains the
shipped model on every system (calibrated on held-out groups) into runs/voice.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from fakescope.train.voice import SYSTEMS, VoiceConfig, build, leave_all_out, loso, train_final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/speech"))
    ap.add_argument("--cache", type=Path, default=Path("runs/voice-cache"))
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--systems", nargs="*", default=list(SYSTEMS))
    ap.add_argument("--no-dataset-fakes", action="store_true",
                    help="train on pseudo-fakes only: every system held out at once (3x cheaper)")
    ap.add_argument("--final", action="store_true", help="also train and export the shipped model")
    ap.add_argument("--out", type=Path, default=Path("runs/voice-loso.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    command = "python " + " ".join(sys.argv)
    cfg = VoiceConfig(data_dir=args.data, cache_dir=args.cache, steps=args.steps, folds=args.folds,
                      dataset_fakes=not args.no_dataset_fakes, command=command)
    entries = build(cfg)
    rows = []
    if args.no_dataset_fakes:
        # No system is ever trained on: one model per fold tests all of them.
        rows = [r for r in leave_all_out(cfg, entries) if r["holdout_system"] in args.systems]
    for system in [] if args.no_dataset_fakes else args.systems:
        res = loso(replace(cfg, holdout_system=system), entries)
        rows.append(res)
        print(json.dumps(res, default=float), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2, default=float) + "\n")
    print("| held-out system | real / spoof files | EER | AUC | EER, seen systems | "
          "AUC LibriSpeech real vs vc real |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        u = r["unseen"]
        seen = f"{r['seen_systems']['eer']:.3f}" if "seen_systems" in r else "none trained on"
        print(f"| {r['holdout_system']} | {u['n'] - u['n_spoof']} / {u['n_spoof']} | {u['eer']:.3f} | "
              f"{u['auc']:.3f} | {seen} | {r['corpus_auc_librispeech_vs_vc_real']:.3f} |")
    if rows:
        mean = sum(r["unseen"]["eer"] for r in rows) / len(rows)
        print(f"\nmean EER over held-out systems: {mean:.3f}  (`{command}`)")
    if args.final:
        path = train_final(replace(cfg, out_dir=Path("runs/voice")))
        print(f"exported {path}")


if __name__ == "__main__":
    main()
