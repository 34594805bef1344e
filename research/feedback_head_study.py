"""Would a generated-image head refitted with a deployment's reviews fix its false alarms
without the detection that moving a threshold costs (issue 30, item 3)?

    python research/feedback_head_study.py --photos ../shared/data/photos \\
        --generated ../shared/data/generated --cache runs/feedback-head.npz

The deployment of benchmarks/bench_feedback.py (the real photos of ``--photos`` through
a heavy beauty filter, JPEG 85), the same 50 reviewed `real` and the same other 245 judged;
the benchmark set: the generated pictures of ``--generated`` against the unprocessed
photos. Each picture's head features (CLIP blocks 4-11 and the trace logit, as the
`generated` analyzer computes them at scan time) are kept in ``--cache``.

The challenger: the shipped head's logistic regression refitted on the 50 reviews, pulled
towards the shipped coefficients (``lam``/2 ||theta - theta_shipped||^2 beside the mean log
loss), read through the shipped calibration and the fusion card's thresholds. Rows: the
shipped head, the shipped head with the threshold `fakescope calibrate` fits, and
challengers at several ``lam``; with the reviews alone (real labels only) and with 25
generated pictures of the benchmark's generators reviewed `fake` beside them (taken out of
the benchmark).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.optimize import minimize

PICTURES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
REVIEWS = 50


def features(paths: list[Path], beauty: bool) -> np.ndarray:
    from fakescope.analyzers.generated import GeneratedImageAnalyzer, cut_crops
    from fakescope.config import ScanSettings
    from fakescope.media import decode, load_bytes
    from fakescope.progress import progress_iter
    from fakescope.synth.degrade import beauty_filter

    analyzer = GeneratedImageAnalyzer()
    if analyzer.head is None or analyzer._clip is None:
        raise SystemExit("needs the CLIP encoder (fakescope models install-clip)")
    limits = ScanSettings().limits
    out = []
    for p in progress_iter(paths, "features"):
        data = p.read_bytes()
        if beauty:
            buf = io.BytesIO()
            Image.fromarray(beauty_filter(np.asarray(Image.open(p).convert("RGB")))).save(
                buf, format="JPEG", quality=85)
            data = buf.getvalue()
        rgb = decode(load_bytes(data, Path(p.stem + ".jpg"), limits), limits).rgb
        crops, _ = cut_crops(rgb, analyzer.card.input.size)
        mean = float(analyzer.run(crops)[0].mean())
        out.append(analyzer.head.features(*analyzer._clip.tokens(rgb), mean))
    return np.asarray(out)


def refit(x: np.ndarray, y: np.ndarray, coef0: np.ndarray, b0: float, lam: float) -> tuple[np.ndarray, float]:
    """Mean log loss on (x, y) plus lam/2 ||(coef, b) - (coef0, b0)||^2."""
    theta0 = np.r_[coef0, b0]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        ll = np.mean(np.logaddexp(0, z) - y * z)
        g = (p - y) / len(y)
        d = theta - theta0
        return float(ll + lam / 2 * d @ d), np.r_[x.T @ g, g.sum()] + lam * d

    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:-1], float(res.x[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/photos"))
    ap.add_argument("--generated", type=Path, default=Path("../shared/data/generated"))
    ap.add_argument("--cache", type=Path, default=Path("runs/feedback-head.npz"))
    ap.add_argument("--lams", default="1,0.1,0.01,0.001")
    args = ap.parse_args()
    from fakescope.analyzers.generated import GeneratedImageAnalyzer
    from fakescope.evaluation.metrics import auc
    from fakescope.feedback.calibrate import fit_kind
    from fakescope.fusion import calibrate
    from fakescope.models import load_fusion

    photos = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in PICTURES)
    generated = sorted(p for p in args.generated.rglob("*") if p.suffix.lower() in PICTURES)
    if args.cache.is_file():
        z = np.load(args.cache)
        dep, real, fake = z["deployment"], z["real"], z["fake"]
    else:
        dep, real, fake = features(photos, True), features(photos, False), features(generated, False)
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.cache, deployment=dep, real=real, fake=fake)
    head = GeneratedImageAnalyzer().head
    card = load_fusion()
    assert head is not None and card is not None and card.generated_clip is not None
    params = card.generated_clip

    order = np.random.default_rng(0).permutation(len(dep))  # bench_feedback's draw
    reviewed, held = dep[order[:REVIEWS]], dep[order[REVIEWS:]]
    fake_order = np.random.default_rng(1).permutation(len(fake))
    fake_reviewed, fake_bench = fake[fake_order[:25]], fake[fake_order[25:]]

    def evidence(x: np.ndarray, coef: np.ndarray, b: float) -> np.ndarray:
        """As a scan reports it: the head's logit, its calibration, the fusion card's."""
        return np.array([calibrate(head.probability(float(v)), params) for v in x @ coef + b])

    def row(name: str, coef: np.ndarray, b: float, thr: float) -> None:
        e_held, e_real, e_fake = (evidence(x, coef, b) for x in (held, real, fake_bench))
        yb = np.r_[np.zeros(len(e_real)), np.ones(len(e_fake))]
        print(f"{name:44s} {np.mean(e_held >= thr):9.1%} {auc(yb, np.r_[e_real, e_fake]):7.3f} "
              f"{np.mean(e_fake >= thr):9.1%} {np.mean(e_real >= thr):9.1%}")

    print(f"deployment: {len(reviewed)} reviewed, {len(held)} judged; benchmark {len(fake_bench)} generated, "
          f"{len(real)} real (25 generated set aside as fake reviews)")
    print(f"{'':44s} {'dep. FA':>9s} {'AUC':>7s} {'detection':>9s} {'bench FA':>9s}")
    thr = params.threshold_fake
    row("shipped head, bundled threshold", head.coef, head.intercept, thr)
    moved = fit_kind(evidence(reviewed, head.coef, head.intercept), np.array([]),
                     (params.threshold_fake, params.threshold_real), 0.05, 0.2).threshold_fake
    row(f"shipped head, calibrated threshold {moved:.3f}", head.coef, head.intercept, moved)
    for with_fakes in (False, True):
        x = np.r_[reviewed, fake_reviewed] if with_fakes else reviewed
        y = np.r_[np.zeros(len(reviewed)), np.ones(len(fake_reviewed) if with_fakes else 0)]
        for lam in (float(v) for v in args.lams.split(",")):
            coef, b = refit(x, y, head.coef, head.intercept, lam)
            row(f"refit, lam {lam:g}{' + 25 fake reviews' if with_fakes else ''}", coef, b, thr)


if __name__ == "__main__":
    main()
