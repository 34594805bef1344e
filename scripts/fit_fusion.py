"""Fit the fusion card: per kind of evidence, a recalibration and verdict thresholds.

    python scripts/fit_fusion.py --data ../shared/data --out src/fakescope/models/weights/fusion.json

Every file is scanned by the normal pipeline with the fusion card switched off, so each
report's ``evidence`` holds the raw score of each kind (face manipulation: the maximum
over judged faces; generated image: the whole-image analyzer). On dev data only:

- face kind: Platt scaling on dfdc-dev (real faces vs their swaps), both classes weighed
  equally; generated kind: Platt scaling on the dev half of ``photos/`` against the
  pictures of ``generated/`` (two parameters: the ranking, and so every AUC, is unchanged);
- ``threshold_fake`` of both kinds together: the pair that calls the most fakes fake
  (mean of the two kinds' true-positive rates) while at most ``--fpr`` of the real files
  of *every* real source are called fake by either kind: dev real photos (also after JPEG
  75 and after a 0.5x resize, as shared copies are), real dfdc-dev crops, real frames of
  video/dev (as PNG stills) and drawn screenshots (video/gen2's real frames, which the
  generated-image model trains on, are reported only);
- ``threshold_real`` per kind: below it at most ``--miss`` of that kind's fakes;
- videos: kept from the current card; ``scripts/video_features.py fit`` fits them (the
  clip model, its calibration and thresholds, held out by source group);
- generated-image evidence read through CLIP (``generated_clip``): kept from the current
  card (``fakescope train generated-head`` fits it on held-out scores: the head trained on
  these pictures, so their scores would flatter it). The card's own scan reads the traces
  alone (``FAKESCOPE_CLIP_ONNX=off``).

``--check`` fits nothing: it scans the same files with the shipped pipeline and card (CLIP
read where installed) and prints each source's verdicts (docs/metrics.md).

Prints the per-source false-alarm table the thresholds give (docs/metrics.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from fakescope.config import ProvenanceSettings, ScanSettings
from fakescope.datasets import read_labels
from fakescope.evaluation import imagesets
from fakescope.evaluation.calibration import fit_platt, sigmoid
from fakescope.evaluation.metrics import auc
from fakescope.fusion import FACE, GENERATED
from fakescope.models.card import FusionCard, FusionParams
from fakescope.progress import progress_iter
from fakescope.scan.scanner import Scanner
from fakescope.synth.degrade import channel

KINDS = (FACE, GENERATED)


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def image_rows(data: Path, frames_per_clip: int) -> Iterator[tuple[str, str, int, Path | np.ndarray]]:
    """(source, name, label, path or pixels) of every dev image."""
    for it in read_labels(data / "faces/dfdc-dev"):
        yield ("dfdc-dev-real" if it.label == 0 else "dfdc-dev-fake"), it.file, it.label, it.path
    for split in ("dev", "train"):
        for row in imagesets.photos(data / "photos", split):
            yield f"photos-{split}", row.name, 0, data / "photos" / row.name
    # Recompressed and downsized copies, as social media serve them, are real photos too.
    for spec in ("jpeg75", "resize0.5"):
        fn = channel(spec)
        for row in imagesets.photos(data / "photos", "dev"):
            yield f"photos-dev-{spec}", row.name, 0, fn(row.rgb)  # type: ignore[misc]
    for it in read_labels(data / "generated"):
        yield "generated", it.file, 1, it.path
    for folder in ("video/dev", "video/gen2"):
        for row in imagesets.video_frames(data / folder, frames_per_clip, label=0):
            yield f"{folder.replace('/', '-')}-real-frames", row.name, 0, row.rgb
    for row in imagesets.screens(60):
        yield "screens", row.name, 0, row.rgb


def scan_images(scanner: Scanner, data: Path, frames_per_clip: int, cache: Path | None) -> list[dict]:  # type: ignore[type-arg]
    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())
    rows = []
    todo = list(image_rows(data, frames_per_clip))
    for source, name, label, media in progress_iter(todo, "scanning images"):
        r = (scanner.scan(media, name) if isinstance(media, Path)
             else scanner.scan_bytes(_png(media), f"{name}.png"))
        rows.append({"source": source, "name": name, "label": label, "verdict": r.verdict,
                     "faces": len(r.faces), **{k: r.evidence.get(k) for k in KINDS}})
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(rows))
    return rows


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt(rows: list[dict], kind: str, reals: set[str], fakes: set[str]) -> tuple[float, float]:  # type: ignore[type-arg]
    use = [r for r in rows if r[kind] is not None and r["source"] in reals | fakes]
    y = np.array([r["source"] in fakes for r in use], float)
    return fit_platt(_logit(np.array([r[kind] for r in use])), y, balanced=True)


def calibrated(rows: list[dict], kind: str, ab: tuple[float, float]) -> np.ndarray:  # type: ignore[type-arg]
    """Per row the kind's calibrated probability; NaN where the kind was not judged."""
    raw = np.array([np.nan if r[kind] is None else r[kind] for r in rows], float)
    return np.where(np.isnan(raw), np.nan, sigmoid(ab[0] * _logit(np.nan_to_num(raw, nan=0.5)) + ab[1]))


