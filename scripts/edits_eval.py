"""Judge a local-edit model on real edits (issue 29): the dev set of corpora/edits.

    python scripts/edits_eval.py --data DATA/edits-dev --net runs/edits/net.pt [--json out.json]
    python scripts/edits_eval.py --data DATA/edits-dev --shipped   # the analyzer as a scan runs it
    python scripts/edits_eval.py --data DATA/edits-dev --shipped --after jpeg75   # or resize0.75, crop

Per picture the image score is the mean of the 16 highest cell logits (as the analyzer
reads it). Prints: image-level AUC pooled and per source group that has both classes;
for pictures with a mask, the cell-level AUC and the F1 of cells at p >= 0.5 (a cell is
edited when half its pixels are); the share of authentic pictures above the threshold that
calls ``--fpr`` of them fake, per group. ``--shipped`` judges the bundled `local-edit`
analyzer instead, with its copy-move matching (``FAKESCOPE_COPY_MOVE=off``: without):
its probability is the picture's score, its cell map (the net's cells, the copies' outline
merged in) the localization. ``--after`` puts every picture (edited and authentic, and its
mask) through what happens to media after an edit before it is judged: another JPEG at
quality 75, a downscale to 75 %, or a crop of 10 % off the top and left (off the 8x8 grid).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from fakescope.evaluation.metrics import auc
from fakescope.train.local_edit import load_trained

TOP = 16
MAX_SIDE = 2048


def cell_logits(net, rgb: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    from fakescope.train.local_edit import _to_input

    with torch.no_grad():
        return net(_to_input(torch.from_numpy(np.ascontiguousarray(rgb))[None]))[0].numpy()


def noise_cells(rgb: np.ndarray) -> np.ndarray:
    """The baseline without training: each 8x8 cell's noise level (the median absolute
    high-pass residual of its grey values, over 3x3 cells) against the picture's median,
    in log units — a region from another camera, another JPEG generation or a smoothing
    inpainter carries another noise level."""
    g = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32) / 4
    r = np.abs(cv2.filter2D(g, -1, k))
    h, w = (g.shape[0] // 8) * 8, (g.shape[1] // 8) * 8
    blocks = r[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    cell = np.median(blocks.reshape(h // 8, w // 8, 64), -1)
    local = cv2.blur(np.log(cell + 0.5), (3, 3))
    return np.abs(local - np.median(local))


def _shipped():  # type: ignore[no-untyped-def]
    """A function: picture path -> (the analyzer's probability, its cell probabilities)."""
    from fakescope.analyzers.base import ScanItem
    from fakescope.analyzers.local_edit import LocalEditAnalyzer
    from fakescope.config import ScanSettings
    from fakescope.media import decode, load_bytes

    analyzer, settings = LocalEditAnalyzer(), ScanSettings(explain=True)

    def judge(data: bytes, name: str) -> tuple[float, np.ndarray]:
        media = decode(load_bytes(data, Path(name), settings.limits), settings.limits)
        ev = analyzer.analyze(ScanItem(media=media, faces=[], settings=settings))
        return float(ev.score or 0.0), ev.image_heatmaps[0].heat

    return judge


AFTER = ("jpeg75", "resize0.75", "crop")


def after_edit(kind: str, bgr: np.ndarray,
               mask: np.ndarray | None) -> tuple[bytes, np.ndarray, np.ndarray | None]:
    """The picture (encoded as it would travel on) and its mask after ``kind``."""
    if kind == "resize0.75":
        size = (max(8, round(bgr.shape[1] * 0.75)), max(8, round(bgr.shape[0] * 0.75)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        mask = None if mask is None else cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    elif kind == "crop":
        dy, dx = bgr.shape[0] // 10 + 3, bgr.shape[1] // 10 + 5  # off the 8x8 grid
        bgr, mask = bgr[dy:, dx:], None if mask is None else mask[dy:, dx:]
    ok, buf = cv2.imencode(".jpg" if kind == "jpeg75" else ".png", np.ascontiguousarray(bgr),
                           [cv2.IMWRITE_JPEG_QUALITY, 75] if kind == "jpeg75" else [])
    assert ok
    return buf.tobytes(), bgr, mask


def cells_of(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The mask's share of each output cell (the net's grid: ceil of size / 8)."""
    h, w = shape
    m = cv2.resize(mask.astype(np.float32) / 255.0, (w * 8, h * 8), interpolation=cv2.INTER_AREA)
    return m.reshape(h, 8, w, 8).mean((1, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--net", type=Path,
                    help="a trained net (train/local_edit.py fit); without: the noise baseline")
    ap.add_argument("--shipped", action="store_true",
                    help="the bundled analyzer, copy-move matching included")
    ap.add_argument("--after", choices=AFTER,
                    help="with --shipped: what happens to every picture after the edit")
    ap.add_argument("--fpr", type=float, default=0.05)
    ap.add_argument("--json", type=Path, help="per picture: score, cell AUC, F1")
    ap.add_argument("--summary", type=Path, help="the pooled figures (JSON), for the model card")
    args = ap.parse_args()
    if args.after and not args.shipped:
        ap.error("--after needs --shipped")
    net = load_trained(args.net) if args.net else None
    shipped = _shipped() if args.shipped else None
    with open(args.data / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        bgr = cv2.imread(str(args.data / r["file"]), cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"{r['file']}: not readable")
            continue
        m = cv2.imread(str(args.data / r["mask"]), cv2.IMREAD_GRAYSCALE) if r.get("mask") else None
        if m is not None and m.shape != bgr.shape[:2]:
            m = cv2.resize(m, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_NEAREST)
        data = (args.data / r["file"]).read_bytes()
        if args.after:
            data, bgr, m = after_edit(args.after, bgr, m)
        rgb = bgr[..., ::-1]
        f = MAX_SIDE / max(rgb.shape[:2])
        if f < 1:
            rgb = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        if shipped is not None:
            score, lg = shipped(data, r["file"] if not args.after else f"{r['file']}.{args.after}")
            lg = lg[: -(-rgb.shape[0] // 8), : -(-rgb.shape[1] // 8)]
        else:
            lg = cell_logits(net, rgb) if net is not None else noise_cells(rgb)
            score = float(np.sort(lg.ravel())[-TOP:].mean())
        item = {"file": r["file"], "group": r["group"], "label": int(r["label"] == "fake"),
                "kind": r["edit_kind"], "score": score}
        if m is not None:
            if f < 1:
                m = cv2.resize(m, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
            truth = cells_of(m, lg.shape) >= 0.5
            p = lg if shipped is not None else 1 / (1 + np.exp(-lg))
            if 0 < truth.sum() < truth.size:
                item["cell_auc"] = auc(truth.ravel().astype(int), lg.ravel())
                tp = float((truth & (p >= 0.5)).sum())
                item["f1"] = 2 * tp / max(1.0, truth.sum() + (p >= 0.5).sum())
        out.append(item)
    y = np.array([o["label"] for o in out])
    s = np.array([o["score"] for o in out])
    print(f"{len(out)} pictures ({int(y.sum())} edited): image AUC {auc(y, s):.3f}")
    thr = float(np.quantile(s[y == 0], 1 - args.fpr))
    by = defaultdict(list)
    for o in out:
        by[o["group"]].append(o)
    print(f"threshold at {args.fpr:.0%} of authentic pictures: logit {thr:.2f}")
    print(f"{'group':50s} {'edited':>6s} {'auth':>5s} {'AUC':>6s} {'caught':>7s} {'false alarms':>12s}")
    for g, items in sorted(by.items()):
        yy = np.array([o["label"] for o in items])
        ss = np.array([o["score"] for o in items])
        a = auc(yy, ss) if 0 < yy.sum() < len(yy) else float("nan")
        print(f"{g[:50]:50s} {int(yy.sum()):6d} {int((yy == 0).sum()):5d} {a:6.3f} "
              f"{int((ss[yy == 1] > thr).sum()):7d} {int((ss[yy == 0] > thr).sum()):12d}")
    by_kind = defaultdict(list)
    for o in out:
        if o["label"]:
            by_kind[o["kind"]].append(o["score"])
    for k, v in sorted(by_kind.items()):
        print(f"  {k}: {len(v)} edited, AUC against every authentic picture "
              f"{auc(np.r_[np.ones(len(v)), np.zeros(int((y == 0).sum()))], np.r_[v, s[y == 0]]):.3f}")
    loc = [o for o in out if "cell_auc" in o]
    figures = {"image_auc": auc(y, s)}
    if loc:
        figures |= {"cell_auc_mean": float(np.mean([o["cell_auc"] for o in loc])),
                    "f1_mean": float(np.mean([o["f1"] for o in loc]))}
        print(f"localization over {len(loc)} masked pictures: mean cell AUC {figures['cell_auc_mean']:.3f}, "
              f"mean F1 at p >= 0.5 {figures['f1_mean']:.3f}")
    if args.summary:
        args.summary.write_text(json.dumps(figures), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main()
