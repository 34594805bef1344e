"""scripts/pseudo_dubs.py against known truth: the astronaut portrait, its mouth opened by
the demo's own jaw drop, moved by a known similarity."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakescope.faces.landmark_series import LIPS_OUTER

_spec = importlib.util.spec_from_file_location(
    "pseudo_dubs", Path(__file__).resolve().parents[1] / "scripts" / "pseudo_dubs.py")
assert _spec is not None and _spec.loader is not None
pd = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("pseudo_dubs", pd)
_spec.loader.exec_module(pd)

SHARP = pd.VARIANTS["pseudo-dub-sharp"]
SQUEEZED = pd.VARIANTS["pseudo-dub-96"]


@pytest.fixture(scope="module")
def face(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from fakescope.faces.detector import get_detector

    faces = get_detector().detect(astronaut)
    assert faces and faces[0].mesh is not None
    return astronaut, faces[0].mesh.astype(np.float64)


def _box(mesh: np.ndarray, idx: tuple[int, ...], pad: int = 0) -> tuple[slice, slice]:
    lo, hi = mesh[list(idx)].min(0), mesh[list(idx)].max(0)
    return (slice(int(lo[1]) - pad, int(np.ceil(hi[1])) + pad),
            slice(int(lo[0]) - pad, int(np.ceil(hi[0])) + pad))


def test_mask_covers_the_lower_face_and_never_the_eyes(face) -> None:  # type: ignore[no-untyped-def]
    img, mesh = face
    for v in (SHARP, SQUEEZED):
        a = pd.lower_face_mask(img.shape[:2], mesh, v.feather)
        mouth = mesh[[13, 14]].mean(0).round().astype(int)
        assert a[mouth[1], mouth[0]] > 0.99
        assert a[_box(mesh, LIPS_OUTER)].mean() > 0.9
        assert a[_box(mesh, pd.EYES_AND_BROWS, pad=4)].max() == 0.0
        assert a[: int(np.ceil(mesh[list(pd.EYES_AND_BROWS), 1].max()))].max() == 0.0  # none at eye level


def test_repaint_of_a_frame_onto_itself_is_identity(face) -> None:  # type: ignore[no-untyped-def]
    img, mesh = face
    out = pd.repaint(img, mesh, img, mesh, SHARP)
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 1
    # The 96 px squeeze blurs the lower face only.
    out = pd.repaint(img, mesh, img, mesh, SQUEEZED)
    eyes = _box(mesh, pd.EYES_AND_BROWS, pad=4)
    assert np.array_equal(out[eyes], img[eyes])
    lips = _box(mesh, LIPS_OUTER)
    lap = lambda x: np.abs(cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean()  # noqa: E731
    assert lap(out[lips]) < 0.7 * lap(img[lips])


def test_repaint_brings_the_donor_mouth_into_place(face) -> None:  # type: ignore[no-untyped-def]
    from fakescope.demo import open_mouth

    img, mesh = face
    opened = open_mouth(img, mesh.astype(np.float32), 1.0)  # the truth: this face, mouth open
    # The donor frame: the open mouth, head turned 6 degrees, 8% nearer, moved.
    m = cv2.getRotationMatrix2D((256, 256), 6.0, 1.08)
    m[:, 2] += [14, -9]
    donor = cv2.warpAffine(opened, m, img.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    donor_mesh = mesh @ m[:, :2].T + m[:, 2]
    out = pd.repaint(img, mesh, donor, donor_mesh, SHARP)
    lips = _box(mesh, LIPS_OUTER, pad=6)
    before = np.abs(img[lips].astype(int) - opened[lips].astype(int)).mean()
    after = np.abs(out[lips].astype(int) - opened[lips].astype(int)).mean()
    assert before > 5 and after < 0.25 * before
    eyes = _box(mesh, pd.EYES_AND_BROWS, pad=4)
    assert np.array_equal(out[eyes], img[eyes])


def test_donor_is_half_a_clip_away_and_has_a_face() -> None:
    found = np.ones(10, bool)
    assert [pd.donor_index(t, 10, found) for t in (0, 3, 7)] == [5, 8, 2]
    found[5] = False
    assert pd.donor_index(0, 10, found) in (4, 6)
    assert pd.donor_index(0, 10, np.zeros(10, bool)) is None


def test_clip_round_trip_keeps_frames_and_sound(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), 10 * k, np.uint8) for k in range(25)]
    audio = (0.2 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    pd.write_clip(tmp_path / "c.mp4", frames, audio)
    back, sound = pd.read_clip(tmp_path / "c.mp4", seconds=8)
    assert len(back) == 25 and back[0].shape == (48, 64, 3)
    assert abs(float(back[12].mean()) - 120) < 4
    assert sound is not None and abs(len(sound) - 16000) < 400