def called_fake(p: dict[str, np.ndarray], t: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(next(iter(p.values()))), bool)
    for k in KINDS:
        out |= np.nan_to_num(p[k], nan=-1.0) >= t[k]
    return out


def choose_thresholds(rows: list[dict], p: dict[str, np.ndarray], real_sources: list[str],  # type: ignore[type-arg]
                      fake_sources: dict[str, str], fpr: float) -> dict[str, float]:
    src = np.array([r["source"] for r in rows])
    grid = {k: np.unique(np.r_[np.round(np.nanquantile(p[k], np.linspace(0.3, 1, 141)), 4), 0.999])
            for k in KINDS}
    best, best_t = -1.0, {k: 0.999 for k in KINDS}
    for tf in grid[FACE]:
        for tg in grid[GENERATED]:
            t = {FACE: max(float(tf), 0.5), GENERATED: max(float(tg), 0.5)}
            fake = called_fake(p, t)
            if any(fake[src == s].mean() > fpr for s in real_sources if (src == s).any()):
                continue
            tpr = np.mean([fake[src == s].mean() for s in fake_sources if (src == s).any()])
            if tpr > best:
                best, best_t = tpr, t
    return best_t


def real_threshold(p: np.ndarray, is_fake: np.ndarray, miss: float, t_fake: float) -> float:
    fakes = np.sort(p[is_fake & ~np.isnan(p)])
    j = int(np.floor(miss * len(fakes)))
    return min(float(fakes[j]) if j < len(fakes) else t_fake, t_fake)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--fpr", type=float, default=0.05, help="false-alarm budget per real image source")
    ap.add_argument("--miss", type=float, default=0.10)
    ap.add_argument("--frames-per-clip", type=int, default=4)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--version", default="2.0.0")
    ap.add_argument("--scores-cache", type=Path, help="keep the image scores here and reuse them")
    ap.add_argument("--check", action="store_true", help="print the shipped pipeline's verdicts per source")
    args = ap.parse_args()
    if args.check:
        check(args.data, args.frames_per_clip)
        return
    os.environ["FAKESCOPE_CLIP_ONNX"] = "off"  # the traces' own thresholds: see the module

    scanner = Scanner(ScanSettings(provenance=ProvenanceSettings(registry=None)))
    previous = scanner.fusion
    scanner.fusion = None  # raw scores: what the card is fitted on
    rows = scan_images(scanner, args.data, args.frames_per_clip, args.scores_cache)
    # video/gen2's real clips give training frames to the generated-image model: their frames
    # are reported but do not set the thresholds.
    real_sources = ["photos-dev", "photos-dev-jpeg75", "photos-dev-resize0.5", "dfdc-dev-real",
                    "video-dev-real-frames", "screens"]
    fake_sources = {"dfdc-dev-fake": FACE, "generated": GENERATED}
    ab = {FACE: platt(rows, FACE, {"dfdc-dev-real"}, {"dfdc-dev-fake"}),
          GENERATED: platt(rows, GENERATED, {"photos-dev"}, {"generated"})}
    p = {k: calibrated(rows, k, ab[k]) for k in KINDS}
    t_fake = choose_thresholds(rows, p, real_sources, fake_sources, args.fpr)
    src = np.array([r["source"] for r in rows])
    fake = called_fake(p, t_fake)
    params = {}
    for k in KINDS:
        kind_fakes = np.isin(src, [s for s, kk in fake_sources.items() if kk == k])
        kind_reals = np.isin(src, [s for s in real_sources])
        t_real = real_threshold(p[k], kind_fakes, args.miss, t_fake[k])
        judged = ~np.isnan(p[k])
        params[k] = FusionParams(
            a=ab[k][0], b=ab[k][1], threshold_fake=round(t_fake[k], 4), threshold_real=round(t_real, 4),
            expected_fpr=round(float(fake[kind_reals].mean()), 4),
            expected_tpr=round(float((p[k][kind_fakes & judged] >= t_fake[k]).mean()), 4),
            fitted_on=sorted({*(s for s, kk in fake_sources.items() if kk == k), *real_sources}),
            n=int((judged & (kind_fakes | kind_reals)).sum()))
        y = kind_fakes[judged & (kind_fakes | kind_reals)]
        s = p[k][judged & (kind_fakes | kind_reals)]
        print(f"{k}: Platt a={ab[k][0]:.3f} b={ab[k][1]:.3f}; fake at >= {t_fake[k]:.3f}, real below "
              f"{t_real:.3f}; AUC fakes vs every real source {auc(y, s):.4f}")
    print("\n| source | n | called fake | inconclusive or fake | decided by faces / generated |")
    print("|---|---|---|---|---|")
    for s in dict.fromkeys(src):
        m = src == s
        face_fake = (np.nan_to_num(p[FACE][m], nan=-1) >= t_fake[FACE]).sum()
        gen_fake = (np.nan_to_num(p[GENERATED][m], nan=-1) >= t_fake[GENERATED]).sum()
        unsure = np.zeros(m.sum(), bool)
        for k in KINDS:
            unsure |= np.nan_to_num(p[k][m], nan=-1) >= params[k].threshold_real
        print(f"| {s} | {m.sum()} | {fake[m].mean():.1%} ({fake[m].sum()}) | {unsure.mean():.1%} | "
              f"{face_fake} / {gen_fake} |")
    # Videos have their own fit (scripts/video_features.py fit): keep the card's entries.
    cmd = (f"python scripts/fit_fusion.py --data {args.data} --out {args.out}; "
           "video and video_model: python scripts/video_features.py fit runs/v15/pipe.jsonl")
    FusionCard(version=args.version, image=params[FACE], generated=params[GENERATED],
               video=previous.video if previous is not None else None,
               video_model=previous.video_model if previous is not None else None,
               generated_clip=previous.generated_clip if previous is not None else None,
               command=cmd, created=dt.date.today()).save(args.out)
    print(f"wrote {args.out}")


