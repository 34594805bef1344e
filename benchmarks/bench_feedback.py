"""Local calibration and a head retrained from reviews on a simulated deployment (issue 30):
do 50 reviews bring the false alarms of a deployment whose real photos the bundled
thresholds over-call to 5 % or less, and what does it cost on the bundled benchmark set?

    python benchmarks/bench_feedback.py [--photos ../shared/data/photos] \
        [--generated ../shared/data/generated]

The deployment: the real photos of ``--photos`` through a heavy beauty filter (two strong
bilateral passes, then JPEG 85), a kind of processing that the generated-image evidence
reads as generated. 50 of them (a fixed shuffle) are reviewed `real` by three reviewers
in turn; ``fakescope.feedback.calibrate.fit`` refits the thresholds from those reviews
exactly as `fakescope calibrate` does; the other deployment photos are judged before and
after. The bundled benchmark set: the generated pictures of ``--generated`` against the
unprocessed photos, judged before and after (AUC of the report's score, detection and
false alarms at the thresholds).

Second, the same 50 reviews retrain the generated-image head (``--head``, on by default
when the CLIP encoder is installed): the reviewed photos go into a throw-away service
store (SQLite and blobs, as the service keeps them), ``fakescope.feedback.heads.retrain``
fits the challenger and compares it exactly as `fakescope train generated-head --feedback`
does, and, if it wins, the other deployment photos and the benchmark set are scanned again
by a scanner reading that local calibration (bundled thresholds). Prints the figures and
keeps them in benchmarks/results/feedback.json.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

PICTURES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
REVIEWS = 50


def beauty(rgb: np.ndarray) -> bytes:
    from fakescope.synth.degrade import beauty_filter

    buf = io.BytesIO()
    Image.fromarray(beauty_filter(rgb)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def evidence_of(scanner, data: bytes, name: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    report = scanner.scan_bytes(data, name)
    return {k: float(v) for k, v in report.evidence.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/photos"))
    ap.add_argument("--generated", type=Path, default=Path("../shared/data/generated"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "feedback.json")
    ap.add_argument("--head", action=argparse.BooleanOptionalAction, default=True,
                    help="Also retrain the generated-image head from the reviews (needs the CLIP encoder).")
    args = ap.parse_args()
    from fakescope.config import ScanSettings
    from fakescope.evaluation.metrics import auc
    from fakescope.feedback.calibrate import Labelled, bundled_thresholds, calls_fake, fit
    from fakescope.models import load_fusion
    from fakescope.progress import progress_iter
    from fakescope.scan.scanner import Scanner

    card = load_fusion()
    if card is None:
        raise SystemExit("no fusion card installed")
    photos = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in PICTURES)
    generated = sorted(p for p in args.generated.rglob("*") if p.suffix.lower() in PICTURES)
    if not photos or not generated:
        raise SystemExit(f"no pictures under {args.photos} or {args.generated}")
    scanner = Scanner(ScanSettings())
    t0 = time.perf_counter()
    deployment, dep_bytes = [], []
    for p in progress_iter(photos, "deployment (beauty-filtered photos)"):
        data = beauty(np.asarray(Image.open(p).convert("RGB")))
        dep_bytes.append(data)
        deployment.append((p.name, evidence_of(scanner, data, p.stem + ".jpg")))
    bench = [(0, evidence_of(scanner, p.read_bytes(), p.name))
             for p in progress_iter(photos, "benchmark real")]
    bench += [(1, evidence_of(scanner, p.read_bytes(), p.name))
              for p in progress_iter(generated, "benchmark generated")]

    order = np.random.default_rng(0).permutation(len(deployment))
    reviewed = [deployment[i] for i in order[:REVIEWS]]
    held = [deployment[i] for i in order[REVIEWS:]]
    items = [Labelled(f"r{k:03d}", "image", False, ev, f"reviewer-{k % 3}")
             for k, (_, ev) in enumerate(reviewed)]
    fitted, skipped = fit(items, card, fpr=0.05)
    before = bundled_thresholds(card)
    after = {**before, **{k: (t.threshold_fake, t.threshold_real) for k, t in fitted.items()}}

    def fpr(evs: list[dict[str, float]], th: dict[str, tuple[float, float]]) -> float:
        return float(np.mean([calls_fake(e, th) for e in evs]))

    y = np.array([label for label, _ in bench])
    score = np.array([max(ev.values(), default=0.0) for _, ev in bench])
    held_ev = [e for _, e in held]
    fakes = [e for lab, e in bench if lab]
    reals = [e for lab, e in bench if not lab]
    rows = {
        "deployment_false_alarms": (fpr(held_ev, before), fpr(held_ev, after)),
        "benchmark_auc": (auc(y, score), auc(y, score)),  # thresholds never reorder the scores
        "benchmark_detection": (fpr(fakes, before), fpr(fakes, after)),
        "benchmark_false_alarms": (fpr(reals, before), fpr(reals, after)),
    }
    head_rows: dict[str, float] = {}
    comparison = None
    if args.head:
        from fakescope.feedback.heads import FeedbackHeadError

        try:
            comparison, head_rows = retrained_head(
                args, [dep_bytes[i] for i in order[:REVIEWS]], [deployment[i][0] for i in order[:REVIEWS]],
                [(dep_bytes[i], deployment[i][0]) for i in order[REVIEWS:]], photos, generated, card)
        except FeedbackHeadError as exc:
            print(f"head not retrained: {exc}")
    print(f"{len(deployment)} deployment photos ({REVIEWS} reviewed by 3 reviewers, {len(held)} judged); "
          f"benchmark: {int(y.sum())} generated, {int((y == 0).sum())} real; "
          f"{time.perf_counter() - t0:.0f} s")
    for kind, t in fitted.items():
        why = (" (held by the bound)" if t.bounded else
               " (kept: moving it down needs fake labels)" if t.lower_needs_fakes else "")
        print(f"  {kind}: fake at {t.before[0]:.3f} -> {t.threshold_fake:.3f}{why}")
    for kind, why in skipped.items():
        print(f"  {kind}: kept ({why})")
    print(f"{'':28s} {'before':>8s} {'thresholds':>11s} {'head':>8s}")
    for name, (a, b) in rows.items():
        h = head_rows.get(name)
        print(f"{name:28s} {a:8.3f} {b:11.3f} {'–' if h is None else f'{h:.3f}':>8s}")
    if comparison is not None:
        print("challenger " + ("promoted" if comparison.promoted
                               else "not promoted: " + "; ".join(comparison.reasons)))
    result = {"benchmark": "feedback", "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
              "reviews": REVIEWS, "deployment_photos": len(deployment),
              "thresholds": {k: {"before": t.before[0], "after": t.threshold_fake, "bounded": t.bounded}
                             for k, t in fitted.items()},
              **{k: {"before": round(a, 4), "after": round(b, 4),
                     **({"retrained_head": round(head_rows[k], 4)} if k in head_rows else {})}
                 for k, (a, b) in rows.items()},
              **({"head_comparison": comparison.model_dump()} if comparison is not None else {})}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


def retrained_head(args: argparse.Namespace, reviewed: list[bytes], names: list[str],
                   held: list[tuple[bytes, str]], photos: list[Path], generated: list[Path],
                   card: object) -> tuple[object, dict[str, float]]:
    """The reviews through a throw-away service store and ``heads.retrain``; if the
    challenger wins, the held-out deployment photos and the benchmark scanned again."""
    import datetime as dt
    import hashlib
    import tempfile

    from fakescope.analyzers.generated import GeneratedImageAnalyzer
    from fakescope.config import ScanSettings
    from fakescope.evaluation.metrics import auc
    from fakescope.feedback import heads, versions
    from fakescope.feedback.calibrate import bundled_thresholds, calls_fake
    from fakescope.media import ImageMedia, decode, read_file
    from fakescope.models import models_dir
    from fakescope.progress import progress_iter
    from fakescope.scan.scanner import Scanner
    from fakescope.store.blobs import BlobStore
    from fakescope.store.database import Database
    from fakescope.store.models import Review, Scan

    analyzer = GeneratedImageAnalyzer()
    if analyzer.head is None:
        raise heads.FeedbackHeadError("no CLIP encoder: fakescope models install-clip")
    limits = ScanSettings().limits

    def features_of(path: Path) -> np.ndarray | None:
        media = decode(read_file(path, limits), limits)
        return analyzer.head_features(media.rgb) if isinstance(media, ImageMedia) else None

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/fakescope.db")
        db.migrate()
        blobs = BlobStore(f"file://{tmp}/blobs")
        now = dt.datetime(2030, 1, 1)
        with db.write() as s:
            for k, (data, name) in enumerate(zip(reviewed, names, strict=True)):
                sid = f"r{k:03d}"
                key = f"scans/{sid}/upload.jpg"
                blobs.put_bytes(key, data)
                s.add(Scan(id=sid, created_at=now, expires_at=now + dt.timedelta(days=30), status="done",
                           filename=name, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                           media_type="image", upload_key=key, report="{}"))
                s.add(Review(scan_id=sid, reviewer_key_id=f"reviewer-{k % 3}", label="real",
                             media_type="image",
                             created_at=now, updated_at=now))
        folder = Path(tmp) / "calibration"
        outcome = heads.retrain(db, blobs, folder, models_dir("generated"), card, features_of)  # type: ignore[arg-type]
        db.dispose()
        if not outcome.comparison.promoted:
            return outcome.comparison, {}
        versions.save_new(folder, outcome.calibration)
        scanner = Scanner(ScanSettings(calibration_dir=folder))
        held_ev = [evidence_of(scanner, data, name)
                   for data, name in progress_iter(held, "deployment, new head")]
        bench = [(0, evidence_of(scanner, p.read_bytes(), p.name))
                 for p in progress_iter(photos, "real, new head")]
        bench += [(1, evidence_of(scanner, p.read_bytes(), p.name))
                  for p in progress_iter(generated, "generated, new head")]
    th = bundled_thresholds(card)  # type: ignore[arg-type]
    y = np.array([label for label, _ in bench])
    score = np.array([max(ev.values(), default=0.0) for _, ev in bench])
    return outcome.comparison, {
        "deployment_false_alarms": float(np.mean([calls_fake(e, th) for e in held_ev])),
        "benchmark_auc": auc(y, score),
        "benchmark_detection": float(np.mean([calls_fake(e, th) for lab, e in bench if lab])),
        "benchmark_false_alarms": float(np.mean([calls_fake(e, th) for lab, e in bench if not lab])),
    }


if __name__ == "__main__":
    main()
