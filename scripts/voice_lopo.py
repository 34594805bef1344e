"""Leave-one-page-out figures of the voice recipe, clean and through common channels.

    python scripts/voice_lopo.py [--data ../shared/data/speech] [--pages DATA/speech-pages] [--layers 2] \
        [--vocoder runs/vocoder/hifigan-universal.onnx [--twins] [--kinds]] [--out runs/voice-lopo]

For each demo page of speech/tts (and vc as one more page), the page's real recordings and
every system that appears on it never reach training; its clips are scored by that fold's
model (see fakescope.train.voice). Prints markdown tables (per page, per system, per
condition, false alarms per real source) and writes them with the raw figures to --out.md/.json.
Needs the [train] extra and the shared data; about 15 minutes on 2 cores with a warm cache.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from fakescope.train.voice import VoiceConfig, calibrate, condition_table, lopo, summarise


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/speech"))
    ap.add_argument("--pages", type=Path, help="the demo-page corpus (speech_corpus prepare)")
    ap.add_argument("--cache", type=Path, default=Path("runs/voice-cache"))
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--no-equalize", action="store_true")
    ap.add_argument("--hidden", type=int, default=0)
    ap.add_argument("--telephone-p", type=float, default=0.3)
    ap.add_argument("--no-pseudo", action="store_true")
    ap.add_argument("--vocoder", type=Path, help="HiFi-GAN ONNX (python -m fakescope.synth.vocoder): vocoder "
                                                 "twins of every real clip, and the trace-kind table")
    ap.add_argument("--twins", action="store_true",
                    help="with --vocoder: the score head learns from the twins too")
    ap.add_argument("--kinds", action="store_true", help="with --vocoder: the trace-kind table too")
    ap.add_argument("--no-conditions", action="store_true", help="only the clean table")
    ap.add_argument("--conditions", help="semicolon-separated subset of the conditions (default: all), "
                                         "e.g. 'MP3 32 kb/s;telephone (300-3400 Hz, 8 kHz)'")
    ap.add_argument("--out", type=Path, default=Path("runs/voice-lopo"))
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = VoiceConfig(data_dir=a.data, pages_dir=a.pages, cache_dir=a.cache, layers=a.layers,
                      equalize=not a.no_equalize, hidden=a.hidden, telephone_p=a.telephone_p,
                      pseudo=not a.no_pseudo, vocoder=a.vocoder, twins=a.twins)
    res = lopo(cfg)
    corpus = res["corpus"]
    cal, hi, lo = calibrate(corpus, res["oof"])
    res.update(calibration=cal, threshold=hi)
    clean = summarise(corpus, res["oof"], 0, cal, hi)
    lines = [f"Calibration a={cal[0]:.3f} b={cal[1]:.3f}; default threshold (fake at or above) {hi:.3f}; "
             f"real below {lo:.3f}", "",
             "| page (held out with its systems) | clips | fake | AUC | EER |", "|---|---|---|---|---|"]
    for page, m in clean["pages"].items():
        lines.append(f"| {page} | {m['n']} | {m['n_fake']} | {fmt(m['auc'])} | {fmt(m['eer'])} |")
    p = clean["pooled_tts"]
    lines += [f"| **all of speech/tts, pooled** | {p['n']} | {p['n_fake']} | {fmt(p['auc'])} "
              f"| {fmt(p['eer'])} |",
              ]
    if "pooled_pages" in clean:
        q = clean["pooled_pages"]
        lines.append(f"| **all demo-page families (corpora/speech), pooled** | {q['n']} | {q['n_fake']} "
                     f"| {fmt(q['auc'])} | {fmt(q['eer'])} |")
    lines += ["", "| system (vs the real clips of its pages) | fake clips | AUC | EER |", "|---|---|---|---|"]
    for system, m in clean["systems"].items():
        lines.append(f"| {system} | {m['n_fake']} | {fmt(m['auc'])} | {fmt(m['eer'])} |")
    lines += ["", "| real source | clips | called fake |", "|---|---|---|"]
    for src, m in clean["false_alarms"].items():
        lines.append(f"| {src} | {m['n']} | {m['called_fake']} ({m['rate']:.1%}) |")
    lines.append(f"\nFakes called fake at the default threshold: {clean['fakes_called_fake']:.1%}")
    out = {"clean": clean, "calibration": cal, "threshold": hi, "real_below": lo}
    if a.vocoder is not None and a.kinds:
        from fakescope.train.voice import fold_of
        from fakescope.train.voice_kinds import kind_heads

        kinds = kind_heads(corpus, fold_of(corpus))
        out["kinds"] = {k: {n: v for n, v in d.items() if n != "head"} for k, d in kinds.items()}
        lines += ["", "| trace kind | its own pairs, AUC | unseen clones: demo pages AUC | speech/tts AUC "
                      "| fires on real windows | fires on clone windows |", "|---|---|---|---|---|---|"]
        for k, d in out["kinds"].items():
            lines.append(f"| {k} | {d['pair_auc']:.3f} | {fmt(d['clone_auc'].get('pages'))} | "
                         f"{fmt(d['clone_auc'].get('tts'))} | {d['fires_on_real_windows']:.1%} | "
                         f"{d['fires_on_clone_windows']:.1%} |")
    if not a.no_conditions:
        cond = condition_table(cfg, res, a.conditions.split(";") if a.conditions else None)
        out["conditions"] = cond
        lines += ["", "| condition | speech/tts AUC | EER | demo-page families AUC | EER | vc EER "
                      "| worst real source called fake | fakes called fake |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, m in cond.items():
            worst = max(m["false_alarms"].items(), key=lambda kv: kv[1]["rate"])
            pg = m.get("pooled_pages", {})
            lines.append(f"| {name} | {fmt(m['pooled_tts']['auc'])} | {fmt(m['pooled_tts']['eer'])} | "
                         f"{fmt(pg.get('auc'))} | {fmt(pg.get('eer'))} | "
                         f"{fmt(m['vc']['eer'])} | {worst[1]['rate']:.1%} ({worst[0]}) | "
                         f"{m['fakes_called_fake']:.1%} |")
    text = "\n".join(lines)
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".md").write_text(text + "\n")
    a.out.with_suffix(".json").write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
