"""fakescope's own measured throughput, read from the files the benchmarks write.

``benchmarks/bench_photos.py`` writes ``benchmarks/results/photos.json`` (``photos_per_s``,
``machine.cpus``, ``measured``); a video benchmark writes ``videos.json`` with
``video_minutes_per_s``. Self-hosted sizing uses only these measured figures.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fakescope.errors import CostInputError

RESULTS = Path("benchmarks") / "results"
PHOTOS_FILE = "photos.json"
VIDEOS_FILE = "videos.json"
# src/fakescope/cost/throughput.py -> the checkout root, for a source (editable) install.
_CHECKOUT = Path(__file__).resolve().parents[3]


class Rate(BaseModel):
    """A measured rate and the machine it was measured on."""

    model_config = ConfigDict(frozen=True)

    per_second: Decimal = Field(gt=0)
    cpus: int = Field(gt=0)
    measured: str | None = None
    # What was measured (e.g. "100 photos of 512x512"): sizing is only as good as its likeness
    # to the real workload, so the reader is told.
    sample: str | None = None
    file: Path


class Throughput(BaseModel):
    model_config = ConfigDict(frozen=True)

    photos: Rate | None = None          # photos per second
    video_minutes: Rate | None = None   # minutes of video per second


class _Machine(BaseModel):
    cpus: int = Field(gt=0)


class _BenchmarkFile(BaseModel):
    # Only what sizing needs; the benchmarks write more (medians, p90, model load time).
    photos_per_s: Decimal | None = Field(default=None, gt=0)
    video_minutes_per_s: Decimal | None = Field(default=None, gt=0)
    machine: _Machine
    measured: str | None = None
    n: int | None = None
    size: int | None = None


def default_files() -> list[Path]:
    """photos.json (and videos.json when present) from the first results folder that has one."""
    for folder in (Path.cwd() / RESULTS, _CHECKOUT / RESULTS):
        if (folder / PHOTOS_FILE).is_file() or (folder / VIDEOS_FILE).is_file():
            return [p for p in (folder / PHOTOS_FILE, folder / VIDEOS_FILE) if p.is_file()]
    return []


def _read(path: Path) -> _BenchmarkFile:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise CostInputError(f"cannot read throughput file {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise CostInputError(f"throughput file {path} is not JSON: {exc.msg} (line {exc.lineno})") from exc
    try:
        parsed = _BenchmarkFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CostInputError(f"throughput file {path}: {where}: {err['msg']}") from exc
    if parsed.photos_per_s is None and parsed.video_minutes_per_s is None:
        raise CostInputError(f"throughput file {path} has neither photos_per_s nor video_minutes_per_s")
    return parsed


def read_throughput(files: list[Path] | None = None) -> Throughput:
    """Merge the given benchmark files (default: :func:`default_files`); each rate from one file."""
    files = files or default_files()
    if not files:
        raise CostInputError(
            f"no measured throughput: {RESULTS / PHOTOS_FILE} not found here or in the source "
            "checkout; run `python benchmarks/bench_photos.py` or pass --throughput-file")
    photos: Rate | None = None
    videos: Rate | None = None
    for path in files:
        bench = _read(path)
        if bench.photos_per_s is not None:
            if photos is not None:
                raise CostInputError(f"photos_per_s is given by both {photos.file} and {path}")
            sample = (f"{bench.n} photos of {bench.size}x{bench.size}"
                      if bench.n is not None and bench.size is not None else None)
            photos = Rate(per_second=bench.photos_per_s, cpus=bench.machine.cpus,
                          measured=bench.measured, sample=sample, file=path)
        if bench.video_minutes_per_s is not None:
            if videos is not None:
                raise CostInputError(f"video_minutes_per_s is given by both {videos.file} and {path}")
            videos = Rate(per_second=bench.video_minutes_per_s, cpus=bench.machine.cpus,
                          measured=bench.measured, file=path)
    return Throughput(photos=photos, video_minutes=videos)
