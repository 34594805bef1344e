"""Protected people through the API (issue 31): admin keys enrol, list and remove; the
feature is off (503) until the service has the key, except removal, which never waits on
one; refused media give the one-line reason; removal leaves no template row; every
enrolment and removal is audited; the retention purge erases old enrolments."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update

from fakescope.people import enrolment, store
from fakescope.people.crypto import KEY_ENV, KEY_FILE_ENV, generate_key, parse_key
from fakescope.people.face_id import FaceTemplate
from fakescope.service.keys import create_key
from fakescope.service.people import OFF
from fakescope.store.database import utcnow
from fakescope.store.models import AuditEvent, Person, PersonTemplate

PERSON_KEYS = {"name", "note", "created_at", "created_by", "faces", "voices", "behaviours"}


def _unit(seed: int, dim: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


class StubFaces:
    """The project's own detector finds the faces; every face is the same person."""

    def __init__(self) -> None:
        from fakescope.faces.detector import get_detector

        self.det = get_detector()

    def faces(self, rgb: np.ndarray) -> list[FaceTemplate]:
        out = []
        for f in self.det.detect(rgb):
            x0, y0, x1, y1 = (int(v) for v in f.box)
            out.append(FaceTemplate((x0, y0, x1 - x0, y1 - y0), 0.9, _unit(7, 128)))
        return sorted(out, key=lambda t: -t.size)


class StubVoice:
    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
        return _unit(8, 256) if float(np.sqrt(np.mean(samples ** 2))) >= 1e-3 else None


@pytest.fixture(autouse=True)
def stubs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enrolment, "face_encoder", StubFaces)
    monkeypatch.setattr(enrolment, "voice_encoder", StubVoice)
    # Only what a test gives the service counts: never a key from the environment.
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


@pytest.fixture(scope="module")
def media() -> dict[str, bytes]:
    import soundfile as sf

    from fakescope.demo import no_face_photo

    rate = 16000
    t = np.arange(2 * rate) / rate
    wav = io.BytesIO()
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 140 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)))
             .astype(np.float32), rate, format="WAV")
    coffee = io.BytesIO()
    from PIL import Image

    Image.fromarray(no_face_photo()).save(coffee, format="JPEG", quality=90)
    return {"wav": wav.getvalue(), "coffee": coffee.getvalue()}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.key"
    path.write_text(generate_key() + "\n")
    return path


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _enrol(c: Any, headers: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]],
           **fields: str) -> Any:
    return c.post("/v1/people", files=files, data=fields, headers=headers)


def _actions(svc: Any) -> list[tuple[str, str | None]]:
    with svc.db.read() as s:
        return [(e.action, e.detail) for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action.like("people.%")).order_by(AuditEvent.id))]


def _staged(svc: Any) -> list[str]:
    return [p.name for p in svc.blobs.staging_dir.iterdir() if p.name.startswith("people-")]


