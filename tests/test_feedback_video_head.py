"""The appearance head (what the video clip model reads) retrained from a deployment's reviewed
videos (issue 30, item 3): a challenger fitted on real clips the head over-calls wins on
held-out reviews without losing the bundled benchmark and is promoted as a local calibration
that scanners read; one that would not do better is kept out; a reviewed video is judged as
its scan would have been with another appearance logit."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fakescope.analyzers.appearance import HEAD_FILE, Head
from fakescope.analyzers.base import Evidence
from fakescope.faces.tracking import Track, TrackPoint
from fakescope.faces.types import Face
from fakescope.feedback import heads, versions
from fakescope.feedback import video_head as vh
from fakescope.models import load_fusion
from fakescope.models.card import FusionCard
from fakescope.scan.video import _fuse_video
from fakescope.store.blobs import BlobStore
from fakescope.store.database import Database
from fakescope.store.models import Review, Scan

WEIGHTS = HEAD_FILE.parent


@pytest.fixture(scope="module")
def bundle() -> vh.Bundle:
    return vh.load_bundle(WEIGHTS)


@pytest.fixture(scope="module")
def card() -> FusionCard:
    card = load_fusion()
    assert card is not None and card.video_model is not None
    return card


def _clips(bundle: vh.Bundle, n: int, shift: float, seed: int) -> np.ndarray:
    """The head's inputs of real clips (replay reals, jittered), moved by ``shift`` logits of
    the shipped head along an input it weighs but on which generated and real clips hardly
    differ: what a deployment's own kind of camera footage does to the head."""
    coef = np.asarray(vh.shipped_head(WEIGHTS)["coef"])
    r = bundle.replay
    rng = np.random.default_rng(seed)
    reals = r.z[r.label == 0]
    z = reals[rng.integers(0, len(reals), n)] + rng.normal(0, 0.05, (n, bundle.inputs))
    zr, zf = r.z[r.label == 0], r.z[r.label == 1]
    separation = np.abs(zf.mean(0) - zr.mean(0)) / np.r_[zr, zf].std(0)
    weighed = np.argsort(-np.abs(coef))[:12]
    j = weighed[np.argmin(separation[weighed])]
    z[:, j] += shift / coef[j]
    return z


def _report(logit: float, card: FusionCard, face: float = 0.1) -> str:
    """A stored report as a scan writes it: one person followed, the clip model beside their face."""
    model = card.video_model
    assert model is not None
    clip_p = float(1 / (1 + np.exp(-model.logit({"appearance.logit": logit}))))
    gated = face if model.face_gate is None or face >= model.face_gate else 0.0
    params = card.video
    assert params is not None
    p = min(max(max(gated, clip_p), 1e-6), 1 - 1e-6)
    score = 1 / (1 + np.exp(-(params.a * np.log(p / (1 - p)) + params.b)))
    return json.dumps({
        "verdict": "fake" if score >= params.threshold_fake else "real",
        "decided_by": "temporal" if clip_p > gated else "face_manipulation",
        "analyzers": [{"name": "appearance", "score": round(float(1 / (1 + np.exp(-logit))), 4),
                       "details": {"logit": round(logit, 4), "frames": 8}}],
        "tracks": [{"id": 0, "frames": 8, "counted": True, "score": round(max(gated, clip_p), 4),
                    "frame_score": face, "evidence": {"clip-model": round(clip_p, 4)}}],
    })


def _store(tmp: Path, z: np.ndarray, labels: list[str], card: FusionCard,
           logits: np.ndarray | None = None) -> tuple[Database, BlobStore]:
    """A service store holding reviewed video scans whose uploads are the head's inputs (.npy)
    and whose reports were written with ``logits`` (by default the shipped head's)."""
    db = Database(f"sqlite:///{tmp}/fakescope.db")
    db.migrate()
    blobs = BlobStore(f"file://{tmp}/blobs")
    now = dt.datetime(2030, 1, 1)
    if logits is None:
        logits = vh.shipped_logit(vh.shipped_head(WEIGHTS), z)
    with db.write() as s:
        for k, (row, label, logit) in enumerate(zip(z, labels, logits, strict=True)):
            sid = f"v{k:03d}"
            local = tmp / f"{sid}.npy"
            np.save(local, row)
            blobs.put_file(f"scans/{sid}/upload.npy", local)
            s.add(Scan(id=sid, created_at=now, expires_at=now + dt.timedelta(days=9), status="done",
                       filename=f"{sid}.npy", size_bytes=1, sha256="0" * 64, media_type="video",
                       upload_key=f"scans/{sid}/upload.npy", report=_report(float(logit), card)))
            s.add(Review(scan_id=sid, reviewer_key_id=f"k{k % 3}", label=label, media_type="video",
                         created_at=now, updated_at=now))
    return db, blobs


