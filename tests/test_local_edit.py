"""Local edits (issue 29): pseudo-edits with exact masks, the localization grid, the report field."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.synth.edits import KINDS, after_edit, make_edit, region_mask


def _photo(seed: int = 0, h: int = 300, w: int = 360) -> np.ndarray:
    """A camera-like picture: smooth shapes plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([120 + 60 * np.sin(xx / 37.0 + c) * np.cos(yy / 23.0 - c) for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "autoencoder"])
def test_each_edit_changes_only_its_mask(kind: str) -> None:
    rng = np.random.default_rng(3)
    rgb, donor = _photo(1), _photo(2)[::-1].copy()
    ed = make_edit(rng, rgb, donor, kind=kind)
    assert ed.kind == kind and ed.rgb.shape == rgb.shape and ed.mask.shape == rgb.shape[:2]
    assert ed.mask.min() >= 0.0 and ed.mask.max() <= 1.0 and ed.mask.max() > 0.5
    changed = np.any(ed.rgb != rgb, axis=2)
    # Nothing outside the (feathered) mask moved; something inside did.
    assert not changed[ed.mask == 0].any()
    assert changed[ed.mask > 0.5].mean() > 0.3


def test_the_autoencoder_edit_pastes_its_reconstruction_inside_the_mask() -> None:
    rng = np.random.default_rng(4)
    rgb = _photo(5)
    ed = make_edit(rng, rgb, kind="autoencoder", autoencoder=lambda x: np.full_like(x, 7))
    assert np.all(ed.rgb[ed.mask == 1.0] == 7) and np.array_equal(ed.rgb[ed.mask == 0], rgb[ed.mask == 0])


def test_region_masks_cover_the_share_asked_for() -> None:
    rng = np.random.default_rng(0)
    shares = [region_mask(rng, 200, 300, (0.05, 0.05)).mean() for _ in range(40)]
    assert 0.02 < float(np.median(shares)) < 0.09


def test_after_the_edit_both_classes_get_the_same_crop_size_and_the_mask_follows() -> None:
    rng = np.random.default_rng(1)
    rgb = _photo(0)
    mask = np.zeros(rgb.shape[:2], np.float32)
    mask[100:160, 120:200] = 1.0
    x, m = after_edit(rng, rgb, mask, 256)
    assert x.shape == (256, 256, 3) and m.shape == (256, 256) and m.max() > 0.5
    clean, none = after_edit(np.random.default_rng(1), rgb, np.zeros_like(mask), 256)
    assert clean.shape == (256, 256, 3) and none.max() == 0


def test_the_grid_tiles_the_picture_with_equal_cells() -> None:
    from fakescope.analyzers.local_edit import pooled_grid

    prob = np.zeros((13, 8), np.float32)  # a 100 x 60 picture read as 8 px cells
    prob[2:4, 1:3] = 1.0
    g = pooled_grid(prob, 100, 60)
    # 100 / 13 px per cell: not the model's 8, so edges are shared between neighbours
    assert g.shape == (13, 8) and g[2:4, 1:3].min() > 0.8 and g.sum() == pytest.approx(4.0, abs=0.6)
    big = np.zeros((192, 256), np.float32)  # 1536 x 2048 px
    big[:96, :128] = 1.0  # the top-left quarter
    g = pooled_grid(big, 1536, 2048)
    assert g.shape == (64, 64)
    assert g[:32, :32].min() == pytest.approx(1.0) and g[32:, :].max() == pytest.approx(0.0)


def test_the_report_field_checks_its_shape() -> None:
    from fakescope.report.schema import Localization

    ok = Localization(rows=2, cols=3, cell_height_px=10, cell_width_px=10, grid=[[0, 0.5, 1], [0, 0, 0]])
    assert ok.source == "local-edit"
    with pytest.raises(ValueError, match="rows"):
        Localization(rows=2, cols=3, cell_height_px=10, cell_width_px=10, grid=[[0, 0, 0]])
    with pytest.raises(ValueError, match="probabilities"):
        Localization(rows=1, cols=1, cell_height_px=10, cell_width_px=10, grid=[[1.5]])


def _jpeg(rgb: np.ndarray, path, quality: int = 90) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    Image.fromarray(rgb).save(path, quality=quality)


