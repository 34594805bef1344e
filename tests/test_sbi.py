"""Self-blended images: the change stays inside the landmark mask, and is reproducible."""

from __future__ import annotations

import numpy as np

from fakescope.faces.align import transform_points
from fakescope.faces.detector import get_detector
from fakescope.synth.degrade import jpeg, random_degrade, rescale
from fakescope.synth.sbi import self_blend


def _crop(astronaut: np.ndarray):
    face = get_detector().detect(astronaut)[0]
    crop, m = face.aligned(astronaut, 224, 1.1)
    return crop, transform_points(face.mesh, m)


def test_inside_blend_leaves_outside_untouched(astronaut: np.ndarray) -> None:
    crop, mesh = _crop(astronaut)
    out, mask = self_blend(crop, mesh, np.random.default_rng(3), alter="inside")
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    outside = mask < 1e-4
    inside = mask > 0.5
    assert outside.sum() > 1000 and inside.sum() > 5000
    assert np.abs(out[outside].astype(int) - crop[outside].astype(int)).max() <= 1
    # ... and the face itself did change
    if mask.max() > 0.2:
        assert np.abs(out[inside].astype(int) - crop[inside].astype(int)).mean() > 1.0


def test_mask_covers_the_face_landmarks(astronaut: np.ndarray) -> None:
    crop, mesh = _crop(astronaut)
    _, mask = self_blend(crop, mesh, np.random.default_rng(5))
    nose = mesh[1].round().astype(int)
    assert mask[nose[1], nose[0]] > 0.2
    assert mask[2, 2] < 0.05  # corner of the crop is background


def test_reproducible_for_a_seed(astronaut: np.ndarray) -> None:
    crop, mesh = _crop(astronaut)
    a, _ = self_blend(crop, mesh, np.random.default_rng(11))
    b, _ = self_blend(crop, mesh, np.random.default_rng(11))
    c, _ = self_blend(crop, mesh, np.random.default_rng(12))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_degradations_keep_shape(astronaut: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        out = random_degrade(astronaut, rng, strength=3.0)
        assert out.shape == astronaut.shape and out.dtype == np.uint8
    assert rescale(astronaut, 0.5, back=False).shape == (256, 256, 3)
    q = jpeg(astronaut, 30)
    assert 1.0 < np.abs(q.astype(int) - astronaut.astype(int)).mean() < 10
