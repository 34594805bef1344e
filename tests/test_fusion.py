"""Fusion rules against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fakescope.analyzers.base import Evidence
from fakescope.faces.types import Face
from fakescope.fusion import FACE, GENERATED, calibrate, fuse
from fakescope.models.card import FusionCard, FusionParams


class _Face:
    name, version, card, needs_faces = "face", "0", None, True


class _Whole:
    name, version, card, needs_faces = "whole", "0", None, False


def _card(face: FusionParams, generated: FusionParams) -> FusionCard:
    return FusionCard(version="t", image=face, generated=generated, command="test", created="2026-01-01")


def test_image_score_is_the_max_over_faces_and_whole_image_evidence() -> None:
    res = [(_Face(), Evidence(score=0.8, face_scores=[0.2, 0.8])), (_Whole(), Evidence(score=0.6))]
    f = fuse(res, 2)
    assert f.score == pytest.approx(0.8) and f.verdict == "fake" and "face 2 of 2" in f.reason
    assert f.face_scores == [0.2, 0.8]
    assert f.decided_by == FACE and f.evidence == {FACE: 0.8, GENERATED: 0.6}


def test_band_gives_real_inconclusive_fake() -> None:
    for score, verdict in ((0.1, "real"), (0.5, "inconclusive"), (0.9, "fake")):
        assert fuse([(_Face(), Evidence(score=score, face_scores=[score]))], 1).verdict == verdict


def test_no_face_only_when_nothing_could_judge() -> None:
    f = fuse([(_Face(), Evidence(score=None, face_scores=[]))], 0)
    assert f.verdict == "no_face" and f.score is None and f.decided_by is None
    unjudged = fuse([(_Face(), Evidence(score=None, face_scores=[None]))], 1)
    assert unjudged.verdict == "inconclusive" and unjudged.score is None


def test_a_faceless_picture_is_judged_by_the_whole_image_evidence() -> None:
    flagged = fuse([(_Face(), Evidence(score=None, face_scores=[])), (_Whole(), Evidence(score=0.9))], 0)
    assert flagged.verdict == "fake" and flagged.score == pytest.approx(0.9)
    assert flagged.decided_by == GENERATED and "generated-image" in flagged.reason
    quiet = fuse([(_Face(), Evidence(score=None, face_scores=[])), (_Whole(), Evidence(score=0.1))], 0)
    assert quiet.verdict == "real" and quiet.score == pytest.approx(0.1)
    assert quiet.decided_by == GENERATED and "no face to judge" in quiet.reason


def test_each_kind_has_its_own_thresholds() -> None:
    card = _card(FusionParams(threshold_fake=0.9, threshold_real=0.2),
                 FusionParams(threshold_fake=0.6, threshold_real=0.3))
    # 0.7 from a face is inconclusive; the same 0.7 from the whole picture is fake.
    face = fuse([(_Face(), Evidence(score=0.7, face_scores=[0.7])), (_Whole(), Evidence(score=0.1))], 1,
                card=card)
    assert face.verdict == "inconclusive" and face.decided_by == FACE
    whole = fuse([(_Face(), Evidence(score=0.1, face_scores=[0.1])), (_Whole(), Evidence(score=0.7))], 1,
                 card=card)
    assert whole.verdict == "fake" and whole.decided_by == GENERATED and whole.score == pytest.approx(0.7)
    # Real only when every kind is below its real threshold.
    both = fuse([(_Face(), Evidence(score=0.1, face_scores=[0.1])), (_Whole(), Evidence(score=0.25))], 1,
                card=card)
    assert both.verdict == "real"
    doubt = fuse([(_Face(), Evidence(score=0.1, face_scores=[0.1])), (_Whole(), Evidence(score=0.35))], 1,
                 card=card)
    assert doubt.verdict == "inconclusive" and doubt.decided_by == GENERATED


def test_generated_evidence_read_through_clip_has_its_own_thresholds() -> None:
    card = _card(FusionParams(threshold_fake=0.9, threshold_real=0.2),
                 FusionParams(threshold_fake=0.9, threshold_real=0.8))
    card.generated_clip = FusionParams(threshold_fake=0.6, threshold_real=0.3)
    traces = fuse([(_Whole(), Evidence(score=0.7, details={"reads": "traces"}))], 0, card=card)
    assert traces.verdict == "real" and "generated-image traces" in traces.reason
    read = fuse([(_Whole(), Evidence(score=0.7, details={"reads": "clip+traces"}))], 0, card=card)
    assert read.verdict == "fake" and read.decided_by == GENERATED and "CLIP" in read.reason
    # A card without the entry keeps the traces' thresholds for both readings.
    card.generated_clip = None
    assert fuse([(_Whole(), Evidence(score=0.7, details={"reads": "clip+traces"}))], 0,
                card=card).verdict == "real"


def test_calibration_and_thresholds_from_the_fusion_card() -> None:
    params = FusionParams(a=2.0, b=-1.0, threshold_fake=0.9, threshold_real=0.2)
    raw = 0.7
    z = 2.0 * math.log(raw / (1 - raw)) - 1.0
    assert calibrate(raw, params) == pytest.approx(1 / (1 + math.exp(-z)))
    assert calibrate(raw, None) == raw
    f = fuse([(_Face(), Evidence(score=raw, face_scores=[raw]))], 1, card=_card(params, params))
    assert f.verdict == "inconclusive" and f.score == pytest.approx(calibrate(raw, params))


def test_faces_a_face_model_should_not_judge() -> None:
    eyes = np.array([[100.0, 100.0], [140.0, 100.0], [120.0, 120.0], [105.0, 140.0], [135.0, 140.0]])
    face = Face(box=np.array([80.0, 70.0, 160.0, 160.0]), score=0.9, landmarks5=eyes)
    assert face.why_not_judged() is None
    tiny = Face(box=face.box / 4, score=0.9, landmarks5=eyes / 4)
    assert "too small" in (tiny.why_not_judged() or "")
    unconfirmed = Face(box=face.box, score=0.9, landmarks5=eyes, landmarks_source="detector")
    assert "not confirmed" in (unconfirmed.why_not_judged() or "")


def test_models_dir_override_falls_back_to_bundled_models(tmp_path, monkeypatch) -> None:
    from fakescope.models import MODELS_ENV, WEIGHTS_DIR, models_dir

    (tmp_path / "face-forgery.card.json").write_text("{}")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    assert models_dir("face-forgery") == tmp_path
    assert models_dir("voice") == WEIGHTS_DIR


class _LocalEdit:
    name, version, needs_faces, evidence_kind = "local-edit", "0", False, "local_edit"
    card = None


def test_a_local_edit_is_its_own_kind_with_its_own_thresholds() -> None:
    from fakescope.fusion import LOCAL

    card = FusionCard(version="t", image=FusionParams(), generated=FusionParams(threshold_fake=0.6),
                      local_edit=FusionParams(threshold_fake=0.95, threshold_real=0.5), command="test",
                      created="2026-01-01")
    res = [(_Whole(), Evidence(score=0.2)), (_LocalEdit(), Evidence(score=0.9))]
    # Not the generated-image kind's maximum: 0.9 there would be fake at 0.6.
    f = fuse(res, 0, card=card)
    assert f.evidence == {GENERATED: 0.2, LOCAL: 0.9}
    assert f.verdict == "inconclusive" and f.decided_by == LOCAL and "a local edit" in f.reason
    sure = fuse([(_Whole(), Evidence(score=0.2)), (_LocalEdit(), Evidence(score=0.97))], 0, card=card)
    assert sure.verdict == "fake" and sure.decided_by == LOCAL
    # Without the fusion card's entry, its own card's band (here none: the default band).
    alone = fuse([(_LocalEdit(), Evidence(score=0.7))], 0)
    assert alone.verdict == "fake" and alone.decided_by == LOCAL
