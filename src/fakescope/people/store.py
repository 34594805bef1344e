"""Enrolled protected people in the service's database: names and notes in the clear,
face and voice vectors only AES-256-GCM encrypted (``people.crypto``), every enrolment,
removal and match in the audit log with names and counts, never vectors.

Tables ``people`` and ``person_templates`` (store/models.py). Removal deletes the person
and every template row in one transaction: nothing of them is left to decrypt.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fakescope.errors import FakescopeError
from fakescope.people.crypto import (
    PeopleKey,
    TemplateIntegrityError,
    WrongPeopleKeyError,
    template_aad,
)
from fakescope.store.database import Database, utcnow
from fakescope.store.models import AuditEvent, Person, PersonTemplate

FACE_DIM = 128  # SFace (people.face_id)
VOICE_DIM = 256  # the speaker encoder (people.voice_id)
BEHAVIOUR_DIM = 6  # people.behaviour.FEATURES: how one enrolled recording moves, blinks, speaks
DIMS = {"face": FACE_DIM, "voice": VOICE_DIM, "behaviour": BEHAVIOUR_DIM}
MAX_NAME = 100  # keeps the audit detail (200 characters) whole
MAX_NOTE = 2000
WRONG_KEY = "cannot decrypt the enrolled templates: wrong FAKESCOPE_PEOPLE_KEY"


class PeopleError(FakescopeError):
    """A name, note or set of templates the store refuses."""

    code = "people"


class PersonExistsError(PeopleError):
    code = "person_exists"


class PersonNotFoundError(PeopleError):
    code = "person_not_found"


class PersonSummary(BaseModel):
    """What may be shown of an enrolled person: never a vector."""

    name: str
    note: str
    created_at: datetime
    created_by: str | None
    faces: int
    voices: int
    behaviours: int = 0


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise PeopleError("a protected person needs a name")
    if len(name) > MAX_NAME:
        raise PeopleError(f"the name is {len(name)} characters long; at most {MAX_NAME}")
    return name


def _vectors(vectors: Sequence[np.ndarray], modality: str) -> list[np.ndarray]:
    out = []
    for v in vectors:
        v = np.asarray(v, np.float32).ravel()
        if v.shape != (DIMS[modality],):
            raise PeopleError(f"a {modality} template has {v.size} values, not {DIMS[modality]}")
        if modality == "behaviour":  # statistics, not a direction: kept as measured (NaN: not given)
            if not np.isfinite(v).any():
                raise PeopleError("a behaviour template gives no statistic")
            out.append(v.astype("<f4"))
            continue
        n = float(np.linalg.norm(v))
        if not np.isfinite(n) or n == 0.0:
            raise PeopleError(f"a {modality} template is zero or not finite")
        out.append((v / n).astype("<f4"))
    return out


def _actor(actor: str | None) -> str | None:
    return actor[:40] if actor else None


def _audit(s: Session, actor: str | None, action: str, detail: dict[str, object]) -> None:
    s.add(AuditEvent(at=utcnow(), key_id=_actor(actor), action=action, scan_id=None,
                     detail=json.dumps(detail, ensure_ascii=False, separators=(",", ":"))[:200]))


def _check_key(s: Session, key: PeopleKey) -> None:
    # Refuse to mix keys: templates under two keys could never all be read by one.
    other = s.scalar(select(PersonTemplate.id).where(PersonTemplate.key_id != key.key_id).limit(1))
    if other is not None:
        raise WrongPeopleKeyError(WRONG_KEY)


def check_key(db: Database, key: PeopleKey) -> None:
    """Raise ``WrongPeopleKeyError`` when the enrolled templates were encrypted with another
    key (before reading media for an enrolment that would be refused)."""
    with db.read() as s:
        _check_key(s, key)


def enrol(db: Database, name: str, note: str, faces: Sequence[np.ndarray], voices: Sequence[np.ndarray],
          key: PeopleKey, actor: str | None, *, face_sources: Sequence[str | None] | None = None,
          voice_sources: Sequence[str | None] | None = None, behaviours: Sequence[np.ndarray] = (),
          behaviour_sources: Sequence[str | None] | None = None) -> PersonSummary:
    """Enrol ``name`` with its face (128-d) and voice (256-d) vectors, encrypted with
    ``key``; ``*_sources``: the file each came from (only its name is kept). Audited as
    ``people.enrol``."""
    name = clean_name(name)
    note = note.strip()
    if not note:
        raise PeopleError("say on what consent or authority the person is enrolled (--note)")
    if len(note) > MAX_NOTE:
        raise PeopleError(f"the note is {len(note)} characters long; at most {MAX_NOTE}")
    rows = {"face": _vectors(faces, "face"), "voice": _vectors(voices, "voice"),
            "behaviour": _vectors(behaviours, "behaviour")}
    if not rows["face"] and not rows["voice"]:
        raise PeopleError(f"no face or voice template to enrol for {name}")
    sources = {"face": list(face_sources or []), "voice": list(voice_sources or []),
               "behaviour": list(behaviour_sources or [])}
    now = utcnow()
    person_id = uuid.uuid4().hex
    try:
        with db.write() as s:
            if s.scalar(select(Person.id).where(Person.name == name)) is not None:
                raise PersonExistsError(f"{name} is already enrolled: `fakescope people remove` first")
            _check_key(s, key)
            s.add(Person(id=person_id, name=name, note=note, created_at=now, created_by=_actor(actor)))
            s.flush()  # the person row first: templates point at it
            for modality, vectors in rows.items():
                for i, v in enumerate(vectors):
                    tid = uuid.uuid4().hex
                    nonce, ct = key.encrypt(v.tobytes(), template_aad(person_id, tid, modality))
                    src = sources[modality][i] if i < len(sources[modality]) else None
                    s.add(PersonTemplate(id=tid, person_id=person_id, modality=modality, seq=i,
                                         source=_file_name(src), key_id=key.key_id, nonce=nonce,
                                         ciphertext=ct, created_at=now))
            _audit(s, actor, "people.enrol", {"name": name, "face": len(rows["face"]),
                                              "voice": len(rows["voice"]),
                                              **({"behaviour": len(rows["behaviour"])} if rows["behaviour"]
                                                 else {})})
    except IntegrityError:
        # Another enrolment of the same name committed between the check and the insert.
        raise PersonExistsError(f"{name} is already enrolled: `fakescope people remove` first") from None
    return PersonSummary(name=name, note=note, created_at=now, created_by=_actor(actor),
                         faces=len(rows["face"]), voices=len(rows["voice"]),
                         behaviours=len(rows["behaviour"]))


def _file_name(path: str | None) -> str | None:
    if not path:
        return None
    return path.replace("\\", "/").rsplit("/", 1)[-1][:255] or None


def list_people(db: Database) -> list[PersonSummary]:
    """Every enrolled person with how many templates of each kind: no key needed, no
    vector read."""
    with db.read() as s:
        counts: dict[tuple[str, str], int] = {
            (pid, mod): n for pid, mod, n in s.execute(
                select(PersonTemplate.person_id, PersonTemplate.modality, func.count())
                .group_by(PersonTemplate.person_id, PersonTemplate.modality))}
        people = list(s.scalars(select(Person).order_by(Person.name)))
    return [PersonSummary(name=p.name, note=p.note, created_at=p.created_at, created_by=p.created_by,
                          faces=counts.get((p.id, "face"), 0), voices=counts.get((p.id, "voice"), 0),
                          behaviours=counts.get((p.id, "behaviour"), 0))
            for p in people]


def remove(db: Database, name: str, actor: str | None, *, reason: str | None = None) -> PersonSummary:
    """Erase ``name``: every template row and the person, in one transaction, audited as
    ``people.remove``. Needs no key, so a lost key never blocks an erasure."""
    name = clean_name(name)
    with db.write() as s:
        person = s.scalar(select(Person).where(Person.name == name))
        if person is None:
            raise PersonNotFoundError(f"no protected person named {name!r} (`fakescope people list` "
                                      "shows who is enrolled)")
        summary = _erase(s, person, actor, reason)
    return summary


def _erase(s: Session, person: Person, actor: str | None, reason: str | None) -> PersonSummary:
    counts = dict(s.execute(select(PersonTemplate.modality, func.count())
                            .where(PersonTemplate.person_id == person.id)
                            .group_by(PersonTemplate.modality)).all())
    s.execute(delete(PersonTemplate).where(PersonTemplate.person_id == person.id))
    summary = PersonSummary(name=person.name, note=person.note, created_at=person.created_at,
                            created_by=person.created_by, faces=counts.get("face", 0),
                            voices=counts.get("voice", 0), behaviours=counts.get("behaviour", 0))
    s.delete(person)
    detail: dict[str, object] = {"name": person.name, "face": summary.faces, "voice": summary.voices}
    if reason:
        detail["reason"] = reason
    _audit(s, actor, "people.remove", detail)
    return summary


def purge_older_than(db: Database, days: float, actor: str | None = "retention",
                     now: datetime | None = None) -> list[str]:
    """Erase everyone enrolled more than ``days`` ago (the retention the operator set),
    each audited as ``people.remove`` with reason ``retention``. Returns their names."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    names = []
    with db.write() as s:
        for person in list(s.scalars(select(Person).where(Person.created_at < cutoff))):
            names.append(_erase(s, person, actor, "retention").name)
    return names


