"""Shared fixtures: media with a known answer, generated from scikit-image's bundled
public-domain photos (never downloaded, never committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from fakescope.demo import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fakescope.demo import make_demo

    out = tmp_path_factory.mktemp("demo")
    list(make_demo(out))
    return out


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo set (photos, a truncated JPEG, a README) plus a 2 s talking-head clip."""
    from fakescope.demo import make_demo, talking_clip

    out = tmp_path_factory.mktemp("batch-media")
    list(make_demo(out))
    talking_clip(out / "clip.mp4", seconds=2.0, audio_shift_s=None)
    return out


@pytest.fixture(scope="session")
def scanner():
    from fakescope.scan.scanner import Scanner

    return Scanner()


@pytest.fixture(scope="session")
def explaining_scanner():
    from fakescope.config import ScanSettings
    from fakescope.scan.scanner import Scanner

    return Scanner(ScanSettings(explain=True))


@pytest.fixture
def shared_data():
    """shared_data("faces", "dfdc-dev") -> the folder, or skip when it is absent."""

    def get(*parts: str) -> Path:
        path = SHARED_DATA.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"{path} is not available (public data lives outside the repo)")
        return path

    return get