def check(data: Path, frames_per_clip: int) -> None:
    from collections import Counter

    scanner = Scanner(ScanSettings(provenance=ProvenanceSettings(registry=None)))
    by_source: dict[str, Counter[str]] = {}
    for source, name, _label, media in progress_iter(list(image_rows(data, frames_per_clip)), "scanning"):
        r = (scanner.scan(media, name) if isinstance(media, Path)
             else scanner.scan_bytes(_png(media), f"{name}.png"))
        gen = next((a for a in r.analyzers if a.name == "generated"), None)
        c = by_source.setdefault(source, Counter())
        c[r.verdict] += 1
        c["n"] += 1
        if r.verdict == "fake":
            c[f"by {r.decided_by}"] += 1
        if gen is not None and gen.details:
            c[f"reads {gen.details.get('reads')}"] += 1
    print("| source | n | fake | inconclusive | real | fake decided by faces / generated | generated reads |")
    print("|---|---|---|---|---|---|---|")
    for source, c in by_source.items():
        n = c["n"]
        reads = ", ".join(f"{k[6:]} {v}" for k, v in c.items() if k.startswith("reads "))
        print(f"| {source} | {n} | {c['fake'] / n:.1%} | {c['inconclusive'] / n:.1%} | {c['real'] / n:.1%} | "
              f"{c[f'by {FACE}']} / {c[f'by {GENERATED}']} | {reads} |")


if __name__ == "__main__":
    main()
