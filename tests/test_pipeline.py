"""The scan pipeline end to end on media with a known answer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from fakescope.analyzers.base import Evidence, ScanItem
from fakescope.config import ScanSettings
from fakescope.errors import FakescopeError
from fakescope.report.schema import SCHEMA_VERSION, ScanReport
from fakescope.scan.scanner import Scanner


def test_real_photo_report(scanner: Scanner, demo_dir: Path) -> None:
    path = demo_dir / "astronaut.jpg"
    r = scanner.scan(path)
    assert r.schema_version == SCHEMA_VERSION
    assert r.media_type == "image" and r.media is not None and r.media.width == 512
    assert r.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert r.verdict in ("real", "inconclusive")  # a real portrait is never called fake
    assert r.score is not None and 0.0 <= r.score <= 1.0
    assert len(r.faces) == 1
    assert [a.name for a in r.analyzers] == ["face-forgery", "generated", "metadata", "local-edit"]
    assert r.evidence["face_manipulation"] == pytest.approx(_fused(scanner, r.faces[0].score), abs=1e-4)
    assert set(r.evidence) == {"face_manipulation", "generated_image", "local_edit"}
    assert r.evidence["local_edit"] < 0.65  # nothing pasted into it
    assert r.localization is not None and r.localization.rows == 64
    assert r.score == pytest.approx(max(r.evidence.values()), abs=1e-4)
    assert r.decided_by in ("face_manipulation", "generated_image", "local_edit")
    assert [m.name for m in r.models][:2] == ["face-forgery", "generated"]
    t = r.timing_ms
    assert t.total >= t.decode + t.faces + t.analyzers - 1.0 and t.faces > 0


def test_self_blended_face_scores_higher_than_its_original(scanner: Scanner,
                                                           demo_dir: Path) -> None:
    real = scanner.scan(demo_dir / "astronaut.jpg")
    fake = scanner.scan(demo_dir / "astronaut_selfblended.jpg")
    face = "face_manipulation"
    assert fake.evidence[face] > real.evidence[face] + 0.3
    # The face kind alone calls it fake (decided_by names the strongest kind that agrees:
    # read through CLIP, the blend's seams can weigh more on the generated-image side).
    assert fake.verdict == "fake" and fake.decided_by in (face, "generated_image")
    assert scanner.fusion is not None and fake.evidence[face] >= scanner.fusion.image.threshold_fake


def _fused(scanner: Scanner, raw: float) -> float:
    from fakescope.fusion import calibrate

    return calibrate(raw, scanner.fusion.image if scanner.fusion else None)


def test_several_faces_image_score_is_the_max(scanner: Scanner, demo_dir: Path) -> None:
    r = scanner.scan(demo_dir / "group.jpg")
    assert len(r.faces) == 3
    face_max = _fused(scanner, max(f.score for f in r.faces if f.score is not None))
    assert r.evidence["face_manipulation"] == pytest.approx(face_max, abs=1e-4)


def test_tight_crop_and_rotated_phone_photo(scanner: Scanner, demo_dir: Path) -> None:
    crop = scanner.scan(demo_dir / "face_crop.png")
    assert len(crop.faces) == 1 and crop.score is not None
    phone = scanner.scan(demo_dir / "phone_rotated.jpg")
    assert len(phone.faces) == 1
    assert any("orientation" in n for n in phone.notes)


def test_a_picture_without_faces_is_still_judged(scanner: Scanner, demo_dir: Path) -> None:
    r = scanner.scan(demo_dir / "coffee.png")
    assert r.faces == [] and r.score is not None and r.verdict in ("real", "inconclusive")
    # Judged by the whole-picture kinds (no face): generated-image traces and local edits.
    assert r.decided_by in ("generated_image", "local_edit")
    assert set(r.evidence) == {"generated_image", "local_edit"}
    if r.verdict == "real":
        assert "no face to judge" in r.reason


def test_no_face_only_when_nothing_could_judge(demo_dir: Path) -> None:
    r = Scanner(ScanSettings(analyzers=["face-forgery"])).scan(demo_dir / "coffee.png")
    assert r.verdict == "no_face" and r.score is None and r.faces == [] and r.decided_by is None


def test_broken_file_is_an_error_report_not_an_exception(scanner: Scanner,
                                                         demo_dir: Path) -> None:
    r = scanner.scan(demo_dir / "truncated.jpg")
    assert r.verdict == "error" and r.score is None
    assert r.error is not None and r.error.code == "truncated_file"
    assert r.sha256 is not None  # the bytes were read, so they are identified
    missing = scanner.scan(demo_dir / "nope.jpg")
    assert missing.error is not None and missing.error.code == "not_found"


def test_report_json_round_trip(scanner: Scanner, demo_dir: Path) -> None:
    r = scanner.scan(demo_dir / "group.jpg")
    again = ScanReport.model_validate_json(r.to_json())
    assert again.model_dump() == r.model_dump()


def test_python_api(demo_dir: Path) -> None:
    from fakescope import scan

    report = scan(demo_dir / "astronaut.jpg")
    assert isinstance(report, ScanReport) and report.file.endswith("astronaut.jpg")


def test_explain_gives_a_heatmap_per_face(explaining_scanner: Scanner, demo_dir: Path) -> None:
    r = explaining_scanner.scan(demo_dir / "group.jpg")
    assert r.visual is not None and len(r.visual.heatmaps) == 3
    for hm in r.visual.heatmaps:
        assert hm.heat.ndim == 2 and hm.heat.min() >= 0.0 and hm.heat.max() <= 1.0


class _Broken:
    name, version, card, needs_faces = "broken", "0", None, False

    def analyze(self, item: ScanItem) -> Evidence:
        raise FakescopeError("this analyzer always fails")


class _Constant:
    name, version, card, needs_faces = "constant", "0", None, False

    def analyze(self, item: ScanItem) -> Evidence:
        return Evidence(score=0.9, details={"mean": float(np.mean(item.media.rgb))})


def test_failing_analyzer_does_not_sink_the_others(monkeypatch: pytest.MonkeyPatch,
                                                   demo_dir: Path) -> None:
    from fakescope.analyzers import registry

    monkeypatch.setitem(registry.BUILTIN, "broken", _Broken)
    monkeypatch.setitem(registry.BUILTIN, "constant", _Constant)
    s = Scanner(ScanSettings(analyzers=["broken", "constant"]))
    r = s.scan(demo_dir / "coffee.png")
    from fakescope.fusion import calibrate

    assert r.verdict == "fake" and r.decided_by == "generated_image"  # whole-image evidence only
    assert r.score == pytest.approx(calibrate(0.9, s.fusion.generated if s.fusion else None))
    broken = next(a for a in r.analyzers if a.name == "broken")
    assert broken.error is not None and "always fails" in broken.error.message
    only_broken = Scanner(ScanSettings(analyzers=["broken"])).scan(demo_dir / "coffee.png")
    assert only_broken.verdict == "error"


def test_unknown_analyzer_is_refused() -> None:
    from fakescope.analyzers.registry import UnknownAnalyzerError

    with pytest.raises(UnknownAnalyzerError, match=r"unknown analyzer\(s\) nope; available: .*face-forgery"):
        Scanner(ScanSettings(analyzers=["nope"]))


def test_folder_expansion(scanner: Scanner, demo_dir: Path) -> None:
    from fakescope.inputs import Skipped

    out = list(scanner.scan_inputs([demo_dir]))
    skipped = [o for o in out if isinstance(o, Skipped)]
    reports = [o for o in out if isinstance(o, ScanReport)]
    assert [s.display.endswith("README.txt") for s in skipped] == [True]
    assert len(reports) == 7


def test_scanning_never_imports_torch(demo_dir: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from fakescope import scan; "
        f"r = scan({str(demo_dir / 'group.jpg')!r}); "
        "assert r.score is not None; "
        "assert 'torch' not in sys.modules, 'torch was imported'; print('ok')"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
