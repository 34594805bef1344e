"""Protected people through the API (issue 31, docs/people.md): what ``fakescope people``
does, for admin keys (or anyone on a server without auth).

Off until the service has the operator's key (``people_key_file``, or
``FAKESCOPE_PEOPLE_KEY``): enrolling and listing then answer 503. Removal needs no key, so
an erasure never waits on one. The enrolment media are streamed into a temporary folder
that is removed whatever happens; only the vectors made from them are kept, encrypted.
Every enrolment and removal is audited by ``people.store``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from python_multipart.multipart import MultipartParser, parse_options_header

from fakescope.errors import FakescopeError, ModelError
from fakescope.people import enrolment, store
from fakescope.people.crypto import (
    KEY_ENV,
    KEY_FILE_ENV,
    PeopleKey,
    PeopleKeyError,
    WrongPeopleKeyError,
    load_key,
)
from fakescope.people.enrolment import VoiceIdUnavailableError
from fakescope.service.api import Problem, Svc, Who, problems
from fakescope.service.auth import Principal
from fakescope.service.core import Service, iso
from fakescope.service.settings import ServiceSettings
from fakescope.service.uploads import FRAMING_ALLOWANCE, UploadTooLarge, _chunks, safe_filename

OFF = "protected people are off: give the service a key (FAKESCOPE_PEOPLE_KEY_FILE)"
FILE_PARTS = ("photos", "videos", "audio")
TEXT_PARTS = ("name", "note")
MAX_FILES = 32
# A note of store.MAX_NOTE characters may take up to 4 bytes each in UTF-8.
MAX_FIELD_BYTES = 4 * store.MAX_NOTE + 64


class PersonOut(BaseModel):
    """An enrolled person as shown: names, counts and why; never a vector."""

    name: str
    note: str = Field(description="on what consent or authority the person is enrolled")
    created_at: str
    created_by: str | None = Field(description="who enrolled them: an API key's id, `cli:USER`, or null "
                                   "(auth off)")
    faces: int = Field(description="face templates enrolled")
    voices: int = Field(description="voice templates enrolled")
    behaviours: int = Field(0, description="enrolled recordings of how they move, blink and speak")


class EnrolledOut(PersonOut):
    notes: list[str] = Field(description="warnings about the media (a file whose face does not look "
                             "like the others', a video whose voice was not used)")


# --- the key -----------------------------------------------------------------------------

def service_key(settings: ServiceSettings) -> PeopleKey | None:
    """The operator's key, or None when none is configured (the feature is off). Raises
    ``PeopleKeyError`` for a key that is configured but cannot be read or is malformed."""
    configured = (settings.people_key_file is not None or bool(os.environ.get(KEY_FILE_ENV, "").strip())
                  or bool(os.environ.get(KEY_ENV, "").strip()))
    if not configured:
        return None
    return load_key(settings.people_key_file.expanduser() if settings.people_key_file else None)


def _key(svc: Service) -> PeopleKey:
    try:
        key = service_key(svc.settings)
    except PeopleKeyError as exc:
        raise HTTPException(503, str(exc)) from None
    if key is None:
        raise HTTPException(503, OFF)
    return key


# --- the enrolment form ------------------------------------------------------------------

@dataclass
class _Form:
    """The parts of the enrolment form: text fields, and each file as (part name, path)."""

    folder: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, Path]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    unnamed: list[bool] = field(default_factory=list)  # sent without a file name


async def _receive_form(request: Request, folder: Path, limit: int, idle_s: float) -> _Form:
    """Stream a multipart body into ``folder`` (each file in a folder of its own, under the
    client's file name, which the enrolment's messages and the store's ``source`` show).
    The files together are capped at ``limit``, the body at that and its framing: nothing
    is held in memory but the text fields."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + FRAMING_ALLOWANCE:
        raise UploadTooLarge(limit)
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise HTTPException(415, "send the enrolment as multipart/form-data: the name and note fields, and "
                                 "at least one file as photos, videos or audio")
    form = _Form(folder)
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "name": None,
                             "fh": None, "buf": bytearray(), "parts": 0}
    errors: list[HTTPException] = []

    def on_part_begin() -> None:
        state.update(headers={}, name=None, fh=None, buf=bytearray(), parts=state["parts"] + 1)
        if state["parts"] > MAX_FILES + len(TEXT_PARTS):
            errors.append(HTTPException(400, f"more than {MAX_FILES} files: enrol from fewer"))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][bytes(state["field"]).lower()] = bytes(state["value"])
        state.update(field=b"", value=b"")

    def on_headers_finished() -> None:
        if errors:
            return
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name in FILE_PARTS:
            i = len(form.files)
            sub = folder / f"{i:02d}"
            sub.mkdir()
            default = f"{name.rstrip('s')}-{i + 1}"
            path = sub / safe_filename(opts.get(b"filename", b"").decode("utf-8", "replace"), default)
            state["fh"] = path.open("wb")
            form.files.append((name, path))
            form.sizes.append(0)
            form.unnamed.append(not opts.get(b"filename"))
        elif name not in TEXT_PARTS:
            errors.append(HTTPException(400, f"unknown form part {name[:40]!r}: send name, note, and files "
                                             "as photos, videos or audio"))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if errors:
            return
        fh: BinaryIO | None = state["fh"]
        if fh is not None:
            form.sizes[-1] += end - start
            if sum(form.sizes) > limit:  # the files together, as one scan's upload is capped
                errors.append(UploadTooLarge(limit))
                return
            fh.write(data[start:end])
            return
        buf = state["buf"]
        buf += data[start:end]
        if len(buf) > MAX_FIELD_BYTES:
            errors.append(HTTPException(422, f"the {state['name']} field is too long"))

    def on_part_end() -> None:
        fh: BinaryIO | None = state["fh"]
        if fh is not None:
            fh.close()
            state["fh"] = None
        elif state["name"] in TEXT_PARTS:
            form.fields[state["name"]] = bytes(state["buf"]).decode("utf-8", "replace")

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    received = 0
    try:
        async for chunk in _chunks(request, idle_s):
            received += len(chunk)
            if received > limit + FRAMING_ALLOWANCE:
                raise UploadTooLarge(limit)
            try:
                parser.write(chunk)
            except Exception as exc:
                raise HTTPException(400, f"malformed multipart body: {exc}") from exc
            if errors:
                raise errors[0]
        parser.finalize()
    finally:
        if state["fh"] is not None:
            state["fh"].close()
    if errors:
        raise errors[0]
    return form