def _calls(z: np.ndarray, head: dict, card: FusionCard) -> np.ndarray:
    """Whether a clip judged by the clip model (a face below the gate) is called fake."""
    return vh.ClipReading.of(card).calls_fake(vh.shipped_logit(head, z))


def test_the_bundle_matches_the_shipped_head(bundle: vh.Bundle) -> None:
    shipped = vh.shipped_head(WEIGHTS)
    assert bundle.inputs == len(shipped["coef"]) == 37
    for s in (bundle.replay, bundle.guard):
        assert np.allclose(vh.shipped_logit(shipped, s.z), s.logit, atol=1e-4)
        assert {0, 1} <= set(s.label.tolist())
    # disjoint halves of the training clips, each source group on both sides where it can be
    assert len(bundle.replay.label) + len(bundle.guard.label) == 615
    assert abs(len(bundle.replay.label) - len(bundle.guard.label)) <= 1
    replay = {tuple(np.round(r, 5)) for r in bundle.replay.z}
    assert not replay & {tuple(np.round(g, 5)) for g in bundle.guard.z}


def test_a_reviewed_video_is_judged_as_its_scan_would_have_been(card: FusionCard) -> None:
    """Known truth: the video pipeline's own fusion (scan.video._fuse_video) on the same
    people and appearance logit, against what is read back from its report."""
    reading = vh.ClipReading.of(card)
    scanner = SimpleNamespace(fusion=card, band=(0.35, 0.65))

    def track(i: int, face: float, seen: int) -> Track:
        f = Face(np.array([0, 0, 50, 50], float), 1.0, np.zeros((5, 2)))
        points = [TrackPoint(k, float(k), f, np.zeros(1), score=face) for k in range(seen)]
        return Track(i, points, seen)

    people = {  # (face score, frames seen) per person; the first is the one followed
        "a face below the gate": [(0.2, 20)],
        "a face at the gate": [(0.97, 20)],
        "another person counted, sure": [(0.1, 20), (0.96, 10)],
        "another person too brief to count": [(0.1, 20), (0.99, 1)],
    }
    at = reading.logit_at_threshold()
    for what, spec in people.items():
        for logit in (at - 3, at - 1e-3, at + 1e-3, at + 3):
            tracks = [track(i, face, seen) for i, (face, seen) in enumerate(spec)]
            ev = Evidence(score=float(1 / (1 + np.exp(-logit))), details={"logit": logit})
            out, fused = _fuse_video(tracks, [(SimpleNamespace(name="appearance"), ev)], scanner,  # type: ignore[arg-type, list-item]
                                     frames_analysed=20, main=tracks[0])
            analyzers = [{"name": "appearance", "score": ev.score, "details": ev.details}]
            report = json.dumps({"verdict": fused.verdict, "decided_by": fused.decided_by,
                                 "analyzers": analyzers, "tracks": [t.model_dump() for t in out]})
            judge = vh.ReviewJudge([vh.judged(report, reading)], reading)
            assert bool(judge.calls_fake(np.array([logit]))[0]) == (fused.verdict == "fake"), (what, logit)
            # what another head would give: the same pipeline with its logit
            other = at + 3 if logit < at else at - 3
            tracks = [track(i, face, seen) for i, (face, seen) in enumerate(spec)]
            ev2 = Evidence(score=0.5, details={"logit": other})
            _, fused2 = _fuse_video(tracks, [(SimpleNamespace(name="appearance"), ev2)], scanner,  # type: ignore[arg-type, list-item]
                                    frames_analysed=20, main=tracks[0])
            assert bool(judge.calls_fake(np.array([other]))[0]) == (fused2.verdict == "fake"), (what, other)
    # a verdict the head took no part in stays what it was
    followed = json.loads(_report(5.0, card))["tracks"]
    fixed = [({"verdict": "fake", "decided_by": "provenance", "tracks": []}, True),
             ({"verdict": "real", "decided_by": "provenance", "tracks": followed}, False),
             ({"verdict": "no_face", "tracks": []}, False), ({}, False)]
    for report, called in fixed:
        judge = vh.ReviewJudge([vh.judged(json.dumps(report), reading)], reading)
        assert [bool(judge.calls_fake(np.array([x]))[0]) for x in (-20.0, 20.0)] == [called, called]


