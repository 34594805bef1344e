"""Is this really them? A scan's faces and voice against the enrolled protected people
(issue 31; docs/people.md).

A face (a photo's face, or a video's face track: its frames' vectors averaged) and each
voice (of an audio file or a video's sound; several speakers told apart by ``speakers``)
are compared with every enrolled person's templates of that modality; the similarity to a
person is the cosine to their closest template. The report names the closest person and
the similarity for every subject, and words what a match can show:

- the face matches P and the voice does not (or the voice matches P and no face does):
  evidence of impersonation, P's likeness with someone else's face or voice;
- face and voice both match P: evidence only of likeness, since a good face swap and a good
  voice clone match too (the detectors' verdict still says whether it was made);
- one modality only in the media: likeness, with the same caution.

The findings never change the verdict: a real interview of P with a narrator's voice is
"face matches, voice does not" too. Thresholds: SFace's published 0.363 for faces; the
voice threshold is the LibriSpeech EER point of the bundled speaker encoder
(research/people_match_eval.py; docs/metrics.md, "Protected people").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.people.face_id import SAME_PERSON_COSINE
from fakescope.report.schema import IdentityMatch, PeopleCheck, ScanReport

FACE_MATCH = SAME_PERSON_COSINE
VOICE_MATCH = 0.773  # the equal-error point on the LibriSpeech sample (research/people_match_eval.py)
VIDEO_FRAMES = 8
AUDIO_RATE = 16000
MAX_AUDIO_S = 120.0
SPEAKER_WINDOW_S = 3.0
SPEAKER_JOIN = 0.68


@dataclass(frozen=True)
class Gallery:
    """The enrolled people's templates, decrypted, in memory only."""

    names: tuple[str, ...]
    face: dict[str, np.ndarray]
    voice: dict[str, np.ndarray]
    behaviour: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, templates: dict[str, dict[str, np.ndarray]]) -> Gallery:
        return cls(tuple(sorted(templates)),
                   {n: t["face"] for n, t in templates.items() if len(t["face"])},
                   {n: t["voice"] for n, t in templates.items() if len(t["voice"])},
                   {n: t["behaviour"] for n, t in templates.items() if len(t.get("behaviour", ()))})

    def closest(self, vector: np.ndarray, modality: str) -> tuple[str | None, float | None]:
        """The enrolled person whose closest template of ``modality`` is most similar."""
        best: tuple[str | None, float | None] = (None, None)
        v = np.asarray(vector, np.float32).ravel()
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        for name, templates in (self.face if modality == "face" else self.voice).items():
            sim = float(np.max(templates @ v))
            if best[1] is None or sim > best[1]:
                best = (name, sim)
        return best


def _match(subject: str, modality: str, vector: np.ndarray, gallery: Gallery, **where: Any) -> IdentityMatch:
    threshold = FACE_MATCH if modality == "face" else VOICE_MATCH
    person, sim = gallery.closest(vector, modality)
    return IdentityMatch(subject=subject, modality=modality, person=person,  # type: ignore[arg-type]
                         similarity=None if sim is None else round(sim, 4), threshold=threshold,
                         matches=sim is not None and sim >= threshold, **where)


def tracks(frames: Sequence[Sequence[np.ndarray]], join: float = FACE_MATCH) -> list[tuple[np.ndarray, int]]:
    """Faces of sampled frames joined into tracks by identity (a face joins the most
    similar track at or above ``join``, or starts one): each track's unit mean vector and
    how many frames it was seen in; most frames first."""
    sums: list[np.ndarray] = []
    counts: list[int] = []
    for faces in frames:
        taken: set[int] = set()
        for v in faces:
            v = np.asarray(v, np.float32) / max(float(np.linalg.norm(v)), 1e-12)
            sims = [float(v @ (s / np.linalg.norm(s))) if i not in taken else -2.0
                    for i, s in enumerate(sums)]
            i = int(np.argmax(sims)) if sims else -1
            if i >= 0 and sims[i] >= join:
                sums[i] = sums[i] + v
                counts[i] += 1
            else:
                sums.append(v.copy())
                counts.append(1)
                i = len(sums) - 1
            taken.add(i)
    order = sorted(range(len(sums)), key=lambda i: -counts[i])
    return [(sums[i] / np.linalg.norm(sums[i]), counts[i]) for i in order]