def _check_form(form: _Form) -> tuple[str, str]:
    """The name and note, once the form is whole: 422 with what is missing."""
    name = " ".join(form.fields.get("name", "").split())
    if not name:
        raise HTTPException(422, "a protected person needs a name: the name field is empty or missing")
    note = form.fields.get("note", "").strip()
    if not note:
        raise HTTPException(422, "the note field is empty or missing: say on what consent or authority "
                                 "the person is enrolled")
    # A browser sends a file input left empty as a part without a file name and no bytes.
    keep = [i for i, (size, unnamed) in enumerate(zip(form.sizes, form.unnamed, strict=True))
            if size or not unnamed]
    form.files, form.sizes = [form.files[i] for i in keep], [form.sizes[i] for i in keep]
    if not form.files:
        raise HTTPException(422, "give the person's media: at least one file as photos, videos or audio")
    for (_, path), size in zip(form.files, form.sizes, strict=True):
        if size == 0:
            raise HTTPException(422, f"{path.name} is empty")
    return name, note


def _enrol(svc: Service, key: PeopleKey, actor: str | None, name: str, note: str,
           files: list[tuple[str, Path]]) -> tuple[store.PersonSummary, list[str]]:
    name = store.clean_name(name)
    # Refused before any media is decoded: a wrong key or a taken name costs nothing.
    store.check_key(svc.db, key)
    if any(p.name == name for p in store.list_people(svc.db)):
        raise store.PersonExistsError(_exists(name))
    # Looked up at call time, so that the encoders can be replaced (tests, other models).
    enrol = enrolment.Enroller(enrolment.face_encoder, enrolment.voice_encoder)
    read = {"photos": enrol.photo, "videos": enrol.video, "audio": enrol.audio}
    for part, path in files:
        read[part](path)
    enrol.check_faces_agree()
    got = enrol.out
    summary = store.enrol(svc.db, name, note, got.faces, got.voices, key, actor,
                          face_sources=got.face_sources, voice_sources=got.voice_sources,
                          behaviours=got.behaviours, behaviour_sources=got.behaviour_sources)
    return summary, got.notes


def _exists(name: str) -> str:
    return f"{name} is already enrolled: remove them first (DELETE /v1/people/{name})"


def _refused(exc: FakescopeError) -> HTTPException:
    """A store or enrolment error as the answer a client can act on."""
    if isinstance(exc, store.PersonExistsError):
        return HTTPException(409, str(exc))
    if isinstance(exc, store.PersonNotFoundError):
        return HTTPException(404, str(exc))
    # The server's own set-up (key, models), not the request: nothing the client can change.
    if isinstance(exc, PeopleKeyError | WrongPeopleKeyError | VoiceIdUnavailableError | ModelError):
        return HTTPException(503, str(exc))
    return HTTPException(422, str(exc))


