"""Video decoding shortcuts against the plain way: the background reader, frames cut to a
face window before colour conversion, sparse sampling that skips unreferenced frames,
small-face tiles on demand, and FaceMesh following faces between detections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fakescope.config import MediaLimits
from fakescope.faces.detector import _iou, get_detector
from fakescope.media import decode, read_file
from fakescope.media.video import VideoMedia, in_background

FPS = 25


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fakescope.demo import talking_clip

    # 720p: the portrait fills the height, one face in a wide frame.
    return talking_clip(tmp_path_factory.mktemp("dec") / "wide.mp4", seconds=4, fps=FPS,
                        audio_shift_s=None, size=(1280, 720))


def _media(path: Path) -> VideoMedia:
    media = decode(read_file(path, MediaLimits()), MediaLimits())
    assert isinstance(media, VideoMedia)
    return media


def test_background_reader_keeps_order_and_passes_errors_on() -> None:
    def items() -> Iterator[int]:
        yield from range(10)
        raise ValueError("broken at 10")

    got = []
    with pytest.raises(ValueError, match="broken at 10"):
        for x in in_background(items(), depth=2):
            got.append(x)
    assert got == list(range(10))


def test_background_reader_closes_its_source_when_the_caller_stops() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            k = 0
            while True:
                yield k
                k += 1
        finally:
            closed.set()

    reader = in_background(endless(), depth=3)
    assert [next(reader) for _ in range(5)] == [0, 1, 2, 3, 4]
    reader.close()
    assert closed.wait(2.0)
    assert not any(t.name == "fakescope-decode" and t.is_alive() for t in threading.enumerate())


def test_a_window_cut_before_conversion_matches_the_whole_frame(clip: Path) -> None:
    media = _media(clip)
    region = (501, 97, 833, 419)  # odd bounds: the cut rounds to even chroma samples
    whole = list(media.frames_every(5.0, 0.0, 2.0))
    cut = list(media.frames_every(5.0, 0.0, 2.0, region_at=lambda t: region))
    assert len(whole) == len(cut) >= 9
    for w, c in zip(whole, cut, strict=True):
        assert w.time_s == c.time_s
        x0, y0 = c.origin
        assert x0 % 2 == 0 and y0 % 2 == 0 and x0 <= region[0] and y0 <= region[1]
        h, wd = c.rgb.shape[:2]
        assert x0 + wd >= region[2] - 1 and y0 + h >= region[3] - 1
        ref = w.rgb[y0 : y0 + h, x0 : x0 + wd].astype(np.int16)
        # Same pixels up to the rounding of two YUV->RGB implementations.
        assert np.abs(ref - c.rgb).mean() < 2.0


def test_sparse_sampling_lands_at_or_just_after_each_time(clip: Path) -> None:
    media = _media(clip)
    times = media.sample_times(16)
    frames = list(media.frames_at(times))
    assert len(frames) == len(times)
    for target, fr in zip(times, frames, strict=True):
        # Skipping unreferenced frames moves a sample by at most a couple of frames.
        assert target - 1e-6 <= fr.time_s <= target + 3.0 / FPS
        assert fr.rgb.shape == (720, 1280, 3)


def test_tiles_only_when_the_whole_frame_shows_no_face(astronaut: np.ndarray) -> None:
    det = get_detector()
    # A small face in a wide canvas: only the tile search sees it.
    small = np.ascontiguousarray(astronaut[::2, ::2])
    canvas = np.full((720, 1600, 3), 128, np.uint8)
    canvas[232 : 232 + small.shape[0], 1294 : 1294 + small.shape[1]] = small
    assert det._run_detector(det._full, canvas) == det._run_detector(det._short, canvas) == []
    with_tiles = det.detect(canvas, tiles=True)
    without = det.detect(canvas, tiles=False)
    assert len(with_tiles) == 1 and len(without) == 1  # the fallback still finds it
    assert _iou(with_tiles[0].box, without[0].box) > 0.9


def test_facemesh_follows_a_face_between_detections(clip: Path) -> None:
    det = get_detector()
    frames = list(_media(clip).frames_every(FPS, 1.0, 1.5))
    first = det.detect(frames[0].rgb)
    assert len(first) == 1
    faces = first
    for fr in frames[1:]:
        followed = det.follow(fr.rgb, faces)
        detected = det.detect(fr.rgb)
        assert followed[0] is not None and len(detected) == 1
        assert _iou(followed[0].box, detected[0].box) > 0.8
        assert np.abs(followed[0].landmarks5 - detected[0].landmarks5).mean() < 2.0
        faces = [followed[0]]


def test_following_a_face_that_left_gives_none(clip: Path) -> None:
    det = get_detector()
    frame = next(iter(_media(clip).frames_at([1.0])))
    face = det.detect(frame.rgb)[0]
    blank = np.full_like(frame.rgb, 90)
    assert det.follow(blank, [face]) == [None]
