"""Analyzers by name. Registration is explicit: the built-in dict below, plus packages
that declare an entry point in the ``fakescope.analyzers`` group (a zero-argument
factory returning an object that satisfies :class:`fakescope.analyzers.base.Analyzer`).
Importing a module never registers anything."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from fakescope.analyzers.base import Analyzer
from fakescope.errors import FakescopeError


def _face_forgery() -> Analyzer:
    from fakescope.analyzers.face_forgery import FaceForgeryAnalyzer

    return FaceForgeryAnalyzer()


def _generated() -> Analyzer:
    from fakescope.analyzers.generated import GeneratedImageAnalyzer

    return GeneratedImageAnalyzer()


def _metadata() -> Analyzer:
    from fakescope.provenance.metadata import MetadataAnalyzer

    return MetadataAnalyzer()


def _blink() -> Analyzer:
    from fakescope.analyzers.blink import BlinkAnalyzer

    return BlinkAnalyzer()


def _motion() -> Analyzer:
    from fakescope.analyzers.motion import MotionAnalyzer

    return MotionAnalyzer()


def _lipsync() -> Analyzer:
    from fakescope.analyzers.lipsync import LipSyncAnalyzer

    return LipSyncAnalyzer()


def _face_detail() -> Analyzer:
    from fakescope.analyzers.face_detail import FaceDetailAnalyzer

    return FaceDetailAnalyzer()


def _appearance() -> Analyzer:
    from fakescope.analyzers.appearance import AppearanceAnalyzer

    return AppearanceAnalyzer()


def _still_picture() -> Analyzer:
    from fakescope.analyzers.still_picture import StillPictureAnalyzer

    return StillPictureAnalyzer()


def _local_edit() -> Analyzer:
    from fakescope.analyzers.local_edit import LocalEditAnalyzer

    return LocalEditAnalyzer()


def _voice() -> Analyzer:
    from fakescope.analyzers.voice import VoiceAnalyzer

    return VoiceAnalyzer()


BUILTIN: dict[str, Callable[[], Analyzer]] = {
    "face-forgery": _face_forgery,
    "generated": _generated,
    "metadata": _metadata,
    "blink": _blink,
    "motion": _motion,
    "lip-sync": _lipsync,
    "face-detail": _face_detail,
    "still-picture": _still_picture,
    "appearance": _appearance,
    "local-edit": _local_edit,
    "voice": _voice,
}
# Built-in analyzers that run only when named (`--analyzers`); none at present.
OPT_IN: frozenset[str] = frozenset()
# Built-in analyzers without a model (and so without a card for `fakescope models`).
MODEL_FREE = frozenset({"metadata", "blink", "motion", "face-detail", "still-picture"})

ENTRY_POINT_GROUP = "fakescope.analyzers"


class UnknownAnalyzerError(FakescopeError):
    code = "unknown_analyzer"


def available() -> dict[str, Callable[[], Analyzer]]:
    found: dict[str, Callable[[], Analyzer]] = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        # The entry point names a class or factory; calling what it loads builds one.
        found.setdefault(ep.name, lambda ep=ep: ep.load()())
    return found


def create(names: list[str] | None = None) -> list[Analyzer]:
    """Instantiate the named analyzers (the default set: every available one but the
    opt-in ones, when ``names`` is None)."""
    table = available()
    wanted = [n for n in table if n not in OPT_IN] if names is None else names
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise UnknownAnalyzerError(
            f"unknown analyzer(s) {', '.join(unknown)}; available: {', '.join(sorted(table))}"
        )
    out: list[Analyzer] = []
    for n in wanted:
        obj = table[n]()
        if not isinstance(obj, Analyzer):
            raise UnknownAnalyzerError(f"{n} does not implement the analyzer contract")
        out.append(obj)
    return out