def test_an_admin_enrols_lists_and_removes(make_client, jpeg_bytes, media, key_file) -> None:  # type: ignore[no-untyped-def]
    c = make_client(auth="required", start_workers=False, people_key_file=key_file)
    svc = c.app.state.service
    admin, team = create_key(svc.db, "ops", admin=True), create_key(svc.db, "team")
    photo = ("photos", ("ada.jpg", jpeg_bytes, "image/jpeg"))
    voice = ("audio", ("ada.wav", media["wav"], "audio/wav"))
    consent = "written consent, 2025-06, ref. HR-4411"

    # A key that is not an admin's may do none of it, and is told why.
    r = _enrol(c, _auth(team.token), [photo], name="Ada Lovelace", note=consent)
    assert r.status_code == 403 and "admin API key" in r.json()["detail"]
    assert c.get("/v1/people", headers=_auth(team.token)).status_code == 403
    assert c.delete("/v1/people/Ada Lovelace", headers=_auth(team.token)).status_code == 403
    assert c.get("/v1/people").status_code == 401

    r = _enrol(c, _auth(admin.token), [photo, voice], name="  Ada   Lovelace ", note=consent)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == PERSON_KEYS | {"notes"}
    assert (body["name"], body["note"], body["faces"], body["voices"], body["created_by"]) == \
        ("Ada Lovelace", consent, 1, 1, admin.id)
    listed = c.get("/v1/people", headers=_auth(admin.token))
    assert listed.status_code == 200, listed.text
    assert [set(p) for p in listed.json()] == [PERSON_KEYS]  # never a vector
    assert [(p["name"], p["faces"], p["voices"]) for p in listed.json()] == [("Ada Lovelace", 1, 1)]
    with svc.db.read() as s:
        person_id = s.scalar(select(Person.id).where(Person.name == "Ada Lovelace"))
        sources = set(s.scalars(select(PersonTemplate.source).where(PersonTemplate.person_id == person_id)))
    assert sources == {"ada.jpg", "ada.wav"}  # the client's file names, not the temporary paths
    loaded = store.load_templates(svc.db, parse_key(key_file.read_text()))["Ada Lovelace"]
    np.testing.assert_allclose(loaded["face"][0], _unit(7, 128), atol=1e-6)

    # Refused: the same name again, media that cannot say who is meant, a form lacking parts.
    r = _enrol(c, _auth(admin.token), [photo], name="Ada Lovelace", note=consent)
    assert r.status_code == 409 and "already enrolled" in r.json()["detail"]
    r = _enrol(c, _auth(admin.token), [("photos", ("coffee.jpg", media["coffee"], "image/jpeg"))],
               name="Bob", note=consent)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("coffee.jpg: no face found") and "\n" not in detail
    r = _enrol(c, _auth(admin.token), [photo], name="Bob")
    assert r.status_code == 422 and "note field" in r.json()["detail"]
    r = _enrol(c, _auth(admin.token), [], name="Bob", note=consent)  # no file: httpx sends a plain form
    assert r.status_code == 415 and "at least one file" in r.json()["detail"]
    fields_only = (b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nBob\r\n"
                   b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nconsent\r\n--b--\r\n")
    r = c.post("/v1/people", content=fields_only,
               headers={**_auth(admin.token), "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 422 and "at least one file" in r.json()["detail"]
    r = _enrol(c, _auth(admin.token), [("file", ("a.jpg", jpeg_bytes, "image/jpeg"))], name="Bob",
               note=consent)
    assert r.status_code == 400 and "unknown form part 'file'" in r.json()["detail"]
    small = create_key(svc.db, "small", admin=True, max_upload_bytes=10_000)
    r = _enrol(c, _auth(small.token), [photo], name="Bob", note=consent)
    assert r.status_code == 413 and "larger than the limit" in r.json()["detail"]
    assert [p["name"] for p in c.get("/v1/people", headers=_auth(admin.token)).json()] == ["Ada Lovelace"]
    assert _staged(svc) == []  # the media never outlive the request, refused or not

    r = c.delete("/v1/people/Ada Lovelace", headers=_auth(admin.token))
    assert r.status_code == 204, r.text
    with svc.db.read() as s:
        assert s.scalar(select(func.count()).select_from(PersonTemplate)
                        .where(PersonTemplate.person_id == person_id)) == 0
        assert s.scalar(select(func.count()).select_from(Person)) == 0
    assert c.get("/v1/people", headers=_auth(admin.token)).json() == []
    r = c.delete("/v1/people/Ada Lovelace", headers=_auth(admin.token))
    assert r.status_code == 404 and "no protected person named" in r.json()["detail"]
    actions = [a for a, _ in _actions(svc)]
    assert actions.count("people.enrol") == 1 and actions.count("people.remove") == 1
    assert actions.index("people.enrol") < actions.index("people.remove")
    assert all("Ada Lovelace" in d for a, d in _actions(svc) if a != "people.list")  # names, no vectors


def test_off_without_a_key_but_removal_still_works(make_client, jpeg_bytes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = make_client(start_workers=False)  # auth off: the local user is an admin
    svc = c.app.state.service
    r = _enrol(c, {}, [("photos", ("ada.jpg", jpeg_bytes, "image/jpeg"))], name="Ada", note="consent")
    assert r.status_code == 503 and r.json()["detail"] == OFF
    r = c.get("/v1/people")
    assert r.status_code == 503 and r.json()["detail"] == OFF
    assert _staged(svc) == []
    # Enrolled while the service had a key, which it has since lost: the erasure still happens.
    store.enrol(svc.db, "Ada", "consent", [_unit(1, 128)], [], parse_key(generate_key()), "cli:op")
    assert c.delete("/v1/people/Ada").status_code == 204
    with svc.db.read() as s:
        assert s.scalar(select(func.count()).select_from(PersonTemplate)) == 0
    assert c.delete("/v1/people/Ada").status_code == 404

    # A key that is configured but unusable is named, not taken for "off".
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    c2 = make_client(start_workers=False, people_key_file=bad)
    r = c2.get("/v1/people")
    assert r.status_code == 503 and "is not base64 of 32 bytes" in r.json()["detail"]


def test_the_service_key_must_fit_the_enrolled_templates(make_client, jpeg_bytes, key_file) -> None:  # type: ignore[no-untyped-def]
    c = make_client(start_workers=False, people_key_file=key_file)
    svc = c.app.state.service
    store.enrol(svc.db, "Ada", "consent", [_unit(1, 128)], [], parse_key(generate_key()), "cli:op")
    r = _enrol(c, {}, [("photos", ("bob.jpg", jpeg_bytes, "image/jpeg"))], name="Bob", note="consent")
    assert r.status_code == 503 and r.json()["detail"] == store.WRONG_KEY


def test_retention_erases_old_enrolments(make_client, key_file) -> None:  # type: ignore[no-untyped-def]
    c = make_client(start_workers=False, people_key_file=key_file, people_retention_days=7)
    svc = c.app.state.service
    key = parse_key(key_file.read_text())
    for name in ("Old", "New"):
        store.enrol(svc.db, name, "consent", [_unit(1, 128)], [_unit(2, 256)], key, "cli:op")
    with svc.db.write() as s:
        s.execute(update(Person).where(Person.name == "Old").values(created_at=utcnow() - timedelta(days=8)))
    svc.purge()
    assert [p["name"] for p in c.get("/v1/people").json()] == ["New"]
    with svc.db.read() as s:
        assert s.scalar(select(func.count()).select_from(PersonTemplate)) == 2  # New's face and voice
    assert ("people.remove", '{"name":"Old","face":1,"voice":1,"reason":"retention"}') in _actions(svc)


def test_scans_name_the_enrolled_person_and_the_worker_audits_the_match(  # type: ignore[no-untyped-def]
        make_client, jpeg_bytes, key_file, db_url, monkeypatch, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    from fakescope.config import ScanSettings
    from fakescope.jobs.worker import scanner_factory_for
    from fakescope.scan.scanner import Scanner
    from fakescope.service.settings import ServiceSettings, people_scan_settings
    from fakescope.store.database import Database

    from .conftest import upload, wait_final

    assert people_scan_settings(ServiceSettings(database_url=db_url)) is None  # off without a key
    people = people_scan_settings(ServiceSettings(database_url=db_url, people_key_file=key_file))
    assert people is not None and people.database_url == db_url
    db = Database(db_url)
    db.migrate()
    store.enrol(db, "Ada Lovelace", "consent", [_unit(7, 128)], [], parse_key(key_file.read_text()), "test")
    made = scanner_factory_for(None, people)()
    assert isinstance(made, Scanner) and made.settings.people == people
    c = make_client(scanner=Scanner(ScanSettings(explain=True, people=people)), people_key_file=key_file)
    scan_id = upload(c, jpeg_bytes).json()["id"]
    report = wait_final(c, scan_id)["report"]
    assert report["people"]["enrolled"] == 1
    assert [(m["person"], m["matches"]) for m in report["people"]["matches"]] == [("Ada Lovelace", True)]
    svc = c.app.state.service
    with svc.db.read() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "people.match")))
    assert [(e.key_id, e.scan_id) for e in events] == [("worker", scan_id)]
    # nothing biometric in logs or metrics: no vector values, and metrics name nobody
    face = _unit(7, 128)
    logged = caplog.text
    assert not any(f"{float(v):.4f}" in logged for v in face[:8]) and "Ada Lovelace" not in logged
    metrics = c.get("/metrics").text
    assert "Ada Lovelace" not in metrics and not any(f"{float(v):.4f}" in metrics for v in face[:8])
    db.dispose()