def test_a_challenger_on_over_called_real_clips_wins_and_is_kept_and_promoted(
    tmp_path: Path, bundle: vh.Bundle, card: FusionCard
) -> None:
    shipped = vh.shipped_head(WEIGHTS)
    reviewed, new = _clips(bundle, 40, 5.0, 0), _clips(bundle, 200, 5.0, 1)
    assert _calls(new, shipped, card).mean() > 0.5  # the head over-calls this deployment's clips
    db, blobs = _store(tmp_path, reviewed, ["real"] * 40, card)
    folder = tmp_path / "calibration"
    out = vh.retrain(db, blobs, folder, WEIGHTS, card, np.load, progress=False)
    c = out.comparison
    assert c.promoted, c.reasons
    assert c.reviews_real == 40 and c.reviews_fake == 0
    assert c.reviews["challenger"].mistakes < c.reviews["champion"].mistakes
    assert c.reviews["champion"].mistakes == int(_calls(reviewed, shipped, card).sum())
    assert c.guard["challenger"].auc >= c.guard["champion"].auc - heads.AUC_TOLERANCE
    g = bundle.guard.label
    assert c.guard_size == {"real": int((g == 0).sum()), "fake": int((g == 1).sum())}
    assert out.challenger.reviewers == {"k0": 14, "k1": 13, "k2": 13}
    # the promoted head, as the analyzer reads it, no longer over-calls new clips of the kind
    head = out.challenger.head
    assert _calls(new, head, card).mean() < 0.1
    local, bundled = Head.from_dict(head, "v1"), Head.load()
    assert local.reads_like(bundled)
    assert np.allclose(new @ local.coef + local.intercept, vh.shipped_logit(head, new), atol=1e-3)
    # its folded coefficients give the logits the comparison used
    delta = heads.Delta.model_validate(out.challenger.delta)
    moved = delta.logits(new, vh.shipped_logit(shipped, new))
    assert np.allclose(vh.shipped_logit(head, new), moved, atol=1e-6)
    kept = vh.keep(folder, out)
    assert kept.name.startswith("appearance-")
    assert json.loads(kept.read_text())["comparison"]["promoted"] is True
    saved = versions.save_new(folder, out.calibration)
    watcher = versions.Watcher(card, folder)
    watcher.card()
    assert watcher.local is not None and watcher.local.heads["appearance"].scans == out.challenger.scans
    assert versions.note_for(saved.version, watcher.local) == [
        f"appearance head: retrained on this deployment's reviews (local calibration v{saved.version})"
    ]
    # the next challenger is compared with this one, not with the bundled head
    again = vh.retrain(db, blobs, folder, WEIGHTS, card, np.load, progress=False)
    assert again.comparison.reviews["champion"].mistakes == 0 and not again.comparison.promoted
    db.dispose()


def test_reviews_the_head_in_use_already_gets_right_teach_nothing(
    tmp_path: Path, bundle: vh.Bundle, card: FusionCard
) -> None:
    ordinary = _clips(bundle, 30, 0.0, 2)
    ordinary = ordinary[~_calls(ordinary, vh.shipped_head(WEIGHTS), card)][:24]
    assert len(ordinary) == 24
    db, blobs = _store(tmp_path, ordinary, ["real"] * 24, card)
    out = vh.retrain(db, blobs, tmp_path / "calibration", WEIGHTS, card, np.load, progress=False)
    assert out.comparison.reviews["champion"].mistakes == 0
    assert not out.comparison.promoted
    assert any("held-out reviews" in r for r in out.comparison.reasons)
    db.dispose()


def test_too_few_reviewed_videos_say_how_many_more(
    tmp_path: Path, bundle: vh.Bundle, card: FusionCard
) -> None:
    n = heads.MIN_REVIEWS - 3
    db, blobs = _store(tmp_path, _clips(bundle, n, 5.0, 3), ["real"] * n, card)
    with pytest.raises(heads.FeedbackHeadError, match="3 more"):
        vh.retrain(db, blobs, tmp_path / "calibration", WEIGHTS, card, np.load, progress=False)
    db.dispose()


