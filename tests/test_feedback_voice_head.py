"""The voice model's head retrained from a deployment's reviews (issue 30, item 3): a
challenger fitted on reviewed audio files of a kind the head over-calls wins on held-out
reviews without losing the bundled benchmark and is promoted as a local calibration; one
that would not do better stays out; the analyzer reads audio files with a promoted head and
a rollback gives back the bundled reading exactly.

Reviewed files are given as their speech windows' hidden activations and shipped logits
(.npy uploads read by a stub), built from the bundle's own training files: the shipped
logit of a window is linear in its hidden activations (``w2 · h + b2``), and ``w2`` is
recovered from the bundle's replay sample, whose file logits are exactly that of their
mean ``h``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from fakescope.analyzers.voice import LocalVoiceHead, VoiceAnalyzer, trimmed_mean
from fakescope.feedback import heads, versions, voice_head
from fakescope.models import models_dir
from fakescope.store.blobs import BlobStore
from fakescope.store.database import Database
from fakescope.store.models import Review, Scan

WEIGHTS = models_dir("voice")
NOW = dt.datetime(2030, 1, 1)


@pytest.fixture(scope="module")
def bundle() -> voice_head.Bundle:
    return voice_head.load_bundle(WEIGHTS)


def _head_out(bundle: voice_head.Bundle) -> tuple[np.ndarray, float]:
    r = bundle.replay
    coef, *_ = np.linalg.lstsq(np.c_[r.z, np.ones(len(r.z))], r.logit, rcond=None)
    return coef[:-1], float(coef[-1])


def _files(bundle: voice_head.Bundle, n: int, shift: float, seed: int,
           right: bool = False) -> list[np.ndarray]:
    """Real audio files (2-13 speech windows each, as (windows, 129) arrays: ``h`` then the
    shipped logit), their windows drawn from the replay sample's real files and moved by
    ``shift`` logits of the shipped head along the directions the training files hardly
    vary in: what a channel the corpus never had does to a deployment's real speech.
    ``right``: only from real files the shipped head calls real."""
    w2, b2 = _head_out(bundle)
    r = bundle.replay
    reading = voice_head.reading_for(WEIGHTS, None)
    real = (r.label == 0) & ~(reading.calls_fake(r.logit) if right else np.zeros(len(r.label), bool))
    reals = r.z[real]
    _, vecs = np.linalg.eigh(np.cov(r.z.T))
    low = vecs[:, : vecs.shape[1] // 2]
    u = low @ (low.T @ w2)
    u /= np.linalg.norm(u)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h = reals[rng.integers(0, len(reals), int(rng.integers(2, 14)))]
        h = h + rng.normal(0, 0.05, h.shape) + shift / float(w2 @ u) * u
        out.append(np.c_[h, h @ w2 + b2])
    return out


def _store(tmp: Path, files: list[np.ndarray], labels: list[str]) -> tuple[Database, BlobStore]:
    """A service store holding reviewed audio scans whose uploads are the windows (.npy)."""
    db = Database(f"sqlite:///{tmp}/fakescope.db")
    db.migrate()
    blobs = BlobStore(f"file://{tmp}/blobs")
    with db.write() as s:
        for k, (windows, label) in enumerate(zip(files, labels, strict=True)):
            sid = f"a{k:03d}"
            local = tmp / f"{sid}.npy"
            np.save(local, windows)
            blobs.put_file(f"scans/{sid}/upload.npy", local)
            s.add(Scan(id=sid, created_at=NOW, expires_at=NOW + dt.timedelta(days=9), status="done",
                       filename=f"{sid}.npy", size_bytes=1, sha256="0" * 64, media_type="audio",
                       upload_key=f"scans/{sid}/upload.npy", report="{}"))
            s.add(Review(scan_id=sid, reviewer_key_id=f"k{k % 3}", label=label, media_type="audio",
                         created_at=NOW, updated_at=NOW))
    return db, blobs


def _readings(path: Path) -> tuple[np.ndarray, np.ndarray]:
    a = np.load(path)
    return a[:, :-1], a[:, -1]


def _calls(files: list[np.ndarray], head: heads.Delta) -> np.ndarray:
    reading = voice_head.reading_for(WEIGHTS, None)
    return reading.calls_fake(np.array([trimmed_mean(list(head.logits(f[:, :-1], f[:, -1]))) for f in files]))


def test_the_bundle_is_the_shipped_models_and_its_samples_are_disjoint_and_stratified() -> None:
    z = np.load(WEIGHTS / voice_head.BUNDLE_FILE)
    replay = {str(f).rsplit("@", 1)[0] for f in z["replay_file"]}
    guard = {str(f).rsplit("@", 1)[0] for f in z["guard_file"]}
    assert not replay & guard  # no clip in both
    assert set(z["replay_source"].tolist()) == set(z["guard_source"].tolist())
    for name in ("replay", "guard"):
        assert set(z[f"{name}_label"].tolist()) == {0, 1}
        assert z[f"{name}_windows"].max() <= 9  # the trimmed mean of a bundled file drops nothing
    assert (WEIGHTS / voice_head.BUNDLE_FILE).stat().st_size < 2_000_000


def test_the_runtime_hidden_activations_are_the_bundles(tmp_path: Path, bundle: voice_head.Bundle) -> None:
    """The analyzer's h (the added graph output) gives its shipped window logits through the
    output layer the bundle's files imply: the bundle's h and the runtime's are the same."""
    from fakescope.analyzers.base import AudioItem
    from fakescope.config import ScanSettings
    from fakescope.demo_audio import speechlike, write_audio
    from fakescope.media import decode, read_file
    from fakescope.media.audio import RATE

    settings = ScanSettings()
    path = write_audio(tmp_path / "v.wav", speechlike(6.0, seed=4))
    media = decode(read_file(path, settings.limits), settings.limits)
    item = AudioItem(media=media, chunks=lambda: media.chunks(RATE), rate=RATE, settings=settings)
    analyzer = VoiceAnalyzer()
    found = analyzer.head_readings(item)
    assert found is not None
    h, logits = found
    assert h.shape == (len(logits), bundle.hidden) and len(logits) >= 2
    w2, b2 = _head_out(bundle)
    assert np.allclose(h @ w2 + b2, logits, atol=1e-3)
    evidence = analyzer.analyze(item)
    assert evidence.details["logit"] == round(trimmed_mean(list(logits)), 4)


