"""The generated-image head retrained from a deployment's reviews (issue 30, item 3): a
challenger fitted on reviewed photos of a kind the head over-calls wins on held-out reviews
without losing the bundled benchmark and is promoted as a local calibration that scanners
read; one that would not do better is kept out; the comparison is kept either way."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from fakescope.feedback import heads, versions
from fakescope.models import load_fusion, models_dir
from fakescope.store.blobs import BlobStore
from fakescope.store.database import Database
from fakescope.store.models import Review, Scan

WEIGHTS = models_dir("generated")


@pytest.fixture(scope="module")
def bundle() -> heads.Bundle:
    return heads.load_bundle(WEIGHTS)


def _pictures(bundle: heads.Bundle, n: int, shift: float, seed: int) -> np.ndarray:
    """Head features of real pictures in the bundle's subspace (replay reals' coordinates,
    jittered), moved by ``shift`` logits of the shipped head along a principal direction it
    weighs but on which generated and real pictures hardly differ: what a processing the
    head reads as generated does to a deployment's real photos."""
    shipped = heads.shipped_head(WEIGHTS)
    coef = np.asarray(shipped["coef"])
    rng = np.random.default_rng(seed)
    reals = bundle.replay.z[bundle.replay.label == 0]
    c = reals[rng.integers(0, len(reals), n), :-1] + rng.normal(0, 0.02, (n, bundle.basis.shape[0]))
    along = bundle.basis @ coef[:-1]
    r = bundle.replay
    zr, zf = r.z[r.label == 0, :-1], r.z[r.label == 1, :-1]
    separation = np.abs(zf.mean(0) - zr.mean(0)) / np.r_[zr, zf].std(0)
    weighed = np.argsort(-np.abs(along))[:16]
    j = weighed[np.argmin(separation[weighed])]
    c[:, j] += shift / along[j]
    return np.c_[bundle.mu + c @ bundle.basis, reals[rng.integers(0, len(reals), n), -1]]


def _store(tmp: Path, x: np.ndarray, labels: list[str]) -> tuple[Database, BlobStore]:
    """A service store holding reviewed photo scans whose uploads are the features (.npy)."""
    db = Database(f"sqlite:///{tmp}/fakescope.db")
    db.migrate()
    blobs = BlobStore(f"file://{tmp}/blobs")
    now = dt.datetime(2030, 1, 1)
    with db.write() as s:
        for k, (row, label) in enumerate(zip(x, labels, strict=True)):
            sid = f"s{k:03d}"
            local = tmp / f"{sid}.npy"
            np.save(local, row)
            blobs.put_file(f"scans/{sid}/upload.npy", local)
            s.add(
                Scan(
                    id=sid,
                    created_at=now,
                    expires_at=now + dt.timedelta(days=9),
                    status="done",
                    filename=f"{sid}.npy",
                    size_bytes=1,
                    sha256="0" * 64,
                    media_type="image",
                    upload_key=f"scans/{sid}/upload.npy",
                    report="{}",
                )
            )
            s.add(
                Review(
                    scan_id=sid,
                    reviewer_key_id=f"k{k % 3}",
                    label=label,
                    media_type="image",
                    created_at=now,
                    updated_at=now,
                )
            )
    return db, blobs


def _shipped_calls(x: np.ndarray, card: object) -> np.ndarray:
    shipped = heads.shipped_head(WEIGHTS)
    reading = heads.Reading(shipped["calibration"]["a"], shipped["calibration"]["b"], card.generated_clip)  # type: ignore[attr-defined]
    return reading.calls_fake(x @ np.asarray(shipped["coef"]) + shipped["intercept"])


