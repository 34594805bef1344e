"""Fusion rules against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from fakescope.analyzers.base import Evidence
from fakescope.fusion import MIN_EYE_DISTANCE_PX, calibrate, fuse
from fakescope.models.card import FusionParams


class _Face:
    name, version, card, needs_faces = "face", "0", None, True


class _Whole:
    name, version, card, needs_faces = "whole", "0", None, False


def test_image_score_is_the_max_over_faces_and_whole_image_evidence() -> None:
    res = [(_Face(), Evidence(score=0.8, face_scores=[0.2, 0.8])), (_Whole(), Evidence(score=0.6))]
    f = fuse(res, 2)
    assert f.score == pytest.approx(0.8) and f.verdict == "fake" and "face 2 of 2" in f.reason
    assert f.face_scores == [0.2, 0.8]


def test_band_gives_real_inconclusive_fake() -> None:
    for score, verdict in ((0.1, "real"), (0.5, "inconclusive"), (0.9, "fake")):
        assert fuse([(_Face(), Evidence(score=score, face_scores=[score]))], 1).verdict == verdict


def test_no_face_and_no_other_evidence() -> None:
    f = fuse([(_Face(), Evidence(score=None, face_scores=[]))], 0)
    assert f.verdict == "no_face" and f.score is None


def test_whole_image_evidence_alone_flags_but_never_clears_a_faceless_picture() -> None:
    flagged = fuse([(_Face(), Evidence(score=None, face_scores=[])), (_Whole(), Evidence(score=0.9))], 0)
    assert flagged.verdict == "fake" and flagged.score == pytest.approx(0.9)
    assert "no face" in flagged.reason
    quiet = fuse([(_Face(), Evidence(score=None, face_scores=[])), (_Whole(), Evidence(score=0.1))], 0)
    assert quiet.verdict == "no_face" and quiet.score is None


def test_calibration_and_thresholds_from_the_fusion_card() -> None:
    params = FusionParams(a=2.0, b=-1.0, threshold_fake=0.9, threshold_real=0.2)
    raw = 0.7
    z = 2.0 * math.log(raw / (1 - raw)) - 1.0
    assert calibrate(raw, params) == pytest.approx(1 / (1 + math.exp(-z)))
    assert calibrate(raw, None) == raw
    f = fuse([(_Face(), Evidence(score=raw, face_scores=[raw]))], 1, params=params)
    assert f.verdict == "inconclusive" and f.score == pytest.approx(calibrate(raw, params))


def test_a_tiny_face_cannot_clear_an_image() -> None:
    ev = [(_Face(), Evidence(score=0.05, face_scores=[0.05]))]
    small = fuse(ev, 1, eye_distances=[MIN_EYE_DISTANCE_PX - 5])
    big = fuse(ev, 1, eye_distances=[MIN_EYE_DISTANCE_PX + 20])
    assert small.verdict == "inconclusive" and "too small" in small.reason
    assert big.verdict == "real"


def test_models_dir_override_falls_back_to_bundled_models(tmp_path, monkeypatch) -> None:
    from fakescope.models import MODELS_ENV, WEIGHTS_DIR, models_dir

    (tmp_path / "face-forgery.card.json").write_text("{}")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    assert models_dir("face-forgery") == tmp_path
    assert models_dir("voice") == WEIGHTS_DIR