def test_a_challenger_on_over_called_real_audio_wins_and_is_kept_and_promoted(
    tmp_path: Path, bundle: voice_head.Bundle
) -> None:
    reviewed, new = _files(bundle, 40, 12.0, 0), _files(bundle, 200, 12.0, 1)
    zero = heads.Delta.zero(bundle.hidden)
    assert _calls(new, zero).mean() > 0.9  # the shipped head over-calls this deployment
    db, blobs = _store(tmp_path, reviewed, ["real"] * 40)
    folder = tmp_path / "calibration"
    out = voice_head.retrain(db, blobs, folder, WEIGHTS, _readings, progress=False)
    c = out.comparison
    assert c.promoted, c.reasons
    assert c.reviews_real == 40 and c.reviews_fake == 0 and out.files == 40
    assert c.reviews["challenger"].mistakes < c.reviews["champion"].mistakes
    assert c.guard["challenger"].auc >= c.guard["champion"].auc - heads.AUC_TOLERANCE
    assert c.guard["challenger"].detection >= c.guard["champion"].detection - heads.DETECTION_TOLERANCE
    assert out.challenger.reviewers == {"k0": 14, "k1": 13, "k2": 13}
    # the promoted head, as the analyzer applies it, no longer over-calls new files of the kind
    head = LocalVoiceHead.model_validate(out.challenger.head)
    assert head.base_sha256 == bundle.model_sha256
    assert _calls(new, heads.Delta(d=head.d, b=head.b)).mean() < 0.05
    kept = voice_head.keep(tmp_path / "calibration", out)
    assert kept.name.startswith("voice-") and json.loads(kept.read_text())["comparison"]["promoted"] is True
    saved = versions.save_new(folder, out.calibration)
    current = versions.load(folder, saved.version)
    assert current.heads["voice"].scans == out.challenger.scans
    assert versions.note_for(saved.version, current) == [
        f"voice head: retrained on this deployment's reviews (local calibration v{saved.version})"
    ]
    # the next challenger is compared with this one, not with the bundled head
    again = voice_head.retrain(db, blobs, folder, WEIGHTS, _readings, progress=False)
    assert again.comparison.reviews["champion"].mistakes == 0 and not again.comparison.promoted
    db.dispose()


def test_reviews_the_head_in_use_already_gets_right_teach_nothing(
    tmp_path: Path, bundle: voice_head.Bundle
) -> None:
    ordinary = _files(bundle, 30, 0.0, 2, right=True)
    assert _calls(ordinary, heads.Delta.zero(bundle.hidden)).mean() == 0
    db, blobs = _store(tmp_path, ordinary, ["real"] * 30)
    out = voice_head.retrain(db, blobs, tmp_path / "calibration", WEIGHTS, _readings, progress=False)
    assert not out.comparison.promoted
    assert any("held-out reviews" in r for r in out.comparison.reasons)
    db.dispose()


def test_too_few_reviewed_audio_files_say_how_many_more(tmp_path: Path, bundle: voice_head.Bundle) -> None:
    n = heads.MIN_REVIEWS - 3
    db, blobs = _store(tmp_path, _files(bundle, n, 12.0, 3), ["real"] * n)
    with pytest.raises(heads.FeedbackHeadError, match="3 more"):
        voice_head.retrain(db, blobs, tmp_path / "calibration", WEIGHTS, _readings, progress=False)
    db.dispose()