def test_a_challenger_on_over_called_real_photos_wins_and_is_kept_and_promoted(
    tmp_path: Path, bundle: heads.Bundle
) -> None:
    card = load_fusion()
    assert card is not None and card.generated_clip is not None
    reviewed, new = _pictures(bundle, 40, 6.0, 0), _pictures(bundle, 200, 6.0, 1)
    assert _shipped_calls(new, card).mean() > 0.5  # the head over-calls this deployment
    db, blobs = _store(tmp_path, reviewed, ["real"] * 40)
    folder = tmp_path / "calibration"
    out = heads.retrain(db, blobs, folder, WEIGHTS, card, np.load, progress=False)
    c = out.comparison
    assert c.promoted, c.reasons
    assert c.reviews_real == 40 and c.reviews_fake == 0
    assert c.reviews["challenger"].mistakes < c.reviews["champion"].mistakes
    assert c.guard["challenger"].auc >= c.guard["champion"].auc - heads.AUC_TOLERANCE
    assert out.challenger.reviewers == {"k0": 14, "k1": 13, "k2": 13}
    # the promoted head, as a scanner reads it, no longer over-calls new photos of the kind
    head = out.challenger.head
    logit = new @ np.asarray(head["coef"]) + head["intercept"]
    reading = heads.Reading(head["calibration"]["a"], head["calibration"]["b"], card.generated_clip)
    assert reading.calls_fake(logit).mean() < 0.05
    # its folded coefficients give the logits the subspace comparison used
    delta = heads.Delta.model_validate(out.challenger.delta)
    shipped = heads.shipped_head(WEIGHTS)
    assert np.allclose(
        logit,
        delta.logits(bundle.project(new), new @ np.asarray(shipped["coef"]) + shipped["intercept"]),
        atol=1e-4,
    )
    kept = heads.keep(folder, out)
    assert json.loads(kept.read_text())["comparison"]["promoted"] is True
    saved = versions.save_new(folder, out.calibration)
    watcher = versions.Watcher(card, folder)
    watcher.card()
    assert watcher.local is not None and watcher.local.heads["generated"].scans == out.challenger.scans
    assert versions.note_for(saved.version, watcher.local) == [
        f"generated head: retrained on this deployment's reviews (local calibration v{saved.version})"
    ]
    # the next challenger is compared with this one, not with the bundled head
    again = heads.retrain(db, blobs, folder, WEIGHTS, card, np.load, progress=False)
    assert again.comparison.reviews["champion"].mistakes == 0 and not again.comparison.promoted
    db.dispose()


def test_reviews_the_head_in_use_already_gets_right_teach_nothing(
    tmp_path: Path, bundle: heads.Bundle
) -> None:
    card = load_fusion()
    assert card is not None
    ordinary = _pictures(bundle, 30, 0.0, 2)
    assert _shipped_calls(ordinary, card).mean() < 0.1
    db, blobs = _store(tmp_path, ordinary, ["real"] * 30)
    out = heads.retrain(db, blobs, tmp_path / "calibration", WEIGHTS, card, np.load, progress=False)
    assert not out.comparison.promoted
    assert any("held-out reviews" in r for r in out.comparison.reasons)
    db.dispose()


def test_too_few_reviewed_photos_say_how_many_more(tmp_path: Path, bundle: heads.Bundle) -> None:
    card = load_fusion()
    assert card is not None
    db, blobs = _store(
        tmp_path, _pictures(bundle, heads.MIN_REVIEWS - 3, 6.0, 3), ["real"] * (heads.MIN_REVIEWS - 3)
    )
    with pytest.raises(heads.FeedbackHeadError, match="3 more"):
        heads.retrain(db, blobs, tmp_path / "calibration", WEIGHTS, card, np.load, progress=False)
    db.dispose()


