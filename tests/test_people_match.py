"""Protected people in scans (issue 31): each face and the voice against the enrolled
people, worded for what a match shows (impersonation when face and voice disagree,
likeness only when they agree); removal holds from the next scan; every match audited;
nothing biometric in the report."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from fakescope.config import PeopleSettings, ScanSettings
from fakescope.people import enrolment, store
from fakescope.people.crypto import KEY_ENV, WrongPeopleKeyError, generate_key, parse_key
from fakescope.people.face_id import FaceTemplate
from fakescope.people.match import FACE_MATCH, VOICE_MATCH, Gallery, findings, tracks
from fakescope.report.schema import IdentityMatch
from fakescope.store.database import Database
from fakescope.store.models import AuditEvent


def _unit(seed: int, n: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=n).astype(np.float32)
    return v / np.linalg.norm(v)


JANE_FACE, JANE_VOICE = _unit(1, 128), _unit(2, 256)
OTHER_FACE, OTHER_VOICE = _unit(3, 128), _unit(4, 256)


def _m(modality: str, person: str | None, sim: float, subject: str = "face 1") -> IdentityMatch:
    t = FACE_MATCH if modality == "face" else VOICE_MATCH
    return IdentityMatch(
        subject=subject,
        modality=modality,
        person=person,
        similarity=sim,  # type: ignore[arg-type]
        threshold=t,
        matches=sim >= t,
    )


def test_gallery_and_tracks() -> None:
    g = Gallery.of(
        {
            "Jane Doe": {"face": np.stack([OTHER_FACE, JANE_FACE]), "voice": np.zeros((0, 256))},
            "Sam Roe": {"face": np.zeros((0, 128)), "voice": OTHER_VOICE[None]},
        }
    )
    assert g.names == ("Jane Doe", "Sam Roe") and set(g.face) == {"Jane Doe"} and set(g.voice) == {"Sam Roe"}
    person, sim = g.closest(JANE_FACE * 3, "face")  # the closest of a person's templates, any scale
    assert person == "Jane Doe" and sim == pytest.approx(1.0, abs=1e-5)
    assert g.closest(JANE_VOICE, "voice")[0] == "Sam Roe"  # the only one with a voice
    # two people over four frames: two tracks, the one seen most first
    noisy = [JANE_FACE + 0.05 * _unit(10 + i, 128) for i in range(4)]
    out = tracks([[noisy[0], OTHER_FACE], [noisy[1]], [noisy[2], OTHER_FACE], [noisy[3]]])
    assert [n for _, n in out] == [4, 2]
    assert float(out[0][0] @ JANE_FACE) > 0.99 and float(out[1][0] @ OTHER_FACE) > 0.99


def test_findings_word_what_a_match_can_show() -> None:
    both = findings([_m("face", "Jane Doe", 0.7), _m("voice", "Jane Doe", 0.9, "voice")])
    assert len(both) == 1 and "both match Jane Doe" in both[0] and "likeness only" in both[0]
    face_only = findings([_m("face", "Jane Doe", 0.7), _m("voice", "Jane Doe", 0.3, "voice")])
    assert "the face matches Jane Doe" in face_only[0] and "evidence of impersonation" in face_only[0]
    assert f"0.30 < {VOICE_MATCH:.2f}" in face_only[0]
    other_voice = findings([_m("face", "Jane Doe", 0.7), _m("voice", "Sam Roe", 0.95, "voice")])
    assert any("impersonation" in f and "closest to Sam Roe" in f for f in other_voice)
    assert any("the voice matches Sam Roe" in f and "no face does" in f for f in other_voice)
    assert "likeness only" in findings([_m("face", "Jane Doe", 0.7)])[0]  # a photo: no voice
    assert "clone" in findings([_m("voice", "Jane Doe", 0.9, "voice")])[0]  # an audio file
    assert findings([_m("face", "Jane Doe", 0.1)]) == ["no face or voice matches an enrolled person"]
    assert findings([]) == []


class StubFaces:
    """Bright pictures show Jane Doe, dark ones someone else (the project's detector finds
    the faces; the identity is read from the brightness, a known truth)."""

    def __init__(self) -> None:
        from fakescope.faces.detector import get_detector

        self.det = get_detector()

    def faces(self, rgb: np.ndarray) -> list[FaceTemplate]:
        who = JANE_FACE if rgb.mean() > 100 else OTHER_FACE
        out = [
            FaceTemplate(
                (int(f.box[0]), int(f.box[1]), int(f.box[2] - f.box[0]), int(f.box[3] - f.box[1])),
                0.9,
                who.copy(),
            )
            for f in self.det.detect(rgb)
        ]
        return sorted(out, key=lambda t: -t.size)


class StubVoice:
    """Loud speech (RMS over 0.12) is Jane Doe's voice, quieter speech (the demo clip's,
    0.08) someone else's."""

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
        level = float(np.sqrt(np.mean(samples**2)))
        if level < 1e-3:
            return None
        return JANE_VOICE.copy() if level > 0.12 else OTHER_VOICE.copy()