def test_the_scanner_reads_audio_with_the_local_head_and_rollback_restores_the_bundled_one(
    tmp_path: Path, bundle: voice_head.Bundle
) -> None:
    from fakescope.analyzers.base import AudioItem
    from fakescope.config import ScanSettings
    from fakescope.demo_audio import speechlike, write_audio
    from fakescope.media import decode, read_file
    from fakescope.media.audio import RATE
    from fakescope.scan.scanner import Scanner

    path = write_audio(tmp_path / "voice.wav", speechlike(8.0, seed=11))
    scanner = Scanner(ScanSettings(analyzers=["voice"], calibration_dir=tmp_path / "calibration"))
    before = scanner.scan(path)
    assert before.score is not None
    d = np.random.default_rng(0).normal(0, 0.02, bundle.hidden)
    head = LocalVoiceHead(d=d.tolist(), b=-6.0, base_sha256=bundle.model_sha256)
    local = versions.LocalCalibration(
        version=0, created=NOW, base_fusion="", fpr=0.05, kinds={}, reviewers={}, scans=[],
        heads={"voice": versions.LocalHead(head=head.model_dump(), delta={"d": head.d, "b": head.b},
                                           base_head_sha256=bundle.model_sha256, comparison={},
                                           reviewers={"k": 20}, scans=[], created=NOW)})
    saved = versions.save_new(tmp_path / "calibration", local)
    during = scanner.scan(path)
    assert during.score is not None and during.score < before.score  # moved towards real
    voice = next(a for a in during.analyzers if a.name == "voice")
    assert voice.details["head"] == f"local calibration v{saved.version}"
    note = f"voice head: retrained on this deployment's reviews (local calibration v{saved.version})"
    assert note in during.notes
    # each window moved by h · d + b, through the analyzer's own window path
    settings = ScanSettings()
    media = decode(read_file(path, settings.limits), settings.limits)
    item = AudioItem(media=media, chunks=lambda: media.chunks(RATE), rate=RATE, settings=settings)
    analyzer = next(a for a in scanner.analyzers if a.name == "voice")
    found = analyzer.head_readings(item)  # type: ignore[attr-defined]
    assert found is not None
    h, logits = found
    assert voice.details["logit"] == pytest.approx(trimmed_mean(list(logits + h @ d - 6.0)), abs=1e-4)
    # a video's soundtrack keeps the bundled reading
    track = AudioItem(media=object(), chunks=lambda: media.chunks(RATE), rate=RATE, settings=settings)
    assert analyzer.analyze(track).score == before.score  # type: ignore[attr-defined]
    versions.rollback(tmp_path / "calibration")
    after = scanner.scan(path)
    assert after.score == before.score
    assert [s.model_dump() for s in after.segments] == [s.model_dump() for s in before.segments]
    assert [a.details for a in after.analyzers] == [a.details for a in before.analyzers]
    assert not any("local calibration" in n for n in after.notes)


def test_a_head_for_another_voice_model_is_refused() -> None:
    from fakescope.errors import ModelError

    analyzer = VoiceAnalyzer()
    with pytest.raises(ModelError, match="another voice model"):
        analyzer.use_local_head(LocalVoiceHead(d=[0.0] * 128, b=0.0, base_sha256="0" * 64).model_dump(), "v9")
    with pytest.raises(ModelError, match="not a voice head"):
        analyzer.use_local_head({"coef": []}, "v9")


def test_the_command_prints_the_comparison_keeps_it_and_a_dry_run_promotes_nothing(tmp_path: Path) -> None:
    import hashlib

    from click.testing import CliRunner

    from fakescope.cli.main import main as cli
    from fakescope.demo_audio import speechlike, write_audio

    data = tmp_path / "data"
    data.mkdir()
    db = Database(f"sqlite:///{data}/fakescope.db")
    db.migrate()
    blobs = BlobStore(f"file://{data}/blobs")
    n = heads.MIN_REVIEWS + 2
    with db.write() as s:
        for k in range(n):
            path = write_audio(tmp_path / f"v{k}.wav", speechlike(3.0, seed=k, f0=110.0 + 5 * k))
            key = f"scans/a{k:02d}/upload.wav"
            blobs.put_bytes(key, path.read_bytes())
            s.add(Scan(id=f"a{k:02d}", created_at=NOW, expires_at=NOW + dt.timedelta(days=9), status="done",
                       filename=path.name, size_bytes=path.stat().st_size,
                       sha256=hashlib.sha256(path.read_bytes()).hexdigest(), media_type="audio",
                       upload_key=key, report="{}"))
            s.add(Review(scan_id=f"a{k:02d}", reviewer_key_id=f"k{k % 3}", label="real", media_type="audio",
                         created_at=NOW, updated_at=NOW))
    db.dispose()
    run = CliRunner().invoke(cli, ["train", "voice-head", "--feedback", "--dry-run", "--data-dir", str(data)])
    assert run.exit_code == 0, run.output
    assert f"{n} reviewed audio files ({n} real, 0 fake)" in run.output
    assert "held-out reviews: mistakes" in run.output and "benchmark (" in run.output
    kept = list((data / "calibration" / "challengers").glob("voice-*.json"))
    assert len(kept) == 1 and "guard" in json.loads(kept[0].read_text())["comparison"]
    assert versions.versions(data / "calibration") == []  # a dry run promotes nothing
    new = tmp_path / "new"
    empty = CliRunner().invoke(cli, ["train", "voice-head", "--feedback", "--data-dir", str(new)])
    assert empty.exit_code != 0 and f"a retrain needs {heads.MIN_REVIEWS}" in empty.output