def test_the_scanner_reads_with_the_local_head_and_rollback_restores_the_bundled_one(
    tmp_path: Path, bundle: heads.Bundle
) -> None:
    from fakescope.analyzers.generated import GeneratedImageAnalyzer
    from fakescope.config import ScanSettings
    from fakescope.demo import no_face_photo, save_jpeg
    from fakescope.scan.scanner import Scanner

    if GeneratedImageAnalyzer().head is None:
        pytest.skip("needs the CLIP encoder (fakescope models install-clip)")
    card = load_fusion()
    assert card is not None
    shipped = heads.shipped_head(WEIGHTS)
    # a head that calls every picture generated: an intercept far up
    loud = {**shipped, "intercept": shipped["intercept"] + 40.0}
    local = versions.LocalCalibration(
        version=0,
        created="2030-01-01T00:00:00",
        base_fusion=card.version,
        fpr=0.05,
        kinds={},
        reviewers={},
        scans=[],
        heads={
            "generated": versions.LocalHead(
                head=loud,
                delta={"d": [], "b": 40.0},
                base_head_sha256=bundle.head_sha256,
                comparison={},
                reviewers={"k": 20},
                scans=[],
                created="2030-01-01T00:00:00",
            )
        },
    )
    folder = tmp_path / "calibration"
    photo = tmp_path / "photo.jpg"
    save_jpeg(no_face_photo(), photo)
    scanner = Scanner(ScanSettings(calibration_dir=folder))
    before = scanner.scan(photo)
    versions.save_new(folder, local)
    during = scanner.scan(photo)
    assert during.evidence["generated_image"] > 0.99 > before.evidence["generated_image"]
    assert any("generated head: retrained" in n for n in during.notes)
    assert not any("thresholds: local" in n for n in during.notes)  # it moved no threshold
    versions.rollback(folder)
    after = scanner.scan(photo)
    assert after.evidence["generated_image"] == pytest.approx(before.evidence["generated_image"], abs=1e-6)
    assert not any("local calibration" in n for n in after.notes)


def test_the_command_prints_the_comparison_keeps_it_and_a_dry_run_promotes_nothing(tmp_path: Path) -> None:
    import hashlib

    from click.testing import CliRunner

    from fakescope.analyzers.generated import GeneratedImageAnalyzer
    from fakescope.cli.main import main as cli
    from fakescope.demo import astronaut, no_face_photo, save_jpeg
    from fakescope.synth.degrade import beauty_filter

    if GeneratedImageAnalyzer().head is None:
        pytest.skip("needs the CLIP encoder (fakescope models install-clip)")
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data}/fakescope.db")
    data.mkdir()
    db.migrate()
    blobs = BlobStore(f"file://{data}/blobs")
    now = dt.datetime(2030, 1, 1)
    with db.write() as s:
        for k in range(heads.MIN_REVIEWS + 2):
            rgb = (astronaut() if k % 2 else no_face_photo())[k * 5 : 400 + k * 5, k * 7 : 400 + k * 7]
            path = tmp_path / f"p{k}.jpg"
            save_jpeg(beauty_filter(rgb), path, quality=85)
            key = f"scans/s{k:02d}/upload.jpg"
            blobs.put_bytes(key, path.read_bytes())
            s.add(
                Scan(
                    id=f"s{k:02d}",
                    created_at=now,
                    expires_at=now + dt.timedelta(days=9),
                    status="done",
                    filename=path.name,
                    size_bytes=path.stat().st_size,
                    sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                    media_type="image",
                    upload_key=key,
                    report="{}",
                )
            )
            s.add(
                Review(
                    scan_id=f"s{k:02d}",
                    reviewer_key_id=f"k{k % 3}",
                    label="real",
                    media_type="image",
                    created_at=now,
                    updated_at=now,
                )
            )
    db.dispose()
    run = CliRunner().invoke(
        cli, ["train", "generated-head", "--feedback", "--dry-run", "--data-dir", str(data)]
    )
    assert run.exit_code == 0, run.output
    assert f"{heads.MIN_REVIEWS + 2} reviewed photos ({heads.MIN_REVIEWS + 2} real, 0 fake)" in run.output
    assert "held-out reviews: mistakes" in run.output and "benchmark (" in run.output
    kept = list((data / "calibration" / "challengers").glob("generated-*.json"))
    assert len(kept) == 1 and "guard" in json.loads(kept[0].read_text())["comparison"]
    assert versions.versions(data / "calibration") == []  # a dry run promotes nothing
    empty = CliRunner().invoke(
        cli, ["train", "generated-head", "--feedback", "--data-dir", str(tmp_path / "new")]
    )
    assert empty.exit_code != 0 and f"a retrain needs {heads.MIN_REVIEWS}" in empty.output
