"""Labelled image sets for measuring whole-image detectors on the shared data.

Each set yields (name, RGB image, label, group) rows: the generated pictures of
``generated/`` (group = generator), the real photos of ``photos/`` (group = set, with the
train/dev split of ``photo_half``), real DFDC crops, frames sampled from real
and generated clips, and screenshot-like images. Frames are decoded by the runtime's own
video reader, so a frame is exactly what ``fakescope scan`` would see.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class LabelledImage:
    name: str
    rgb: np.ndarray
    label: int  # 1 = generated / manipulated
    group: str


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def stable_fraction(text: str) -> float:
    """A number in [0, 1) fixed by ``text``: splits that never change between runs."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 16**8


def photo_half(source: str) -> str:
    """"dev" or "train" for a real photo, by its source photograph: the crops of one
    photograph never fall on both sides (training uses the train half, measures the dev)."""
    return "dev" if stable_fraction(source) < 0.5 else "train"


def generated(root: Path) -> Iterator[LabelledImage]:
    with open(root / "labels.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            yield LabelledImage(row["file"], read_rgb(root / row["file"]), 1, row["generator"])


def photos(root: Path, split: str | None = "dev") -> Iterator[LabelledImage]:
    """Real photos; ``split`` "dev"/"train" picks that half (by source photograph), None all."""
    with open(root / "labels.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if split is None or photo_half(row["source"]) == split:
                yield LabelledImage(row["file"], read_rgb(root / row["file"]), 0, f"photos:{row['set']}")


def labelled_folder(root: Path, label: int | None = None,
                    limit: int | None = None) -> Iterator[LabelledImage]:
    """A ``labels.csv`` folder of images (e.g. DFDC crops), optionally one label only."""
    from fakescope.datasets import read_labels

    n = 0
    for it in read_labels(root):
        if label is not None and it.label != label:
            continue
        yield LabelledImage(it.file, read_rgb(it.path), it.label, root.name)
        n += 1
        if limit is not None and n >= limit:
            return


def video_frames(root: Path, per_clip: int = 4, label: int | None = None) -> Iterator[LabelledImage]:
    """``per_clip`` frames at evenly spaced times of every clip in a video folder."""
    from fakescope.config import MediaLimits
    from fakescope.datasets import read_labels
    from fakescope.media import decode, read_file
    from fakescope.media.video import VideoMedia

    limits = MediaLimits()
    for it in read_labels(root):
        if label is not None and it.label != label:
            continue
        media = decode(read_file(it.path, limits), limits)
        if not isinstance(media, VideoMedia):
            continue
        for fr in media.frames_at(media.sample_times(per_clip)):
            yield LabelledImage(f"{it.file}@{fr.time_s:.2f}", fr.rgb, it.label, f"{root.name}:{it.label}")


def screens(n: int, prefix: str = "dev") -> Iterator[LabelledImage]:
    from fakescope.train.screens import screenshot

    for i in range(n):
        yield LabelledImage(f"{prefix}{i:04d}", screenshot(f"{prefix}{i:04d}"), 0, "screens")