def test_the_analyzer_reads_with_the_local_head_and_rollback_restores_the_bundled_one(
    tmp_path: Path, bundle: vh.Bundle, card: FusionCard
) -> None:
    from fakescope.analyzers.appearance import AppearanceAnalyzer
    from fakescope.config import ScanSettings
    from fakescope.demo import talking_clip
    from fakescope.scan.scanner import Scanner

    if AppearanceAnalyzer().head is None:
        pytest.skip("needs the CLIP encoder (fakescope models install-clip)")
    shipped = vh.shipped_head(WEIGHTS)
    # a head that calls every clip generated: an intercept far up
    loud = vh.head_with(shipped, heads.Delta(d=[0.0] * bundle.inputs, b=40.0))
    local = versions.LocalCalibration(
        version=0, created="2030-01-01T00:00:00", base_fusion=card.version, fpr=0.05, kinds={},
        reviewers={}, scans=[],
        heads={"appearance": versions.LocalHead(
            head=loud, delta={"d": [0.0] * bundle.inputs, "b": 40.0}, base_head_sha256=bundle.head_sha256,
            comparison={}, reviewers={"k": 20}, scans=[], created="2030-01-01T00:00:00")},
    )
    folder = tmp_path / "calibration"
    clip = talking_clip(tmp_path / "c.mp4", seconds=2, audio_shift_s=None)
    scanner = Scanner(ScanSettings(analyzers=["face-forgery", "appearance"], calibration_dir=folder))

    def appearance(report: object) -> dict:
        a = next(x for x in report.analyzers if x.name == "appearance")  # type: ignore[attr-defined]
        assert a.error is None and a.score is not None
        return {"score": a.score, **a.details}

    before = appearance(scanner.scan(clip))
    versions.save_new(folder, local)
    during_report = scanner.scan(clip)
    during = appearance(during_report)
    assert during["score"] == 1.0 and during["logit"] == pytest.approx(before["logit"] + 40.0, abs=1e-2)
    assert during["head"] == "local calibration v1" and "head" not in before
    clip_model = next(t for t in during_report.tracks if "clip-model" in t.evidence).evidence["clip-model"]
    assert clip_model > 0.99  # the clip model reads the local head's logit
    versions.rollback(folder)
    after = appearance(scanner.scan(clip))
    assert after["logit"] == pytest.approx(before["logit"], abs=1e-6) and "head" not in after
    # a head for another reading is refused, in words
    other = {**shipped, "scale": [2 * v for v in shipped["scale"]]}
    with pytest.raises(Exception, match="another reading"):
        next(a for a in scanner.analyzers if a.name == "appearance").use_local_head(other, "v9")  # type: ignore[attr-defined]


def test_the_command_prints_the_comparison_keeps_it_and_a_dry_run_promotes_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fakescope.analyzers.appearance import AppearanceAnalyzer
    from fakescope.cli.main import main as cli
    from fakescope.demo import talking_clip

    bare = CliRunner().invoke(cli, ["train", "video-head"])
    assert bare.exit_code != 0 and "video_clip_embed.py fit" in bare.output
    if AppearanceAnalyzer().head is None:
        pytest.skip("needs the CLIP encoder (fakescope models install-clip)")
    clip = talking_clip(tmp_path / "c.mp4", seconds=2, audio_shift_s=None).read_bytes()
    data = tmp_path / "data"
    data.mkdir()
    db = Database(f"sqlite:///{data}/fakescope.db")
    db.migrate()
    blobs = BlobStore(f"file://{data}/blobs")
    now = dt.datetime(2030, 1, 1)
    n = heads.MIN_REVIEWS + 2
    with db.write() as s:
        for k in range(n):
            key = f"scans/s{k:02d}/upload.mp4"
            if k:  # the first upload is gone (retention): left out, and said so
                blobs.put_bytes(key, clip)
            s.add(Scan(id=f"s{k:02d}", created_at=now, expires_at=now + dt.timedelta(days=9), status="done",
                       filename="c.mp4", size_bytes=len(clip), sha256="0" * 64, media_type="video",
                       upload_key=key, report="{}"))
            s.add(Review(scan_id=f"s{k:02d}", reviewer_key_id="k", label="real", media_type="video",
                         created_at=now, updated_at=now))
    db.dispose()
    run = CliRunner().invoke(cli, ["train", "video-head", "--feedback", "--dry-run", "--data-dir", str(data)])
    assert run.exit_code == 0, run.output
    assert f"{n - 1} reviewed videos ({n - 1} real, 0 fake); 1 left out: upload no longer kept" in run.output
    assert "held-out reviews: mistakes" in run.output and "real videos called fake" in run.output
    assert "benchmark (145 generated, 162 real clips)" in run.output
    kept = list((data / "calibration" / "challengers").glob("appearance-*.json"))
    assert len(kept) == 1 and "guard" in json.loads(kept[0].read_text())["comparison"]
    assert versions.versions(data / "calibration") == []  # a dry run promotes nothing
    empty = CliRunner().invoke(
        cli, ["train", "video-head", "--feedback", "--data-dir", str(tmp_path / "new")]
    )
    assert empty.exit_code != 0 and f"a retrain needs {heads.MIN_REVIEWS}" in empty.output