def load_templates(db: Database, key: PeopleKey) -> dict[str, dict[str, np.ndarray]]:
    """Every person's vectors, decrypted: ``{name: {"face": (n, 128), "voice": (m, 256)}}``
    (float32, unit rows; n or m may be 0). Raises ``WrongPeopleKeyError`` for another key
    and ``TemplateIntegrityError`` for a row that was altered or moved."""
    with db.read() as s:
        rows = s.execute(select(Person.name, PersonTemplate)
                         .join(Person, Person.id == PersonTemplate.person_id)
                         .order_by(Person.name, PersonTemplate.modality, PersonTemplate.seq)).all()
        names = list(s.scalars(select(Person.name).order_by(Person.name)))
    out: dict[str, dict[str, list[np.ndarray]]] = {n: {m: [] for m in DIMS} for n in names}
    for name, t in rows:
        if t.key_id != key.key_id:
            raise WrongPeopleKeyError(WRONG_KEY)
        plain = key.decrypt(t.nonce, t.ciphertext, template_aad(t.person_id, t.id, t.modality))
        if plain is None or t.modality not in DIMS or len(plain) != 4 * DIMS[t.modality]:
            raise TemplateIntegrityError(f"a {t.modality} template of {name} fails its integrity check "
                                         "(altered, or moved from another row): remove and re-enrol them")
        out[name][t.modality].append(np.frombuffer(plain, "<f4").astype(np.float32))
    return {name: {m: (np.stack(vs) if vs else np.zeros((0, DIMS[m]), np.float32)) for m, vs in by.items()}
            for name, by in out.items()}


def generation(db: Database) -> tuple[int, int, str]:
    """Changes whenever someone is enrolled or removed (people, templates, newest enrolment):
    a scanner re-reads the templates when it changes, so a removal holds from the next scan."""
    with db.read() as s:
        people = s.scalar(select(func.count()).select_from(Person)) or 0
        templates = s.scalar(select(func.count()).select_from(PersonTemplate)) or 0
        newest = s.scalar(select(func.max(Person.created_at)))
    return int(people), int(templates), str(newest)


def record_match(db: Database, actor: str | None, name: str, modality: str, score: float,
                 scan_id: str | None = None) -> None:
    """Audit that a scan's face or voice matched an enrolled person (name and score only)."""
    with db.write() as s:
        s.add(AuditEvent(at=utcnow(), key_id=_actor(actor), action="people.match",
                         scan_id=scan_id,
                         detail=json.dumps({"name": name, "modality": modality, "score": round(score, 3)},
                                           ensure_ascii=False, separators=(",", ":"))[:200]))