@pytest.fixture
def enrolled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Database, str, PeopleSettings]:
    monkeypatch.setattr(enrolment, "face_encoder", StubFaces)
    monkeypatch.setattr(enrolment, "voice_encoder", StubVoice)
    key_text = generate_key()
    monkeypatch.setenv(KEY_ENV, key_text)
    url = f"sqlite:///{tmp_path / 'people.db'}"
    db = Database(url)
    db.migrate()
    store.enrol(
        db,
        "Jane Doe",
        "written consent, ref. T-1",
        [JANE_FACE],
        [JANE_VOICE],
        parse_key(key_text),
        "cli:test",
    )
    return db, key_text, PeopleSettings(database_url=url)


def test_a_photo_of_the_enrolled_person_matches_and_is_audited_and_removal_holds_next_scan(
    tmp_path: Path, enrolled: tuple[Database, str, PeopleSettings]
) -> None:
    from fakescope.demo import astronaut, save_jpeg
    from fakescope.scan.scanner import Scanner

    db, _, people = enrolled
    photo = tmp_path / "jane.jpg"
    save_jpeg(astronaut(), photo)
    scanner = Scanner(ScanSettings(people=people))
    report = scanner.scan(photo)
    assert report.people is not None and report.people.enrolled == 1
    m = report.people.matches[0]
    assert (m.subject, m.modality, m.person, m.matches) == ("face 1", "face", "Jane Doe", True)
    assert m.similarity == pytest.approx(1.0, abs=1e-4) and m.box is not None
    assert report.people.findings == [
        f"the face matches Jane Doe ({m.similarity:.2f}): likeness only — a face "
        "swap of them matches too; no voice to compare"
    ]
    assert report.timing_ms.people > 0
    # nothing biometric in the report: names and scores only
    text = report.to_json()
    assert "vector" not in text and base64.b64encode(JANE_FACE.tobytes()).decode()[:12] not in text
    assert f"{float(JANE_FACE[0]):.4f}" not in text
    scanner.audit_people(report, "cli:test", "scan-1")
    with db.read() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "people.match")))
    assert len(events) == 1 and events[0].scan_id == "scan-1"
    assert json.loads(events[0].detail or "{}") == {"name": "Jane Doe", "modality": "face", "score": 1.0}
    store.remove(db, "Jane Doe", "cli:test")
    after = scanner.scan(photo)
    assert after.people is not None and after.people.enrolled == 0 and after.people.matches == []


def test_a_clip_with_her_face_and_another_voice_is_worded_as_impersonation(
    tmp_path: Path, enrolled: tuple[Database, str, PeopleSettings]
) -> None:
    from fakescope.demo import talking_clip
    from fakescope.scan.scanner import Scanner

    clip = talking_clip(tmp_path / "clip.mp4", seconds=3.0)  # a bright face, quiet speech: another voice
    report = Scanner(ScanSettings(people=enrolled[2])).scan(clip)
    assert report.people is not None, report.notes
    by = {m.subject: m for m in report.people.matches}
    assert by["face track 1"].person == "Jane Doe" and by["face track 1"].matches
    assert by["face track 1"].frames is not None and by["face track 1"].frames >= 4
    assert by["voice"].person == "Jane Doe" and not by["voice"].matches
    assert any("evidence of impersonation" in f for f in report.people.findings)


def test_an_audio_file_in_her_voice_matches_as_likeness_only(
    tmp_path: Path, enrolled: tuple[Database, str, PeopleSettings]
) -> None:
    from fakescope.demo_audio import speechlike, write_audio
    from fakescope.scan.scanner import Scanner

    wav = write_audio(tmp_path / "call.wav", 1.8 * speechlike(4.0))  # RMS 0.14
    report = Scanner(ScanSettings(people=enrolled[2])).scan(wav)
    assert report.people is not None and [m.subject for m in report.people.matches] == ["voice"]
    assert report.people.matches[0].matches and "clone of their voice" in report.people.findings[0]