def findings(matches: list[IdentityMatch]) -> list[str]:
    """The wording of what the matches show, per enrolled person who matched."""
    faces = [m for m in matches if m.modality == "face"]
    voices = [m for m in matches if m.modality == "voice"]
    out = []
    matched = sorted({m.person for m in matches if m.matches and m.person is not None})
    for person in matched:
        face_hit = [m for m in faces if m.matches and m.person == person]
        voice_hit = [m for m in voices if m.matches and m.person == person]
        fs = max((m.similarity or 0.0) for m in face_hit) if face_hit else 0.0
        vs = max((m.similarity or 0.0) for m in voice_hit) if voice_hit else 0.0
        if face_hit and voice_hit:
            out.append(f"face ({fs:.2f}) and voice ({vs:.2f}) both match {person}: evidence of likeness "
                       "only — a good face swap or voice clone of them matches too")
        elif face_hit and voices:
            out.append(f"the face matches {person} ({fs:.2f}); the voice does not "
                       f"({_vs(voices, person)}): evidence of impersonation — {person}'s face with "
                       "another voice (or a narrator's over real footage)")
        elif face_hit:
            out.append(f"the face matches {person} ({fs:.2f}): likeness only — a face swap of them matches "
                       "too; no voice to compare")
        elif voice_hit and faces:
            out.append(f"the voice matches {person} ({vs:.2f}); no face does: evidence of "
                       f"impersonation — {person}'s voice with another face")
        elif voice_hit:
            out.append(f"the voice matches {person} ({vs:.2f}): likeness only — a clone of "
                       "their voice matches too")
    if not matched and matches:
        out.append("no face or voice matches an enrolled person")
    return out


def _vs(voices: list[IdentityMatch], person: str) -> str:
    """Why no voice is theirs: the nearest one's similarity to them, or whom it is closest to."""
    theirs = [v for v in voices if v.person == person and v.similarity is not None]
    if theirs:
        v = max(theirs, key=lambda m: m.similarity or 0.0)
        return f"{v.similarity:.2f} < {v.threshold:.2f}"
    others = sorted({v.person for v in voices if v.person is not None})
    return f"closest to {', '.join(others)}" if others else "no voice enrolled for them"


def speakers(samples: np.ndarray, embed: Callable[[np.ndarray, int], np.ndarray | None]) -> list[np.ndarray]:
    """The voices of a recording, most heard first: short recordings (under two windows) or
    recordings of one voice give the whole speech's vector; otherwise 3 s windows every
    1.5 s, each joined to the most similar voice at or above SPEAKER_JOIN (or starting
    one), voices heard in fewer than 15 % of the windows (and in under 2) dropped, each the
    unit mean of its windows. SPEAKER_JOIN lies between windows of one speaker (5th
    percentile 0.73) and of two (99th 0.64) on LibriSpeech."""
    n, hop = int(SPEAKER_WINDOW_S * AUDIO_RATE), int(SPEAKER_WINDOW_S / 2 * AUDIO_RATE)
    whole = embed(samples, AUDIO_RATE) if len(samples) else None
    if len(samples) < 2 * n:
        return [whole] if whole is not None else []
    windows = [v for v in (embed(samples[s : s + n], AUDIO_RATE) for s in range(0, len(samples) - n + 1, hop))
               if v is not None]
    groups = [(v, n_) for v, n_ in tracks([[v] for v in windows], SPEAKER_JOIN)
              if n_ >= max(2, 0.15 * len(windows))]
    if len(groups) <= 1:
        return [whole] if whole is not None else []
    return [v for v, _ in groups]


