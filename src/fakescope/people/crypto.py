"""The operator's key for protected people's templates: AES-256-GCM at rest.

The key never reaches the database: the operator keeps it (``FAKESCOPE_PEOPLE_KEY``, base64
of 32 bytes, or a file named by ``--key-file`` / ``FAKESCOPE_PEOPLE_KEY_FILE``), and
without it the feature is off. Each template row stores its nonce and ciphertext, and the
associated data binds it to its person, its own id and its modality, so a row copied onto
another person (or a voice relabelled as a face) fails to decrypt instead of matching.
Rows also carry a short key id (an HMAC of a constant, which says nothing of the key) so
a wrong key is told apart from a tampered row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fakescope.errors import FakescopeError

KEY_ENV = "FAKESCOPE_PEOPLE_KEY"
KEY_FILE_ENV = "FAKESCOPE_PEOPLE_KEY_FILE"
KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"fakescope-people-template-v1"


class PeopleKeyError(FakescopeError):
    """No key was supplied (the feature is off), or it is not base64 of 32 bytes."""

    code = "people_key"


class WrongPeopleKeyError(FakescopeError):
    """The templates were encrypted with another key."""

    code = "people_wrong_key"


class TemplateIntegrityError(FakescopeError):
    """A template row does not decrypt with the right key: altered, or moved between rows."""

    code = "people_template_integrity"


@dataclass(frozen=True)
class PeopleKey:
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise PeopleKeyError(f"a protected-people key is {KEY_BYTES} bytes, not {len(self.secret)}")

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"fakescope people key id", hashlib.sha256).hexdigest()[:16]

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        """(nonce, ciphertext with its tag); a fresh random nonce each call."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_BYTES)
        return nonce, AESGCM(self.secret).encrypt(nonce, plaintext, aad)

    def decrypt(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes | None:
        """The plaintext, or None when the tag does not verify."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            return AESGCM(self.secret).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            return None


def template_aad(person_id: str, template_id: str, modality: str) -> bytes:
    return b"|".join([_AAD_PREFIX, person_id.encode(), template_id.encode(), modality.encode()])


def generate_key() -> str:
    """A new key, as the base64 text ``FAKESCOPE_PEOPLE_KEY`` and key files hold."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def parse_key(data: str | bytes, where: str = KEY_ENV) -> PeopleKey:
    """A key from its base64 text; a key file may also hold the 32 raw bytes."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        decoded: bytes | None = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    if decoded is not None and len(decoded) == KEY_BYTES:
        return PeopleKey(decoded)
    if isinstance(data, bytes) and len(data) == KEY_BYTES:
        return PeopleKey(data)
    raise PeopleKeyError(f"{where} is not base64 of {KEY_BYTES} bytes "
                         "(`fakescope people keygen` makes a key)")


def load_key(key_file: Path | None = None, env: Mapping[str, str] | None = None) -> PeopleKey:
    """The operator's key: ``key_file``, else ``FAKESCOPE_PEOPLE_KEY_FILE``, else
    ``FAKESCOPE_PEOPLE_KEY``. Raises ``PeopleKeyError`` when none is given: protected
    people are off until the operator supplies one."""
    env = os.environ if env is None else env
    path = key_file or (Path(env[KEY_FILE_ENV]).expanduser() if env.get(KEY_FILE_ENV) else None)
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PeopleKeyError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
        return parse_key(data, where=f"the key file {path}")
    text = env.get(KEY_ENV, "").strip()
    if not text:
        raise PeopleKeyError(f"protected people are off: supply the key with {KEY_ENV} or --key-file "
                             "(`fakescope people keygen` makes one)")
    return parse_key(text)
