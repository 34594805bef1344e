"""Face detection, landmarks and alignment against known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.faces.align import align_face, similarity_transform, template, transform_points
from fakescope.faces.detector import get_detector

# Where the astronaut's eyes, nose and mouth corners are (pixels, 512x512 photo),
# read once off the photo and stable to a few pixels.
ASTRONAUT_5 = np.array([[203, 101], [246, 103], [223, 131], [202, 140], [246, 140]], float)


def test_astronaut_landmarks(astronaut: np.ndarray) -> None:
    faces = get_detector().detect(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.landmarks_source == "facemesh" and f.mesh is not None and f.mesh.shape == (478, 2)
    assert np.abs(f.landmarks5 - ASTRONAUT_5).max() < 6
    x0, y0, x1, y1 = f.box
    assert x0 < 203 < x1 and y0 < 101 < y1 and f.score > 0.8


def test_several_faces(astronaut: np.ndarray) -> None:
    from fakescope.demo import group_photo

    faces = get_detector().detect(group_photo(astronaut))
    assert len(faces) == 3
    centres = sorted((f.box[0] + f.box[2]) / 2 for f in faces)
    assert centres[0] < 512 < centres[1]  # one face on the left half, two on the right


def test_tight_crop_still_finds_the_face(astronaut: np.ndarray) -> None:
    from fakescope.demo import tight_crop

    crop = tight_crop(astronaut)
    faces = get_detector().detect(crop)
    assert len(faces) == 1
    # eyes in the upper half, roughly symmetric about the centre
    le, re = faces[0].landmarks5[0], faces[0].landmarks5[1]
    assert le[0] < 112 < re[0] and le[1] < 112 and re[1] < 112


def test_no_face_in_a_cup_of_coffee() -> None:
    from fakescope.demo import no_face_photo

    assert get_detector().detect(no_face_photo()) == []


@pytest.mark.parametrize("k", [1, 3])
def test_rotated_faces_keep_landmark_semantics(astronaut: np.ndarray, k: int) -> None:
    """Lying faces (90° either way): each point must still name the same facial feature."""
    h, w = astronaut.shape[:2]
    faces = get_detector().detect(np.ascontiguousarray(np.rot90(astronaut, k)))
    assert len(faces) == 1
    x, y = ASTRONAUT_5[:, 0], ASTRONAUT_5[:, 1]
    # np.rot90 turns counter-clockwise: (x, y) -> (y, w-1-x) once, (h-1-y, x) three times.
    expected = np.stack([y, w - 1 - x], 1) if k == 1 else np.stack([h - 1 - y, x], 1)
    assert np.abs(faces[0].landmarks5 - expected).max() < 8


def test_similarity_transform_recovers_known_motion() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    ang, s, t = 0.3, 1.7, np.array([12.0, -4.0])
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = s * src @ r.T + t
    m = similarity_transform(src, dst)
    assert np.allclose(transform_points(src, m), dst, atol=1e-9)


def test_aligned_crop_puts_landmarks_on_the_template(astronaut: np.ndarray) -> None:
    face = get_detector().detect(astronaut)[0]
    crop, m = align_face(astronaut, face.landmarks5, 224, 1.1)
    assert crop.shape == (224, 224, 3)
    moved = transform_points(face.landmarks5, m)
    # A smiling face is not the template: eyes land within a few pixels, mouth within 20.
    err = np.linalg.norm(moved - template(224, 1.1), axis=1)
    assert err[:2].max() < 8 and err.max() < 20
    # A larger margin shows more around the same face: the eyes move closer together.
    t_wide = template(224, 1.5)
    assert np.linalg.norm(t_wide[1] - t_wide[0]) < np.linalg.norm(
        template(224, 1.1)[1] - template(224, 1.1)[0])


def test_crop_cache_per_size_and_margin(astronaut: np.ndarray) -> None:
    face = get_detector().detect(astronaut)[0]
    a = face.aligned(astronaut, 224, 1.1)
    assert face.aligned(astronaut, 224, 1.1) is a
    assert face.aligned(astronaut, 128, 1.1)[0].shape == (128, 128, 3)