def test_off_by_default_and_another_key_is_refused(
    enrolled: tuple[Database, str, PeopleSettings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fakescope.demo import astronaut, save_jpeg
    from fakescope.scan.scanner import Scanner

    photo = tmp_path / "jane.jpg"
    save_jpeg(astronaut(), photo)
    assert Scanner(ScanSettings()).scan(photo).people is None
    monkeypatch.setenv(KEY_ENV, generate_key())
    with pytest.raises(WrongPeopleKeyError):
        Scanner(ScanSettings(people=enrolled[2]))


def test_behaviour_far_outside_the_enrolled_range_only() -> None:
    from fakescope.people.behaviour import DIM, WITHIN_SD, tolerance, unlike, wording

    ref = np.array([20.0, 200.0, 0.045, 0.015, 0.11, 0.86], np.float32)
    assert unlike(ref * 1.1, [ref]) == []  # a tenth more of everything: still like them
    still = np.array([np.nan, np.nan, 0.001, 0.007, 0.10, 0.0], np.float32)  # a photo moved about
    assert [i for i, *_ in unlike(still, [ref])] == [2, 5]  # too still; lips do not follow the speech
    assert unlike(still, []) == [] and unlike(np.full(DIM, np.nan), [ref]) == []
    # the range of several recordings, widened by tolerance(n) spreads: just inside, just outside
    refs = [ref, ref + np.array([0, 0, 0, 0, 0.2, 0], np.float32), ref, ref]
    edge = float(0.31 + tolerance(4) * WITHIN_SD[4])
    inside, outside = ref.copy(), ref.copy()
    inside[4], outside[4] = edge - 0.01, edge + 0.01
    assert unlike(inside, refs) == [] and [i for i, *_ in unlike(outside, refs)] == [4]
    line = wording("Jane Doe", still, [ref])
    assert line is not None and line.startswith(
        "unlike Jane Doe's 1 enrolled recording in head movement 0.001"
    )
    assert wording("Jane Doe", ref, [ref]) is None


def test_a_photo_of_her_moved_about_is_unlike_her_enrolled_recordings(
    tmp_path: Path, enrolled: tuple[Database, str, PeopleSettings]
) -> None:
    from fakescope.demo import talking_clip
    from fakescope.people.enrolment import behaviour_of
    from fakescope.scan.scanner import Scanner

    db, key_text, people = enrolled
    store.remove(db, "Jane Doe", "cli:test")
    ref = behaviour_of(talking_clip(tmp_path / "enrolled.mp4", seconds=6.0, blinks=(1.0, 3.5)))
    assert ref is not None and np.isfinite(ref).sum() >= 4
    store.enrol(db, "Jane Doe", "consent", [JANE_FACE], [], parse_key(key_text), "cli:test", behaviours=[ref])
    scanner = Scanner(ScanSettings(people=people))
    live = scanner.scan(talking_clip(tmp_path / "other.mp4", seconds=6.0, blinks=(2.0, 4.5), seed=1))
    assert live.people is not None and live.people.matches[0].unlike == []
    assert not any(f.startswith("unlike") for f in live.people.findings)
    still = scanner.scan(talking_clip(tmp_path / "still.mp4", seconds=6.0, still=True))
    assert still.people is not None and "motion.drift" in (still.people.matches[0].unlike or [])
    assert any(
        f.startswith("unlike Jane Doe's 1 enrolled recording in head movement") for f in still.people.findings
    )
    assert still.verdict in ("fake", "real", "inconclusive")  # the finding is beside the verdict, not in it


def test_two_speakers_in_one_recording_are_two_voices() -> None:
    from fakescope.people.match import AUDIO_RATE, speakers

    rate = AUDIO_RATE
    a, b = _unit(20, 256), _unit(21, 256)

    def embed(x: np.ndarray, sr: int) -> np.ndarray | None:
        """Speaker A speaks at 140 Hz, B at 220 Hz (the known truth a stub can read): a window
        is whoever speaks in most of it; the whole recording blends them by time."""
        t = np.arange(len(x)) / sr
        ra = float(np.abs(np.mean(x * np.sin(2 * np.pi * 140 * t))))
        rb = float(np.abs(np.mean(x * np.sin(2 * np.pi * 220 * t))))
        v = ra * a + rb * b
        return v / np.linalg.norm(v)

    t = np.arange(6 * rate) / rate
    tone_a, tone_b = np.sin(2 * np.pi * 140 * t), np.sin(2 * np.pi * 220 * t)
    one = speakers(np.concatenate([tone_a, tone_a]).astype(np.float32), embed)
    assert len(one) == 1 and float(one[0] @ a) > 0.99
    two = speakers(np.concatenate([tone_a, tone_b, tone_a, tone_b]).astype(np.float32), embed)
    assert len(two) == 2
    assert max(float(v @ a) for v in two) > 0.95 and max(float(v @ b) for v in two) > 0.95
    assert len(speakers(tone_a[: 3 * rate].astype(np.float32), embed)) == 1  # too short to split
    g = Gallery.of({"Jane Doe": {"face": JANE_FACE[None], "voice": a[None]}})
    # her face, two voices of which one is hers: likeness, not impersonation
    ms = [
        _m("face", "Jane Doe", 0.7),
        _m("voice", "Jane Doe", 0.9, "voice 1"),
        _m("voice", "Jane Doe", 0.2, "voice 2"),
    ]
    assert "both match Jane Doe" in findings(ms)[0]
    assert g.closest(two[0], "voice")[0] == "Jane Doe"
