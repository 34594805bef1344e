"""From the genuine media an operator gives to the vectors enrolled for a protected person:
the one face of each photo, the person's face in frames spread over a video and its
voice, the voice of an audio file. Refuses media that cannot say who is meant (no face,
several faces of similar size) rather than guess: a wrong template would make scans call
someone else the protected person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from fakescope.config import MediaLimits
from fakescope.errors import FakescopeError
from fakescope.people.store import PeopleError

if TYPE_CHECKING:
    from fakescope.people.face_id import FaceTemplate

VIDEO_FRAMES = 8
AUDIO_RATE = 16000
MAX_AUDIO_S = 120.0  # a couple of minutes of speech is plenty for one voice template
# A second face at least this large (side, relative to the largest) makes the photo
# ambiguous: a bystander is much smaller than the subject of a portrait.
AMBIGUOUS_SIZE = 0.7


class EnrolMediaError(PeopleError):
    """An enrolment file that cannot give a template of one person (named in the message)."""

    code = "people_media"


class VoiceIdUnavailableError(PeopleError):
    code = "voice_id_unavailable"


class FaceEncoder(Protocol):
    def faces(self, rgb: np.ndarray) -> list[FaceTemplate]: ...


class VoiceEncoder(Protocol):
    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray | None: ...


def face_encoder() -> FaceEncoder:
    from fakescope.people.face_id import FaceIdentity

    return FaceIdentity()


def voice_encoder() -> VoiceEncoder:
    try:
        from fakescope.people.voice_id import SpeakerEncoder
    except ModuleNotFoundError as exc:
        if exc.name != "fakescope.people.voice_id":
            raise
        raise VoiceIdUnavailableError("this fakescope has no speaker encoder yet (fakescope.people."
                                      "voice_id): enrol photos and video faces only") from None
    return SpeakerEncoder()


@lru_cache(maxsize=1)
def _scanner():  # type: ignore[no-untyped-def]
    from fakescope.scan.scanner import Scanner

    return Scanner()


def behaviour_of(path: Path) -> np.ndarray | None:
    """How the person of an enrolled clip moves, blinks and speaks (people.behaviour), read
    by the video scan; None when the clip follows several people or gives no statistic."""
    from fakescope.people.behaviour import of_report

    report = _scanner().scan(path)
    if report.media_type != "video" or len([t for t in report.tracks if t.counted]) > 1:
        return None
    stats = of_report(report)
    return stats if np.isfinite(stats).any() else None


@dataclass
class Collected:
    """The vectors found, each with the name of its file; ``notes`` for the operator."""

    faces: list[np.ndarray] = field(default_factory=list, repr=False)
    face_sources: list[str] = field(default_factory=list)
    voices: list[np.ndarray] = field(default_factory=list, repr=False)
    voice_sources: list[str] = field(default_factory=list)
    behaviours: list[np.ndarray] = field(default_factory=list, repr=False)
    behaviour_sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _decode(path: Path):  # type: ignore[no-untyped-def]
    from fakescope.media import decode, read_file

    limits = MediaLimits()
    try:
        return decode(read_file(path, limits), limits)
    except FakescopeError as exc:
        raise EnrolMediaError(f"{path.name}: {exc}") from None


def _one_face(faces: list[FaceTemplate]) -> FaceTemplate | None:
    """The largest face, or None when a second one is nearly as large."""
    if not faces:
        return None
    faces = sorted(faces, key=lambda f: -f.size)
    if len(faces) > 1 and faces[1].size >= AMBIGUOUS_SIZE * faces[0].size:
        return None
    return faces[0]


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)


class Enroller:
    """Collects templates file by file; encoders are made on first use (a photo-only
    enrolment never loads the speaker model). ``say`` gets one line per file."""

    def __init__(self, faces: Callable[[], FaceEncoder] = face_encoder,
                 voices: Callable[[], VoiceEncoder] = voice_encoder,
                 say: Callable[[str], None] = lambda _line: None,
                 behaviour: Callable[[Path], np.ndarray | None] | None = None) -> None:
        self._make_face, self._make_voice = faces, voices
        self._behaviour = behaviour if behaviour is not None else behaviour_of
        self._face: FaceEncoder | None = None
        self._voice: VoiceEncoder | None = None
        self.say = say
        self.out = Collected()

    @property
    def face(self) -> FaceEncoder:
        if self._face is None:
            self._face = self._make_face()
        return self._face

    @property
    def voice(self) -> VoiceEncoder:
        if self._voice is None:
            self._voice = self._make_voice()
        return self._voice

    def photo(self, path: Path) -> None:
        from fakescope.media import ImageMedia

        media = _decode(path)
        if not isinstance(media, ImageMedia):
            raise EnrolMediaError(f"{path.name} is {media.media_type}, not a photo: give it with "
                                  f"--{'video' if media.media_type == 'video' else 'audio'}")
        faces = self.face.faces(media.rgb)
        if not faces:
            raise EnrolMediaError(f"{path.name}: no face found (faces under 40 px are not used): "
                                  "give a photo where the person's face is clearly visible")
        face = _one_face(faces)
        if face is None:
            raise EnrolMediaError(f"{path.name} holds {len(faces)} faces of similar size: crop it to "
                                  "the person to enrol")
        self.out.faces.append(_unit(face.vector))
        self.out.face_sources.append(path.name)
        self.say(f"photo {path.name}: face of {face.box[2]}x{face.box[3]} px"
                 + (f" (the largest of {len(faces)})" if len(faces) > 1 else ""))

    def video(self, path: Path, frames: int = VIDEO_FRAMES) -> None:
        from fakescope.media import VideoMedia
        from fakescope.people.face_id import SAME_PERSON_COSINE

        media = _decode(path)
        if not isinstance(media, VideoMedia):
            raise EnrolMediaError(f"{path.name} is {media.media_type}, not a video: give it with "
                                  f"--{'photo' if media.media_type == 'image' else 'audio'}")
        found: list[np.ndarray] = []
        seen: set[float] = set()
        read = ambiguous = 0
        try:
            for fr in media.frames_at(media.sample_times(frames)):
                if fr.time_s in seen:  # a short clip gives one frame for several times
                    continue
                seen.add(fr.time_s)
                read += 1
                all_faces = self.face.faces(fr.rgb)
                face = _one_face(all_faces)
                if face is None:
                    ambiguous += bool(all_faces)
                    continue
                found.append(_unit(face.vector))
        except FakescopeError as exc:
            raise EnrolMediaError(f"{path.name}: {exc}") from None
        dropped = 0
        if len(found) >= 3:
            # The frames' medoid is the clip's main person; a frame far from it shows
            # someone else (a cut, an interviewer) and is left out.
            sims = np.stack(found) @ np.stack(found).T
            medoid = int(np.argmax(sims.sum(1)))
            keep = [v for i, v in enumerate(found) if sims[medoid, i] >= SAME_PERSON_COSINE]
            dropped, found = len(found) - len(keep), keep
        voice = self._video_voice(media, path)
        if not found and voice is None:
            raise EnrolMediaError(f"{path.name}: no single clear face in {read} frames and no usable voice")
        self.out.faces += found
        self.out.face_sources += [path.name] * len(found)
        parts = [f"faces from {len(found)} of {read} frames"]
        if ambiguous:
            parts.append(f"{ambiguous} with several similar faces skipped")
        if dropped:
            parts.append(f"{dropped} showing someone else left out")
        parts.append("voice from its audio track" if voice is not None else "no voice")
        if found:
            stats = self._behaviour(path)
            if stats is not None:
                self.out.behaviours.append(stats)
                self.out.behaviour_sources.append(path.name)
                parts.append("how they move and blink")
        self.say(f"video {path.name}: " + ", ".join(parts))

    def _video_voice(self, media, path: Path) -> np.ndarray | None:  # type: ignore[no-untyped-def]
        if not media.info.has_audio:
            return None
        try:
            samples = media.audio(AUDIO_RATE, max_seconds=MAX_AUDIO_S)
            vec = self.voice.embed(samples, AUDIO_RATE) if samples is not None and len(samples) else None
        except FakescopeError as exc:
            # Faces may still be enrolled from the clip; the operator is told why the voice is not.
            self.out.notes.append(f"{path.name}: voice not enrolled ({exc})")
            return None
        if vec is None:
            self.out.notes.append(f"{path.name}: too little speech in the audio track for a voice template")
            return None
        self.out.voices.append(_unit(vec))
        self.out.voice_sources.append(path.name)
        return self.out.voices[-1]

    def audio(self, path: Path) -> None:
        from fakescope.media import AudioMedia, VideoMedia

        media = _decode(path)
        if isinstance(media, AudioMedia):
            samples = media.samples(AUDIO_RATE, max_seconds=MAX_AUDIO_S)
        elif isinstance(media, VideoMedia):
            samples = media.audio(AUDIO_RATE, max_seconds=MAX_AUDIO_S)
            if samples is None:
                raise EnrolMediaError(f"{path.name} is a video without sound: give it with --video")
        else:
            raise EnrolMediaError(f"{path.name} is a picture, not audio: give it with --photo")
        try:
            vec = self.voice.embed(samples, AUDIO_RATE) if len(samples) else None
        except FakescopeError as exc:
            raise EnrolMediaError(f"{path.name}: {exc}") from None
        if vec is None:
            raise EnrolMediaError(f"{path.name}: too little speech for a voice template")
        self.out.voices.append(_unit(vec))
        self.out.voice_sources.append(path.name)
        self.say(f"audio {path.name}: voice of {len(samples) / AUDIO_RATE:.1f} s")

    def check_faces_agree(self) -> None:
        """A note for each file whose face does not resemble the other files' faces: the
        wrong person may have been given (enrolment goes on: the operator decides)."""
        from fakescope.people.face_id import SAME_PERSON_COSINE

        names = list(dict.fromkeys(self.out.face_sources))
        if len(names) < 2:
            return
        vecs = np.stack(self.out.faces)
        src = np.array(self.out.face_sources)
        for name in names:
            mine, rest = vecs[src == name].mean(0), vecs[src != name].mean(0)
            cos = float(_unit(mine) @ _unit(rest))
            if cos < SAME_PERSON_COSINE:
                self.out.notes.append(f"{name}: its face does not look like the other files' (similarity "
                                      f"{cos:.2f}): is it the same person?")