@pytest.fixture(scope="module")
def resampled(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The demo portrait (a camera scan, JPEG) with one region re-synthesised at a lower
    resolution (what a generative fill's decoder leaves), saved as JPEG again."""
    import io

    from PIL import Image

    from fakescope.demo import astronaut

    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, format="JPEG", quality=92)
    base = np.asarray(Image.open(buf).convert("RGB"))
    ed = make_edit(np.random.default_rng(0), base, kind="resample")
    path = tmp_path_factory.mktemp("edits") / "astronaut_filled.jpg"
    _jpeg(ed.rgb, path)
    return path, ed.mask


def test_a_scan_reports_where_the_region_was_changed(resampled) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from fakescope.config import ScanSettings
    from fakescope.scan.scanner import Scanner

    path, mask = resampled
    report = Scanner(ScanSettings(analyzers=["local-edit"])).scan(path)
    loc = report.localization
    assert loc is not None and loc.source == "local-edit" and (loc.rows, loc.cols) == (64, 64)
    assert loc.cell_height_px * loc.rows == pytest.approx(report.media.height)
    # Not repeated inside the analyzer's details; its score is the local_edit kind of evidence.
    entry = next(a for a in report.analyzers if a.name == "local-edit")
    assert "localization" not in entry.details and entry.score is not None
    assert "local_edit" in report.evidence
    grid = np.array(loc.grid)
    inside = cv2.resize(mask, (loc.cols, loc.rows), interpolation=cv2.INTER_AREA) > 0.5
    assert grid[inside].mean() > grid[~inside].mean() + 0.1
    assert '"localization"' in report.to_json()


def test_the_html_report_paints_the_localization(resampled, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fakescope.config import ScanSettings
    from fakescope.report.html import render_section
    from fakescope.scan.scanner import Scanner

    path, _ = resampled
    report = Scanner(ScanSettings(analyzers=["local-edit"], explain=True)).scan(path)
    assert "local-edit: where a region looks edited" in render_section(report)


def _copied(rotate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The demo portrait as JPEG, and the same with a 160-pixel region of it (the flag and
    the suit) pasted elsewhere, turned by ``rotate`` degrees: (original, edited, mask of
    both copies, how far the copy moved)."""
    import io

    import cv2
    from PIL import Image

    from fakescope.demo import astronaut

    def jpeg(rgb: np.ndarray) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
        return np.asarray(Image.open(buf).convert("RGB"))

    base = jpeg(astronaut())
    y0, x0, s, dy, dx = 250, 300, 160, 30, 20
    patch = base[y0:y0 + s, x0:x0 + s]
    if rotate:
        m = cv2.getRotationMatrix2D((s / 2, s / 2), rotate, 1.0)
        patch = cv2.warpAffine(patch, m, (s, s), borderMode=cv2.BORDER_REFLECT)
    ed = base.copy()
    ed[dy:dy + s, dx:dx + s] = patch
    mask = np.zeros(base.shape[:2], bool)
    mask[y0:y0 + s, x0:x0 + s] = mask[dy:dy + s, dx:dx + s] = True
    return base, jpeg(ed), mask, float(np.hypot(dy - y0, dx - x0))


@pytest.mark.parametrize("rotate", [0.0, 25.0])
def test_a_copied_region_is_found_and_both_copies_outlined(rotate: float) -> None:
    from fakescope.analyzers.copy_move import find_copies
    from fakescope.analyzers.local_edit import LocalEditAnalyzer
    from fakescope.evaluation.calibration import sigmoid

    base, ed, truth, shift = _copied(rotate)
    c = LocalEditAnalyzer().card.other_calibrations["copy-move"]

    def p(n: int) -> float:
        return float(sigmoid(c.a * np.log1p(n) + c.b))

    found, plain = find_copies(ed), find_copies(base)
    assert p(found.inliers) >= 0.65 > 0.35 >= p(plain.inliers), (found.inliers, plain.inliers)
    assert found.mask is not None and found.mask.shape == truth.shape
    iou = (found.mask & truth).sum() / (found.mask | truth).sum()
    assert iou >= 0.5, iou
    assert found.shift_px == pytest.approx(shift, abs=8)


def test_the_scan_calls_a_copy_move_a_local_edit_and_maps_it(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import cv2
    from PIL import Image

    from fakescope.config import ScanSettings
    from fakescope.scan.scanner import Scanner

    _, ed, truth, _ = _copied(0.0)
    path = tmp_path / "copied.png"
    Image.fromarray(ed).save(path)
    report = Scanner(ScanSettings(analyzers=["local-edit"])).scan(path)
    assert report.verdict == "fake" and report.decided_by == "local_edit", report.reason
    entry = next(a for a in report.analyzers if a.name == "local-edit")
    assert entry.details["copy_move"]["probability"] >= 0.65
    assert any("copy-move" in f for f in entry.details["findings"])
    grid = np.array(report.localization.grid)
    inside = cv2.resize(truth.astype(np.float32), grid.shape[::-1], interpolation=cv2.INTER_AREA) > 0.5
    assert grid[inside].mean() >= 0.5 > grid[~inside].mean()
    # without the matching (as the in-browser page reads it), the net's reading alone
    monkeypatch.setenv("FAKESCOPE_COPY_MOVE", "off")
    alone = Scanner(ScanSettings(analyzers=["local-edit"])).scan(path)
    assert "copy_move" not in next(a for a in alone.analyzers if a.name == "local-edit").details