class PeopleMatcher:
    """Compares a scan's media with the gallery; the encoders are made on first use (a
    photo never loads the speaker encoder)."""

    def __init__(self, gallery: Callable[[], Gallery], faces: Callable[[], Any],
                 voices: Callable[[], Any]) -> None:
        self._gallery, self._make_face, self._make_voice = gallery, faces, voices
        self._face: Any = None
        self._voice: Any = None

    @property
    def face(self) -> Any:
        if self._face is None:
            self._face = self._make_face()
        return self._face

    @property
    def voice(self) -> Any:
        if self._voice is None:
            self._voice = self._make_voice()
        return self._voice

    def _voices(self, samples: np.ndarray, gallery: Gallery) -> list[IdentityMatch]:
        """Per speaker ("voice", or "voice 1", "voice 2", … when several are heard)."""
        found = speakers(samples, self.voice.embed)
        names = ["voice"] if len(found) == 1 else [f"voice {k}" for k in range(1, len(found) + 1)]
        return [_match(name, "voice", v, gallery) for name, v in zip(names, found, strict=True)]

    def _check(self, gallery: Gallery, matches: list[IdentityMatch]) -> PeopleCheck:
        return PeopleCheck(enrolled=len(gallery.names), matches=matches, findings=findings(matches))

    def image(self, rgb: np.ndarray) -> PeopleCheck:
        gallery = self._gallery()
        matches = []
        if gallery.face:
            for k, f in enumerate(self.face.faces(rgb), 1):
                x, y, w, h = (round(float(v)) for v in f.box)
                matches.append(_match(f"face {k}", "face", f.vector, gallery, box=(x, y, x + w, y + h)))
        return self._check(gallery, matches)

    def video(self, media: Any, report: ScanReport | None = None) -> PeopleCheck:
        gallery = self._gallery()
        matches = []
        if gallery.face:
            frames, seen = [], set()
            for fr in media.frames_at(media.sample_times(VIDEO_FRAMES)):
                if fr.time_s not in seen:
                    seen.add(fr.time_s)
                    frames.append([f.vector for f in self.face.faces(fr.rgb)])
            for k, (vec, n) in enumerate(tracks(frames), 1):
                matches.append(_match(f"face track {k}", "face", vec, gallery, frames=n))
        behaviour = []
        main = matches[0] if matches else None
        # The scan's statistics are its main person's: compared when the face seen most is
        # an enrolled person with recordings of how they move (people.behaviour).
        if report is not None and main is not None and main.matches and main.person in gallery.behaviour:
            from fakescope.people.behaviour import FEATURES, of_report, unlike, wording

            probe = of_report(report)
            refs = list(gallery.behaviour[main.person])
            main.unlike = [f"{FEATURES[i][0]}.{FEATURES[i][1]}" for i, *_ in unlike(probe, refs)]
            line = wording(main.person, probe, refs)
            if line is not None:
                behaviour.append(line)
        if gallery.voice and media.info.has_audio:
            samples = media.audio(AUDIO_RATE, max_seconds=MAX_AUDIO_S)
            if samples is not None:
                matches += self._voices(samples, gallery)
        check = self._check(gallery, matches)
        check.findings += behaviour
        return check

    def audio(self, samples: np.ndarray) -> PeopleCheck:
        gallery = self._gallery()
        matches = []
        if gallery.voice:
            matches += self._voices(samples[: int(MAX_AUDIO_S * AUDIO_RATE)], gallery)
        return self._check(gallery, matches)


class StoreGallery:
    """The gallery of a people store, re-read whenever someone is enrolled or removed (a
    cheap count per scan), so that a removal holds from the next scan on."""

    def __init__(self, database_url: str, key_file: Path | None = None) -> None:
        from fakescope.people.crypto import load_key
        from fakescope.people.store import check_key
        from fakescope.store.database import Database

        self.key = load_key(key_file)
        self.db = Database(database_url)
        self.db.migrate()
        check_key(self.db, self.key)  # another key than the enrolment's: say so now, not per scan
        self._seen: tuple[int, int, str] | None = None
        self._gallery = Gallery((), {}, {})

    def __call__(self) -> Gallery:
        from fakescope.people import store

        now = store.generation(self.db)
        if now != self._seen:
            self._gallery = Gallery.of(store.load_templates(self.db, self.key))
            self._seen = now
        return self._gallery

    def audit(self, check: PeopleCheck, actor: str | None, scan_id: str | None) -> None:
        """Every match, audited (name, modality and similarity; never a template)."""
        from fakescope.people import store

        for m in check.matches:
            if m.matches and m.person is not None and m.similarity is not None:
                store.record_match(self.db, actor, m.person, m.modality, m.similarity, scan_id)


def matcher_for(database_url: str, key_file: Path | None = None) -> tuple[PeopleMatcher, StoreGallery]:
    from fakescope.people.enrolment import face_encoder, voice_encoder

    gallery = StoreGallery(database_url, key_file)
    return PeopleMatcher(gallery, face_encoder, voice_encoder), gallery
