"""The whole-image synthesis analyzer against images with a known answer."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fakescope.analyzers.base import ScanItem
from fakescope.config import ScanSettings
from fakescope.media.types import ImageMedia


def _item(rgb: np.ndarray) -> ScanItem:
    return ScanItem(media=ImageMedia(rgb=rgb, format="PNG", source_mode="RGB"), faces=[],
                    settings=ScanSettings())


@pytest.fixture(scope="module")
def analyzer():  # type: ignore[no-untyped-def]
    from fakescope.analyzers.synthesis import SynthesisAnalyzer

    return SynthesisAnalyzer()


def test_grid_patches_cover_the_image_at_native_resolution() -> None:
    from fakescope.analyzers.synthesis import grid_patches

    rgb = np.arange(300 * 400 * 3, dtype=np.uint32).reshape(300, 400, 3).astype(np.uint8)
    patches, pos = grid_patches(rgb, 96)
    assert len(patches) == 4 and patches.shape[1:] == (96, 96, 3)
    assert pos[0] == (0, 0) and pos[-1] == (300 - 96, 400 - 96)
    assert np.array_equal(patches[-1], rgb[204:, 304:])
    small, _ = grid_patches(rgb[:50, :60], 96)  # smaller than a patch: padded, not resized
    assert small.shape == (1, 96, 96, 3)


@pytest.fixture(scope="module")
def resynthesise(astronaut: np.ndarray):  # type: ignore[no-untyped-def]
    """Known truth: a small auto-encoder trained here on the portrait's tiles for a few
    seconds; its reconstructions are generated images. The shipped model's decoders were
    trained on other images, with other seeds."""
    pytest.importorskip("torch")
    from fakescope.train import autogan

    tiles = np.stack([astronaut[y:y + 128, x:x + 128] for y in range(0, 384, 64)
                      for x in range(0, 384, 64)])
    ae = autogan.train_autoencoder("pixelshuffle", tiles, 60, seed=3)
    return lambda rgb: autogan.reconstruct(ae, rgb[None])[0]


def test_a_decoder_reconstruction_scores_higher_than_the_camera_image(
        analyzer, resynthesise, astronaut: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    generated = resynthesise(astronaut)
    real = analyzer.analyze(_item(astronaut)).score
    fake = analyzer.analyze(_item(generated)).score
    assert real is not None and fake is not None
    assert real < 0.5 < fake


def test_a_faceless_generated_picture_is_flagged_not_cleared(resynthesise) -> None:  # type: ignore[no-untyped-def]
    from fakescope.demo import no_face_photo
    from fakescope.pipeline import Scanner

    cup = no_face_photo()[:400, :600]  # the auto-encoder needs sides divisible by 8
    scanner = Scanner(ScanSettings(analyzers=["face-forgery", "synthesis"]))
    verdicts = []
    for rgb in (cup, resynthesise(cup)):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "PNG")
        r = scanner.scan_bytes(buf.getvalue(), "cup.png")
        assert next(a for a in r.analyzers if a.name == "synthesis").score is not None
        assert (r.verdict == "fake") == (r.score is not None)
        verdicts.append(r.verdict)
    # Whole-image evidence alone never clears a picture, but flags a generated one.
    assert verdicts == ["no_face", "fake"]
