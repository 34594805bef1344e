"""Local calibration on a simulated deployment (issue 30): do 50 reviews bring the false
alarms of a deployment whose real photos the bundled thresholds over-call to 5 % or less,
and what does it cost on the bundled benchmark set?

    python benchmarks/bench_feedback.py [--photos ../shared/data/photos] \
        [--generated ../shared/data/generated]

The deployment: the real photos of ``--photos`` through a heavy beauty filter (two strong
bilateral passes, then JPEG 85), a kind of processing that the generated-image evidence
reads as generated. 50 of them (a fixed shuffle) are reviewed `real` by three reviewers
in turn; ``fakescope.feedback.calibrate.fit`` refits the thresholds from those reviews
exactly as `fakescope calibrate` does; the other deployment photos are judged before and
after. The bundled benchmark set: the generated pictures of ``--generated`` against the
unprocessed photos, judged before and after (AUC of the report's score, detection and
false alarms at the thresholds). Prints the figures and keeps them in
benchmarks/results/feedback.json.
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
    deployment = []
    for p in progress_iter(photos, "deployment (beauty-filtered photos)"):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        deployment.append((p.name, evidence_of(scanner, beauty(rgb), p.stem + ".jpg")))
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
    print(f"{len(deployment)} deployment photos ({REVIEWS} reviewed by 3 reviewers, {len(held)} judged); "
          f"benchmark: {int(y.sum())} generated, {int((y == 0).sum())} real; "
          f"{time.perf_counter() - t0:.0f} s")
    for kind, t in fitted.items():
        why = (" (held by the bound)" if t.bounded else
               " (kept: moving it down needs fake labels)" if t.lower_needs_fakes else "")
        print(f"  {kind}: fake at {t.before[0]:.3f} -> {t.threshold_fake:.3f}{why}")
    for kind, why in skipped.items():
        print(f"  {kind}: kept ({why})")
    print(f"{'':28s} {'before':>8s} {'after':>8s}")
    for name, (a, b) in rows.items():
        print(f"{name:28s} {a:8.3f} {b:8.3f}")
    result = {"benchmark": "feedback", "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
              "reviews": REVIEWS, "deployment_photos": len(deployment),
              "thresholds": {k: {"before": t.before[0], "after": t.threshold_fake, "bounded": t.bounded}
                             for k, t in fitted.items()},
              **{k: {"before": round(a, 4), "after": round(b, 4)} for k, (a, b) in rows.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
