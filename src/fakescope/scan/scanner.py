"""The one pipeline: read -> decode -> the flow for that kind of media -> report.

The CLI, the Python API, the service and batch jobs all call :class:`Scanner`. Load it
once (models and the face detector are loaded in ``__init__`` / on first use) and call
``scan`` per file; a failure in one file becomes that file's ``error`` report. The
per-media flows live beside it: ``image.py``, ``video.py``, ``audio.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from fakescope import __version__
from fakescope.analyzers import registry
from fakescope.analyzers.base import Analyzer
from fakescope.config import ScanSettings
from fakescope.errors import FakescopeError, ModelError
from fakescope.faces.detector import FaceDetector, get_detector
from fakescope.feedback.versions import MEDIA_OF, Watcher, note_for
from fakescope.fusion import band_for
from fakescope.inputs import InputFile, Skipped, expand
from fakescope.media import AudioMedia, LoadedFile, decode, load_bytes, read_file
from fakescope.media.video import VideoMedia
from fakescope.models import load_fusion
from fakescope.models.card import FusionCard
from fakescope.provenance.check import ProvenanceChecker
from fakescope.report.schema import ErrorInfo, ModelRef, ScanReport, Timing
from fakescope.scan.audio import scan_audio
from fakescope.scan.image import scan_image
from fakescope.scan.timing import ms_since
from fakescope.scan.video import scan_video

log = logging.getLogger("fakescope")


# The analyzers whose heads a local calibration may retrain, by the media whose verdict reads them.
HEADS_OF = {"image": ("generated",), "video": ("appearance",), "audio": ("voice",)}


class Scanner:
    """Holds the loaded face detector and analyzers; ``scan(path)`` per file."""

    def __init__(self, settings: ScanSettings | None = None) -> None:
        self.settings = settings or ScanSettings()
        self.analyzers: list[Analyzer] = registry.create(self.settings.analyzers)
        self.band = band_for(self.analyzers)
        self._fusion = Watcher(load_fusion(), self.settings.calibration_dir)
        self._heads_of: int | None = None
        self._people: Any = None
        self._people_gallery: Any = None
        if self.settings.people is not None:
            from fakescope.people.match import matcher_for

            self._people, self._people_gallery = matcher_for(self.settings.people.database_url,
                                                             self.settings.people.key_file)
        self._detector: FaceDetector | None = None
        self.provenance = ProvenanceChecker(self.settings.provenance, self.settings.limits)
        if any(a.needs_faces for a in self.analyzers):
            _ = self.detector  # load now, so no file's timing includes model loading
        self.models = [
            ModelRef(name=a.card.name, version=a.card.version, sha256=a.card.sha256[:12])
            for a in self.analyzers
            if a.card is not None
        ]

    @property
    def fusion(self) -> FusionCard | None:
        """The bundled fusion card, with the current local calibration applied (if any)."""
        return self._fusion.card()

    @property
    def calibration_version(self) -> int | None:
        self._fusion.card()
        return self._fusion.version

    def check_people(self, report: ScanReport, media: object) -> None:
        """Faces and voice against the enrolled protected people (when on): ``report.people``;
        a failure costs the check, never the scan (a note says why)."""
        if self._people is None or report.verdict == "error":
            return
        t0 = time.perf_counter()
        try:
            if isinstance(media, VideoMedia):
                report.people = self._people.video(media, report)
            elif isinstance(media, AudioMedia):
                report.people = self._people.audio(media.samples(16000, max_seconds=120.0))
            else:
                report.people = self._people.image(media.rgb)  # type: ignore[attr-defined]
        except FakescopeError as exc:
            report.notes.append(f"protected people not checked: {exc}")
        report.timing_ms.people = ms_since(t0)
        report.timing_ms.total = round(report.timing_ms.total + report.timing_ms.people, 2)

    def audit_people(self, report: ScanReport, actor: str | None, scan_id: str | None = None) -> None:
        """Audit the report's matches in the people store's audit log (its database)."""
        if self._people_gallery is not None and report.people is not None:
            self._people_gallery.audit(report.people, actor, scan_id)

    def calibration_notes(self, media_type: str) -> list[str]:
        """The report's notes on the local calibration that judged it: the thresholds and
        retrained heads that the media type's verdict reads (a photo: its kinds and the
        generated-image head; a video: its score and the appearance head; an audio file:
        its band and the voice head)."""
        local = self._fusion.local
        if local is None:
            return []
        kinds = [k for k, m in MEDIA_OF.items() if m == media_type]
        heads = HEADS_OF.get(media_type, ())
        local = local.model_copy(update={"heads": {n: h for n, h in local.heads.items() if n in heads}})
        return note_for(self._fusion.version, local, kinds)

    def audio_band(self, bundled: tuple[float, float]) -> tuple[tuple[float, float], bool]:
        """An audio file's band (real below, fake at or above): the local calibration's when
        it holds one, else ``bundled`` (the voice card's); and whether it is the local one."""
        self._fusion.card()
        t = self._fusion.local.kinds.get("audio") if self._fusion.local is not None else None
        return ((t.threshold_real, t.threshold_fake), True) if t is not None else (bundled, False)

    def _sync_heads(self) -> None:
        """Analyzers read with the heads of the current local calibration (or their bundled
        ones again after a rollback), from the next scan on."""
        self._fusion.card()
        if self._fusion.version == self._heads_of:
            return
        self._heads_of = self._fusion.version
        heads = self._fusion.local.heads if self._fusion.local is not None else {}
        for a in self.analyzers:
            use = getattr(a, "use_local_head", None)
            if use is not None:
                local = heads.get(a.name)
                try:
                    use(local.head if local is not None else None, f"local calibration v{self._heads_of}")
                except ModelError as exc:
                    # A head made for an earlier bundled model: the bundled one reads instead.
                    log.warning("%s: local head not used (%s)", a.name, exc)
                    use(None, "bundled")

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = get_detector(self.settings.faces.model_dump_json())
        return self._detector

    def scan(self, path: str | Path, display: str | None = None) -> ScanReport:
        """Scan one file. Never raises for a bad input: the report says what went wrong."""
        display = display if display is not None else str(path)
        return self._guarded(display, lambda: read_file(Path(path), self.settings.limits))

    def scan_bytes(self, data: bytes, display: str) -> ScanReport:
        """Scan media held in memory (an upload, a re-encoded copy); ``display`` names it."""
        return self._guarded(display, lambda: load_bytes(data, Path(display), self.settings.limits))

    def _guarded(self, display: str, load: Callable[[], LoadedFile]) -> ScanReport:
        t_start = time.perf_counter()
        try:
            return self._scan(load, display, t_start)
        except FakescopeError as exc:
            return self._error_report(display, exc.code, str(exc), t_start)
        except Exception as exc:  # a bug must cost one file, not the batch
            log.exception("internal error while scanning %s", display)
            return self._error_report(
                display, "internal_error", f"internal error: {type(exc).__name__}: {exc}", t_start
            )

    def _error_report(self, display: str, code: str, message: str, t0: float,
                      sha256: str | None = None) -> ScanReport:
        return ScanReport(
            fakescope_version=__version__, file=display, sha256=sha256, verdict="error",
            score=None, reason=message, error=ErrorInfo(code=code, message=message),
            timing_ms=Timing(total=ms_since(t0)), models=self.models,
        )

    def _scan(self, load: Callable[[], LoadedFile], display: str, t_start: float) -> ScanReport:
        s = self.settings
        timing = Timing()
        t0 = time.perf_counter()
        self._sync_heads()
        loaded = load()
        try:
            media = decode(loaded, s.limits)
        except FakescopeError as exc:
            report = self._error_report(display, exc.code, str(exc), t_start, loaded.sha256)
            report.media_type = loaded.media_type
            # Not decodable yet (video, audio, PDF...) can still carry Content Credentials.
            report.provenance = self.provenance.check(loaded, None)
            return report
        timing.decode = ms_since(t0)
        if isinstance(media, VideoMedia):
            report = scan_video(self, loaded, media, display, t_start, timing)
        elif isinstance(media, AudioMedia):
            report = scan_audio(self, loaded, media, display, t_start, timing)
        else:
            report = scan_image(self, loaded, media, display, t_start, timing)
        self.check_people(report, media)
        return report

    def scan_inputs(self, inputs: Iterable[str | Path]) -> Iterator[ScanReport | Skipped]:
        """Expand files and folders and scan each media file, in order."""
        for entry in expand(inputs):
            if isinstance(entry, InputFile):
                yield self.scan(entry.path, entry.display)
            else:
                yield entry


@lru_cache(maxsize=4)
def _default_scanner(settings_json: str) -> Scanner:
    return Scanner(ScanSettings.model_validate_json(settings_json))


def scan(path: str | Path, settings: ScanSettings | None = None) -> ScanReport:
    """Scan one file with a process-wide scanner (models load on the first call)."""
    return _default_scanner((settings or ScanSettings()).model_dump_json()).scan(path)
