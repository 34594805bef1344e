"""still-picture: a photograph moved across the frame is told from a live face, and its
timing then counts neither way (issue 28)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fakescope.analyzers.base import Evidence
from fakescope.analyzers.still_picture import STILL_BELOW, is_still
from fakescope.faces.landmark_series import RigidChange


def _textured(seed: int = 0, side: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (side, side)).astype(np.float32), (0, 0), 3)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    return np.repeat(base[:, :, None], 3, axis=2).astype(np.uint8)


def _frames(n: int, live: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """A textured "face" moved by a similarity (as a photo slid across the frame); with
    ``live`` its lower third is redrawn every frame as a speaking mouth would be."""
    face = _textured()
    out = []
    for t in range(n):
        img = face.copy()
        if live:
            img[130:190, 40:160] = _textured(seed=t + 1, side=200)[:60, :120]
        m = cv2.getRotationMatrix2D((100, 100), 3 * np.sin(t / 5), 1 + 0.05 * np.sin(t / 7))
        m[:, 2] += [100 + 20 * np.sin(t / 9), 60 + 10 * np.sin(t / 4)]
        frame = cv2.warpAffine(img, m, (400, 320), borderMode=cv2.BORDER_REPLICATE)
        corners = np.array([[0, 0], [200, 0], [0, 200], [200, 200]], np.float32)
        placed = corners @ m[:, :2].T + m[:, 2]
        mesh = np.repeat(placed, 120, axis=0)[:478].astype(np.float32)
        out.append((frame, mesh))
    return out


@pytest.mark.parametrize("live", [False, True])
def test_rigid_change_separates_a_moved_picture_from_a_changing_face(live: bool) -> None:
    change = RigidChange(lag=12)
    vals = np.array([change(f, m) for f, m in _frames(60, live)])
    assert np.isnan(vals[:12]).all() and np.isfinite(vals[12:]).all()
    assert is_still(vals) is (not live)
    if live:
        assert np.percentile(vals[12:], 90) > 3 * STILL_BELOW
    else:
        assert np.percentile(vals[12:], 90) < 0.7 * STILL_BELOW


def test_too_few_comparisons_never_call_a_face_still() -> None:
    assert not is_still(np.full(5, 0.001))
    assert not is_still(None)
    assert is_still(np.full(20, 0.001))


def test_a_still_face_keeps_its_timing_out_of_the_verdict() -> None:
    from fakescope.faces.tracking import Track, TrackPoint
    from fakescope.scan.video import _fuse_video

    face = SimpleNamespace(box=np.array([0.0, 0.0, 10.0, 10.0]))
    track = Track(0, [TrackPoint(i, float(i), face, np.zeros(4), score=0.05)  # type: ignore[arg-type]
                      for i in range(10)])
    scanner = SimpleNamespace(fusion=None, band=(0.35, 0.65))

    def clip(still: bool) -> list:
        return [(SimpleNamespace(name="blink"), Evidence(score=0.9)),
                (SimpleNamespace(name="still-picture"), Evidence(score=None, details={"still": still}))]

    _, moving = _fuse_video([track], clip(False), scanner)  # type: ignore[arg-type]
    assert moving.score == pytest.approx(0.9) and moving.verdict == "fake"
    tracks, still = _fuse_video([track], clip(True), scanner)  # type: ignore[arg-type]
    assert still.score == pytest.approx(0.05) and still.verdict == "real"
    assert "still picture" in still.reason and tracks[0].frame_score == pytest.approx(0.05)


def test_a_slid_portrait_is_still_and_a_speaking_one_is_not(tmp_path: Path) -> None:
    from fakescope.demo import talking_clip
    from fakescope.scan.scanner import Scanner

    scanner = Scanner()
    found = {}
    for still in (True, False):
        path = talking_clip(tmp_path / f"{still}.mp4", seconds=4, blinks=(1.5, 3.0), audio_shift_s=None,
                            still=still)
        report = scanner.scan(path)
        sp = next(a for a in report.analyzers if a.name == "still-picture")
        found[still] = sp.details
        track = report.tracks[0]
        assert ("clip-model" in track.evidence) is (not still and scanner.fusion.video_model is not None)
        assert ("still picture" in report.reason) is still
    assert found[True]["still"] is True and found[False]["still"] is False
    assert found[True]["residual"] < STILL_BELOW < found[False]["residual"]


def test_a_face_cut_off_by_the_window_or_a_jump_of_facemesh_is_not_compared() -> None:
    frames = _frames(30, live=False)
    change = RigidChange(lag=3)
    vals = [change(f, m) for f, m in frames[:10]]
    assert np.isfinite(vals[3:]).all()
    # FaceMesh jumps to another region (half the size, elsewhere): a new chain starts.
    f, m = frames[10]
    small = (m - m.mean(axis=0)) * 0.5 + m.mean(axis=0) + 60
    assert np.isnan([change(f, small) for _ in range(3)]).all()
    # A face whose compared part leaves the image is not measured.
    off = m + np.array([300.0, 0.0], np.float32)
    assert np.isnan(change(f, off))