def _person(p: store.PersonSummary) -> dict[str, Any]:
    return {"name": p.name, "note": p.note, "created_at": iso(p.created_at), "created_by": p.created_by,
            "faces": p.faces, "voices": p.voices, "behaviours": p.behaviours}


# --- routes ------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", tags=["people"])
_NOT_ADMIN = {403: {"description": "this API key is not an admin key", "model": Problem}}
_OFF = {503: {"description": "protected people are off (no key configured), the key does not fit the "
                             "enrolled templates, or the models are not installed", "model": Problem}}
_ENROL_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["name", "note"],
        "properties": {
            "name": {"type": "string", "maxLength": store.MAX_NAME, "description": "the person's name, "
                     "unique in the deployment"},
            "note": {"type": "string", "maxLength": store.MAX_NOTE, "description": "on what consent or "
                     "authority the person is enrolled"},
            "photos": {"type": "array", "items": {"type": "string", "format": "binary"},
                       "description": "photos of the person alone (the largest face is used)"},
            "videos": {"type": "array", "items": {"type": "string", "format": "binary"},
                       "description": "videos of the person: faces from 8 frames and the voice"},
            "audio": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": "recordings of the person speaking"},
        }}}}},
}


def _admin(who: Who) -> Principal:
    if not who.admin:
        raise HTTPException(403, "protected people are managed with an admin API key "
                                 "(fakescope keys create --admin)")
    return who


Admin = Annotated[Principal, Depends(_admin)]


@router.post("/people", status_code=201, response_model=EnrolledOut, openapi_extra=_ENROL_BODY,
             responses={**problems(400, 401, 408, 413, 415, 422), **_NOT_ADMIN, **_OFF,
                        409: {"description": "a person of that name is already enrolled", "model": Problem}},
             summary="Enrol a protected person from genuine media")
async def enrol_person(request: Request, svc: Svc, who: Admin) -> dict[str, Any]:
    """Multipart form: `name`, `note` (on what consent or authority), and any number of files
    as `photos`, `videos` and `audio` (at least one). A file that cannot say who is meant
    (no face, several faces of similar size, too little speech) refuses the whole
    enrolment with 422 naming it. The media are not kept: only their templates, encrypted."""
    key = _key(svc)
    try:
        folder = Path(tempfile.mkdtemp(prefix="people-", dir=svc.blobs.staging_dir))
    except OSError as exc:
        raise HTTPException(503, f"cannot store the media for reading ({exc.strerror or exc}): "
                                 "retry later", headers={"Retry-After": "30"}) from None
    try:
        form = await _receive_form(request, folder, who.max_upload_bytes, svc.settings.upload_idle_s)
        name, note = _check_form(form)
        try:
            summary, notes = await run_in_threadpool(_enrol, svc, key, who.key_id, name, note, form.files)
        except FakescopeError as exc:
            raise _refused(exc) from None
    finally:
        # The media are biometric source material: never left behind, whatever happened.
        await run_in_threadpool(shutil.rmtree, folder, True)
    return {**_person(summary), "notes": notes}


@router.get("/people", response_model=list[PersonOut], responses={**problems(401), **_NOT_ADMIN, **_OFF},
            summary="The enrolled protected people")
def list_people(svc: Svc, who: Admin) -> list[dict[str, Any]]:
    """Names, template counts, when, by whom and why; never a vector."""
    _key(svc)  # off unless the operator gave the key, as `fakescope people list`
    rows = store.list_people(svc.db)
    svc.audit(who.key_id, "people.list", None, f"{len(rows)} people", dedup=True)
    return [_person(p) for p in rows]


@router.delete("/people/{name:path}", status_code=204,
               responses={**problems(401), **_NOT_ADMIN,
                          404: {"description": "no protected person of that name", "model": Problem}},
               summary="Erase a protected person and every template enrolled for them")
def remove_person(name: str, svc: Svc, who: Admin) -> Response:
    """Deletes every template and the person in one transaction (audited). Needs no key:
    an erasure never waits on one."""
    try:
        store.remove(svc.db, name, who.key_id)
    except store.PersonNotFoundError:
        raise HTTPException(404, f"no protected person named {name!r} (GET /v1/people lists them)") from None
    except FakescopeError as exc:
        raise _refused(exc) from None
    return Response(status_code=204)
