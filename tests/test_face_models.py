"""The ONNX face models give what mediapipe 0.10.21 gave (tests/face_models_reference.json,
written by ``scripts/face_models_check.py reference`` from mediapipe itself on the same
generated images), and the tracking landmarker behaves as mediapipe's video mode did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakescope.faces import facemesh
from fakescope.faces.blazeface import FULL, SHORT, BlazeFace, anchors, weighted_nms
from fakescope.faces.landmark_series import DenseLandmarker

REFERENCE = json.loads((Path(__file__).parent / "face_models_reference.json").read_text())


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    from fakescope.demo import astronaut, group_photo, tight_crop

    a = astronaut()
    return {"astronaut": a, "group": group_photo(a), "tight_crop": tight_crop(a),
            "rotated": np.ascontiguousarray(np.rot90(a, 1))}


@pytest.mark.parametrize("name", sorted(REFERENCE["images"]))
@pytest.mark.parametrize(("kind", "spec", "min_score"), [("short", SHORT, 0.5), ("full", FULL, 0.6)])
def test_detectors_match_mediapipe(images, name, kind, spec, min_score) -> None:
    ref = REFERENCE["images"][name][kind]
    got = BlazeFace(spec, min_score)(images[name])
    assert len(got) == len(ref), f"{kind} on {name}: {len(got)} faces, mediapipe found {len(ref)}"
    for d, r in zip(got, ref, strict=True):
        width = r["box"][2] - r["box"][0]
        assert np.abs(d.box - r["box"]).max() < 0.002 * width + 0.01
        assert np.abs(d.keypoints - r["keypoints"]).max() < 0.002 * width + 0.01
        assert d.score == pytest.approx(r["score"], abs=1e-4)


@pytest.mark.parametrize("name", sorted(REFERENCE["images"]))
def test_mesh_matches_mediapipe(images, name) -> None:
    ref = REFERENCE["images"][name]["mesh"]
    dets = BlazeFace(SHORT, 0.3)(images[name])
    if ref is None:
        assert not dets or facemesh.FaceMesh()(images[name], facemesh.roi_from_detection(
            dets[0].box, dets[0].keypoints))[1] < 0.5
        return
    pts, presence = facemesh.FaceMesh()(images[name], facemesh.roi_from_detection(dets[0].box,
                                                                                 dets[0].keypoints))
    ref = np.array(ref)
    eye = np.linalg.norm(ref[468] - ref[473])
    assert presence >= 0.5
    assert pts.shape == (478, 2)
    # 1 % of the eye distance: a fraction of a pixel on these faces (measured: ~1e-4)
    assert np.abs(pts - ref).max() < 0.01 * eye


def test_anchor_layout() -> None:
    # mediapipe's SSD anchors: 16x16 cells x 2 + 8x8 cells x 6 (three stride-16 layers x 2)
    a = anchors(SHORT)
    assert a.shape == (896, 2)
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[1], a[0])
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8]) and np.allclose(a[512:518], a[512])
    assert anchors(FULL).shape == (2304, 2)


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 6, 2))
    kps[1] += 1.0
    scores = np.array([0.9, 0.6, 0.8])
    out = weighted_nms(boxes, kps, scores)
    assert len(out) == 2
    (box, kp, score), (box2, _, score2) = out
    assert score == 0.9 and score2 == 0.8
    assert box[0] == pytest.approx(0.6 / 1.5)  # score-weighted mean of 0 and 1
    assert kp[0, 0] == pytest.approx(0.6 / 1.5)
    assert np.allclose(box2, [50, 50, 60, 60])


def test_projection_undoes_the_crop() -> None:
    """A point drawn in the image is found where the rotated crop maps it back."""
    roi = facemesh.Roi(cx=120.0, cy=90.0, side=80.0, rotation=0.4)
    img = np.zeros((200, 260, 3), np.uint8)
    img[60:63, 140:143] = 255  # a dot at (141, 61)
    patch, _ = facemesh.crop(img, roi)
    ys, xs = np.nonzero(patch[:, :, 0] > 100)
    found = facemesh.project(np.array([[xs.mean() + 0.5, ys.mean() + 0.5]]), roi)[0]
    assert np.abs(found - [141.5, 61.5]).max() < 1.0


def test_tracker_follows_loses_and_finds_again(astronaut) -> None:
    track = DenseLandmarker()
    first = track(astronaut)
    assert first is not None
    shifted = np.ascontiguousarray(np.roll(astronaut, 6, axis=1))
    second = track(shifted)
    assert second is not None
    # the face moved 6 px right: so did its landmarks (nose tip, irises)
    moved = second[[1, 468, 473], 0] - first[[1, 468, 473], 0]
    assert np.all(np.abs(moved - 6) < 1.5)
    assert track(np.zeros_like(astronaut)) is None  # lost on an empty frame ...
    again = track(astronaut)  # ... and found again by detection on the next
    assert again is not None and np.abs(again - first).max() < 0.5
