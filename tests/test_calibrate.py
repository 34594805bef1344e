"""Local calibration from reviews (issue 30): thresholds fitted within their bounds, never
on too few labels; numbered versions, the current one applied by every scanner that is
given the folder, a rollback restoring the one before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fakescope.feedback import versions
from fakescope.feedback.calibrate import (
    BOUND_MANY,
    BOUND_ONE,
    MIN_FAKE,
    MIN_REAL,
    Labelled,
    cross_validated,
    fit,
    fit_kind,
)
from fakescope.models import load_fusion


def test_new_real_media_reach_the_fake_threshold_at_the_share_it_is_given() -> None:
    rng = np.random.default_rng(0)
    reached = []
    for _ in range(400):  # 50 reviewed real photos, then the deployment's next ones
        real = rng.beta(2, 5, 50)
        t = fit_kind(real, np.array([]), (0.01, 0.0), fpr=0.05, bound=1.0)
        reached.append((rng.beta(2, 5, 2000) >= t.threshold_fake).mean())
    assert 0.03 <= np.mean(reached) <= 0.05  # the sample's own 5 % would leave about 6 %
    real = np.linspace(0.0, 0.9, 100)
    t = fit_kind(real, np.array([0.95] * 10), (0.6, 0.4), fpr=0.05, bound=0.5)
    assert (real >= t.threshold_fake).sum() == 4  # floor(0.05 * 101) - 1
    assert t.threshold_real == pytest.approx(0.4 + t.threshold_fake - 0.6, abs=1e-3) and not t.bounded
    # the bound holds it: one reviewer may move it by BOUND_ONE only
    held = fit_kind(real, np.array([]), (0.6, 0.4), fpr=0.05, bound=BOUND_ONE)
    assert held.threshold_fake == pytest.approx(0.6 + BOUND_ONE, abs=1e-3) and held.bounded
    # down only with fake labels that say what a lower threshold catches
    low = np.full(40, 0.1)
    kept = fit_kind(low, np.array([]), (0.6, 0.4), fpr=0.05, bound=BOUND_ONE)
    assert kept.threshold_fake == 0.6 and kept.lower_needs_fakes and not kept.bounded
    lower = fit_kind(low, np.full(MIN_FAKE, 0.9), (0.6, 0.4), fpr=0.05, bound=BOUND_ONE)
    assert lower.threshold_fake == pytest.approx(0.6 - BOUND_ONE, abs=1e-3)


def _items(n_real: int, reviewers: list[str], score: float = 0.99) -> list[Labelled]:
    return [Labelled(f"s{i:03d}", "image", False, {"generated_image": score}, reviewers[i % len(reviewers)])
            for i in range(n_real)]


def test_too_few_labels_move_nothing_and_one_reviewer_moves_little() -> None:
    card = load_fusion()
    assert card is not None
    fitted, skipped = fit(_items(MIN_REAL - 1, ["a"]), card)
    assert fitted == {} and "1 more" in skipped["generated_image"]
    assert "0 reviewed real" in skipped["face_manipulation"]
    fitted, _ = fit(_items(MIN_REAL, ["a"]), card)
    before = card.generated.threshold_fake if card.generated else None
    assert fitted["generated_image"].bound == BOUND_ONE
    assert fitted["generated_image"].threshold_fake == pytest.approx(min(0.99, before + BOUND_ONE), abs=1e-3)
    fitted, _ = fit(_items(3 * MIN_REAL, ["a", "b", "c"]), card)
    assert fitted["generated_image"].bound == BOUND_MANY


def test_versions_the_watcher_and_rollback(tmp_path: Path) -> None:
    card = load_fusion()
    assert card is not None and card.local_edit is not None
    folder = tmp_path / "calibration"
    watcher = versions.Watcher(card, folder)
    assert watcher.card() is card and watcher.version is None
    fitted, _ = fit(_items(MIN_REAL, ["a"], 0.0) + [
        Labelled(f"e{i}", "image", False, {"local_edit": 0.99}, "a") for i in range(MIN_REAL)], card)
    local = versions.LocalCalibration(version=0, created="2030-01-01T00:00:00", base_fusion=card.version,
                                      fpr=0.05, kinds=fitted, reviewers={"a": 2 * MIN_REAL}, scans=[])
    v1 = versions.save_new(folder, local)
    assert v1.version == 1 and versions.current_version(folder) == 1
    assert watcher.card().local_edit.threshold_fake == fitted["local_edit"].threshold_fake != \
        card.local_edit.threshold_fake
    assert watcher.card().generated.threshold_fake == fitted["generated_image"].threshold_fake
    v2 = versions.save_new(folder, local.model_copy(update={"kinds": {"local_edit": fitted["local_edit"]}}))
    assert v2.version == 2 and versions.versions(folder) == [1, 2]
    assert watcher.card().generated.threshold_fake == card.generated.threshold_fake  # v2 leaves it
    assert versions.rollback(folder) == 1
    assert watcher.card().generated.threshold_fake == fitted["generated_image"].threshold_fake
    assert watcher.version == 1
    assert versions.rollback(folder) is None
    assert watcher.card() is card
    with pytest.raises(versions.CalibrationError):
        versions.rollback(folder)


def test_videos_are_calibrated_on_their_score_and_both_video_entries_move(tmp_path: Path) -> None:
    card = load_fusion()
    assert card is not None and card.video is not None
    reals = [Labelled(f"v{i:03d}", "video", False, {"video": 0.99}, ["a", "b", "c"][i % 3])
             for i in range(MIN_REAL)]
    photos = _items(MIN_REAL - 5, ["a"])  # too few photos: their kinds stay
    fitted, skipped = fit(reals + photos, card)
    assert set(fitted) == {"video"} and "5 more" in skipped["generated_image"]
    t = fitted["video"]
    assert t.before[0] == card.video.threshold_fake and t.threshold_fake > card.video.threshold_fake
    local = versions.LocalCalibration(version=0, created="2030-01-01T00:00:00", base_fusion=card.version,
                                      fpr=0.05, kinds=fitted, reviewers={"a": 7}, scans=[])
    applied = versions.apply(card, local)
    assert applied.video.threshold_fake == t.threshold_fake
    if card.video_faces is not None:
        assert applied.video_faces.threshold_fake == t.threshold_fake
    assert applied.generated == card.generated  # a photo kind it did not fit stays
    figures = cross_validated(reals + photos, card, 0.05)
    assert figures["video"]["real_labels"] == MIN_REAL and "false_alarms_after" in figures["video"]
    assert figures["image"]["real_labels"] == MIN_REAL - 5


def test_audio_is_calibrated_on_its_score_against_the_voice_band_and_scans_use_it(tmp_path: Path) -> None:
    from fakescope.config import ScanSettings
    from fakescope.demo_audio import speechlike, write_audio
    from fakescope.feedback.calibrate import audio_band
    from fakescope.models import load_card
    from fakescope.scan.scanner import Scanner

    card = load_fusion()
    assert card is not None
    lo, hi = load_card("voice").inconclusive_band
    assert audio_band() == (hi, lo)
    # a deployment's real calls the voice model reads as synthetic: 0.95 to 0.97
    reals = [Labelled(f"a{i:03d}", "audio", False, {"audio": 0.95 + 0.001 * i}, ["a", "b", "c"][i % 3])
             for i in range(MIN_REAL)]
    fitted, _ = fit(reals, card)
    t = fitted["audio"]
    assert t.before == (hi, lo) and t.threshold_fake == pytest.approx(0.95 + 0.001 * (MIN_REAL - 1) + 1e-4)
    assert versions.apply(card, versions.LocalCalibration(
        version=0, created="2030-01-01T00:00:00", base_fusion=card.version, fpr=0.05, kinds=fitted,
        reviewers={"a": 7}, scans=[])) == card  # nothing of the fusion card moves
    assert "false_alarms_after" in cross_validated(reals, card, 0.05)["audio"]

    folder = tmp_path / "calibration"
    clip = write_audio(tmp_path / "speech.wav", speechlike(4.0))
    scanner = Scanner(ScanSettings(calibration_dir=folder))
    before = scanner.scan(clip)
    assert before.score is not None and not any("local calibration" in n for n in before.notes)
    # a band around this clip's own score: the verdict follows the local thresholds
    s = before.score
    band = versions.KindThresholds(threshold_fake=round(min(s + 0.01, 1.0), 4),
                                   threshold_real=round(max(s - 0.01, 0), 4), before=(hi, lo),
                                   real_labels=MIN_REAL, fake_labels=0, bound=0.2, bounded=False)
    versions.save_new(folder, versions.LocalCalibration(
        version=0, created="2030-01-01T00:00:00", base_fusion=card.version, fpr=0.05, kinds={"audio": band},
        reviewers={"a": MIN_REAL}, scans=[]))
    during = scanner.scan(clip)
    assert during.verdict == "inconclusive" and f"{band.threshold_fake:.2f}" in during.reason
    assert any("thresholds: local calibration v1" in n for n in during.notes)
