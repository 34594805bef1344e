"""Broadcast graphics for the appearance head's training (train.overlays, issue 28)."""

from __future__ import annotations

import numpy as np

from fakescope.train.overlays import Dress


def test_one_key_one_dress_drawn_over_the_frame() -> None:
    frame = np.full((480, 640, 3), 128, np.uint8)
    a, b = Dress("corpus|clip-1.mp4"), Dress("corpus|clip-1.mp4")
    assert a.parts == b.parts and np.array_equal(a(frame), b(frame))
    out = Dress("corpus|clip-1.mp4")(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert frame.min() == frame.max() == 128  # drawn on a copy
    changed = np.any(out != frame, axis=2)
    # Graphics sit at the edges (logo, banner, ticker, watermark), never over the middle.
    assert changed.any() and not changed[200:280, 250:390].any()


def test_dresses_differ_between_clips() -> None:
    frame = np.full((360, 640, 3), 90, np.uint8)
    looks = {Dress(f"k{i}")(frame).tobytes() for i in range(8)}
    assert len(looks) == 8
    assert {tuple(Dress(f"k{i}").parts) for i in range(40)} != {("banner",)}
