"""`fakescope anonymize`: checked with the face detector itself (issue 17)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fakescope.anonymize import anonymize_photo, anonymize_video
from fakescope.faces.detector import get_detector


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fakescope.demo import make_demo

    d = tmp_path_factory.mktemp("demo")
    list(make_demo(d))
    return d


def _faces(path: Path) -> list:  # type: ignore[type-arg]
    return get_detector().detect(np.asarray(Image.open(path).convert("RGB")))


@pytest.mark.parametrize("method", ["pixelate", "blur"])
def test_no_face_is_found_in_the_anonymised_demo_photos(demo: Path, tmp_path: Path, method: str) -> None:
    photos = ["astronaut.jpg", "astronaut_selfblended.jpg", "group.jpg", "face_crop.png",
              "phone_rotated.jpg"]
    assert sum(len(_faces(demo / p)) for p in photos) == 7  # what there is to hide
    for p in photos:
        r = anonymize_photo(demo / p, tmp_path / p, method=method)  # type: ignore[arg-type]
        assert r.faces >= 1 and _faces(tmp_path / p) == [], p
    # The pictures are otherwise the same: only the faces changed.
    before = np.asarray(Image.open(demo / "coffee.png").convert("RGB"))
    anonymize_photo(demo / "coffee.png", tmp_path / "coffee.png")
    after = np.asarray(Image.open(tmp_path / "coffee.png").convert("RGB"))
    assert np.array_equal(before, after)


def test_metadata_is_stripped_and_orientation_kept(demo: Path, tmp_path: Path) -> None:
    src = demo / "phone_rotated.jpg"
    assert Image.open(src).getexif().get(0x0112) == 6  # stored rotated, EXIF says so
    out = tmp_path / "p.jpg"
    anonymize_photo(src, out)
    with Image.open(out) as im:
        assert len(im.getexif()) == 0 and "exif" not in im.info and "xmp" not in im.info
        upright = Image.open(demo / "astronaut.jpg")
        assert im.size == upright.size  # written as displayed, so no tag is needed


def test_faces_on_the_keep_list_stay_visible(demo: Path, tmp_path: Path) -> None:
    faces = get_detector().detect(np.asarray(Image.open(demo / "group.jpg").convert("RGB")))
    r = anonymize_photo(demo / "group.jpg", tmp_path / "g.jpg", keep={0})
    assert (r.faces, r.kept) == (len(faces) - 1, 1)
    left = _faces(tmp_path / "g.jpg")
    assert len(left) == 1 and np.abs(left[0].box - faces[0].box).max() < 12


def test_a_clip_is_anonymised_with_its_sound(tmp_path: Path) -> None:
    import av

    from fakescope.config import ScanSettings
    from fakescope.demo import talking_clip
    from fakescope.scan.scanner import Scanner

    clip = talking_clip(tmp_path / "c.mp4", seconds=3, audio_shift_s=0.0)
    r = anonymize_video(clip, tmp_path / "anon.mp4")
    assert r.frames == 75 and r.faces >= 75
    dense = Scanner(ScanSettings(analyzers=["face-forgery"])).scan(tmp_path / "anon.mp4")
    assert dense.verdict == "no_face" and dense.video is not None and dense.video.frames_analysed >= 30
    with av.open(str(clip)) as a, av.open(str(tmp_path / "anon.mp4")) as b:
        assert len(b.streams.audio) == 1
        da = float(a.streams.audio[0].duration * a.streams.audio[0].time_base)
        db = float(b.streams.audio[0].duration * b.streams.audio[0].time_base)
        assert abs(da - db) < 0.1
        assert b.streams.video[0].frames == 75


def test_the_command(demo: Path, tmp_path: Path) -> None:
    from fakescope.cli.main import main

    res = CliRunner().invoke(main, ["anonymize", str(demo / "group.jpg"), str(demo / "README.txt"),
                                    "--out", str(tmp_path / "o"), "--keep", "1"])
    assert res.exit_code == 0, res.output
    assert "2 face(s) covered, 1 kept" in res.output and (tmp_path / "o" / "group.jpg").is_file()
    again = CliRunner().invoke(main, ["anonymize", str(demo / "group.jpg"), "--out", str(tmp_path / "o")])
    assert again.exit_code == 1 and "exists" in again.output
    bad = CliRunner().invoke(main, ["anonymize", str(demo / "group.jpg"), "--out", str(tmp_path / "o"),
                                    "--keep", "one"])
    assert bad.exit_code == 2
