"""The media registry: an append-only Merkle log of fingerprints in SQLite.

Each entry (SHA-256 of the file, perceptual fingerprints, time, label) is stored as the
exact canonical JSON bytes that form its Merkle leaf. After every registration the log
signs a new tree head with its Ed25519 key. Nobody can quietly rewrite the registry:

- SQLite triggers refuse UPDATE and DELETE on entries and tree heads (a guard, not a proof);
- every open for lookup recomputes the root over all entries and compares it with the
  latest signed tree head, and ``audit`` checks every head ever signed against the
  entries, so a rewritten, removed or reordered entry is found (RegistryIntegrityError);
- anyone holding an earlier tree head can ask for a consistency proof, and anyone holding
  a lookup's inclusion proof can check it offline (`fakescope log verify-proof`) against
  the log's public key, without this database.

The log's private key lives beside the database (``<db>.key``, mode 0600); its public
key is in the database and in every proof, and `fakescope log head` prints it for pinning.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.errors import ProofError, RegistryIntegrityError, RegistryNotFoundError
from fakescope.provenance import merkle
from fakescope.provenance.fingerprints import (
    DHASH_NEAR,
    PHASH_NEAR,
    Fingerprint,
    audio_distance,
    keyframe_distance,
    popcount64,
)
from fakescope.provenance.models import RegistryInfo, RegistryMatch

INCLUSION_PROOF = "fakescope-inclusion-proof/v1"
CONSISTENCY_PROOF = "fakescope-consistency-proof/v1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,        -- the leaf index, from 0
    data BLOB NOT NULL,            -- canonical JSON: exactly the bytes hashed into the leaf
    sha256 TEXT NOT NULL           -- a copy for the index; lookups re-check it against data
);
CREATE INDEX IF NOT EXISTS entries_sha256 ON entries (sha256);
CREATE TABLE IF NOT EXISTS tree_heads (
    tree_size INTEGER PRIMARY KEY,
    timestamp_ms INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS entries_append_only_u BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'the registry is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_append_only_d BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'the registry is append-only'); END;
CREATE TRIGGER IF NOT EXISTS heads_append_only_u BEFORE UPDATE ON tree_heads
    BEGIN SELECT RAISE(ABORT, 'the registry is append-only'); END;
CREATE TRIGGER IF NOT EXISTS heads_append_only_d BEFORE DELETE ON tree_heads
    BEGIN SELECT RAISE(ABORT, 'the registry is append-only'); END;
"""


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Entry:
    id: int
    sha256: str
    registered_at: str
    label: str | None
    fingerprint: Fingerprint
    data: bytes  # canonical bytes (the leaf's content)

    @classmethod
    def parse(cls, entry_id: int, data: bytes) -> Entry:
        obj = json.loads(data)
        return cls(id=entry_id, sha256=str(obj["sha256"]), registered_at=str(obj["registered_at"]),
                   label=obj.get("label"), fingerprint=Fingerprint.from_json(obj["fingerprint"]),
                   data=data)


@dataclass(frozen=True)
class Registered:
    entry: Entry
    new: bool  # False when these exact bytes were registered before
    head: merkle.TreeHead


def key_path(db: Path) -> Path:
    return db.with_name(db.name + ".key")


class Registry:
    """One open registry database. ``create`` for writing, ``open`` for reading."""

    def __init__(self, path: Path, conn: sqlite3.Connection, public_key: bytes) -> None:
        self.path = path
        self.conn = conn
        self.public_key = public_key
        self._checked_size: int | None = None
        self._entries: list[Entry] | None = None
        self._image_index: tuple[np.ndarray, np.ndarray] | None = None

    # --- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, readonly: bool = True) -> Registry:
        """An existing registry; RegistryNotFoundError when there is none (never creates)."""
        p = Path(path).expanduser()
        if not p.is_file():
            raise RegistryNotFoundError(
                f"no registry at {p}; create one with `fakescope register FILE` "
                "(or point FAKESCOPE_REGISTRY at an existing one)"
            )
        uri = p.resolve().as_uri() + ("?mode=ro" if readonly else "?mode=rw")
        try:
            conn = sqlite3.connect(uri, uri=True)
            row = conn.execute("SELECT value FROM meta WHERE key = 'log_public_key'").fetchone()
        except sqlite3.Error as exc:
            raise RegistryNotFoundError(f"{p} is not a fakescope registry ({exc})") from exc
        if row is None:
            conn.close()
            raise RegistryNotFoundError(f"{p} is not a fakescope registry (no log key)")
        return cls(p, conn, base64.b64decode(row[0]))

    @classmethod
    def create(cls, path: str | Path) -> Registry:
        """Open for writing, creating the database and its log key on first use."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from fakescope.provenance.keys import write_private

        p = Path(path).expanduser()
        if p.is_file():
            return cls.open(p, readonly=False)
        p.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        write_private(key_path(p), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        conn = sqlite3.connect(p)
        with conn:
            conn.executescript(_SCHEMA)
            conn.execute("INSERT INTO meta VALUES ('log_public_key', ?)",
                         (base64.b64encode(raw).decode(),))
            conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (_now_iso(),))
            head = merkle.sign_tree_head(key, 0, _now_ms(), merkle.EMPTY_ROOT)
            _insert_head(conn, head)
        return cls(p, conn, raw)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log_id(self) -> str:
        return merkle.log_id(self.public_key)

    def _private_key(self) -> Any:
        from cryptography.hazmat.primitives import serialization

        kp = key_path(self.path)
        try:
            key = serialization.load_pem_private_key(kp.read_bytes(), password=None)
        except FileNotFoundError as exc:
            raise RegistryIntegrityError(f"the log key {kp} is missing; cannot sign") from exc
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,  # type: ignore[union-attr]
                                            serialization.PublicFormat.Raw)
        if raw != self.public_key:
            raise RegistryIntegrityError(f"the log key {kp} is not this registry's key")
        return key

    # --- reading ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Forget cached entries when another process has appended since they were read."""
        row = self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()
        if self._entries is not None and row[0] != len(self._entries):
            self._entries = None
            self._image_index = None
            self._checked_size = None

    def entries(self) -> list[Entry]:
        if self._entries is None:
            rows = self.conn.execute("SELECT id, data FROM entries ORDER BY id").fetchall()
            out = []
            for expected, (eid, data) in enumerate(rows):
                if eid != expected:
                    raise RegistryIntegrityError(f"entry {expected} is missing from the log")
                try:
                    out.append(Entry.parse(eid, bytes(data)))
                except (ValueError, KeyError, TypeError) as exc:
                    raise RegistryIntegrityError(f"entry {eid} is not a valid entry ({exc})") from exc
            self._entries = out
        return self._entries

    def leaves(self) -> list[bytes]:
        return [merkle.leaf_hash(e.data) for e in self.entries()]

    def heads(self) -> list[merkle.TreeHead]:
        rows = self.conn.execute(
            "SELECT tree_size, timestamp_ms, root_hash, signature FROM tree_heads ORDER BY tree_size"
        ).fetchall()
        return [merkle.TreeHead(int(s), int(t), bytes(r), bytes(g)) for s, t, r, g in rows]

    def latest_head(self) -> merkle.TreeHead:
        heads = self.heads()
        if not heads:
            raise RegistryIntegrityError("the registry has no signed tree head")
        return heads[-1]

    def check(self) -> merkle.TreeHead:
        """The latest head, after checking its signature and that the entries hash to it."""
        head = self.latest_head()
        entries = self.entries()
        if self._checked_size == len(entries):
            return head
        if not merkle.verify_tree_head(self.public_key, head):
            raise RegistryIntegrityError(f"the signature of tree head {head.tree_size} is invalid")
        if head.tree_size != len(entries):
            raise RegistryIntegrityError(
                f"the log holds {len(entries)} entries but its signed head covers {head.tree_size}")
        if merkle.root_hash(self.leaves()) != head.root:
            raise RegistryIntegrityError(
                "the entries no longer hash to the signed tree head: an entry was rewritten")
        self._checked_size = len(entries)
        return head

    def audit(self) -> list[merkle.TreeHead]:
        """Check every signed head against the entries (one pass); returns the heads."""
        heads = self.heads()
        leaves = self.leaves()
        if any(h.tree_size > len(leaves) for h in heads):
            raise RegistryIntegrityError("a signed tree head covers entries that are gone")
        roots = merkle.prefix_roots(leaves, [h.tree_size for h in heads])
        for h in heads:
            if not merkle.verify_tree_head(self.public_key, h):
                raise RegistryIntegrityError(f"the signature of tree head {h.tree_size} is invalid")
            if roots[h.tree_size] != h.root:
                raise RegistryIntegrityError(
                    f"the first {h.tree_size} entries no longer hash to their signed head: "
                    "an entry was rewritten")
        self.check()
        return heads

    # --- writing ---------------------------------------------------------------------

    def register(self, sha256: str, fingerprint: Fingerprint, label: str | None = None) -> Registered:
        key = self._private_key()
        self.check()  # never extend a log that was tampered with
        for e in self.entries():
            if e.sha256 == sha256:
                return Registered(e, False, self.latest_head())
        eid = len(self.entries())
        obj = {"id": eid, "sha256": sha256, "registered_at": _now_iso(), "label": label,
               "fingerprint": fingerprint.to_json()}
        data = canonical(obj)
        leaves = [*self.leaves(), merkle.leaf_hash(data)]
        head = merkle.sign_tree_head(key, len(leaves), _now_ms(), merkle.root_hash(leaves))
        with self.conn:
            self.conn.execute("INSERT INTO entries (id, data, sha256) VALUES (?, ?, ?)",
                              (eid, data, sha256))
            _insert_head(self.conn, head)
        entry = Entry.parse(eid, data)
        self._entries = [*self.entries(), entry]
        self._image_index = None
        self._checked_size = len(self._entries)
        return Registered(entry, True, head)

    # --- lookup and proofs -------------------------------------------------------------

    def lookup(self, sha256: str, fingerprint: Fingerprint | None, limit: int = 10) -> RegistryInfo:
        head = self.check()
        entries = self.entries()
        found: dict[int, RegistryMatch] = {}
        for e in entries:
            if e.sha256 == sha256:
                found[e.id] = _match(e, "exact", 0.0)
        if fingerprint is not None:
            for eid, d in self._near_images(fingerprint).items():
                found.setdefault(eid, _match(entries[eid], "near", d))
            if fingerprint.keyframes or fingerprint.audio:
                for e in entries:
                    if e.id in found:
                        continue
                    d = _near_av(fingerprint, e.fingerprint)
                    if d is not None:
                        found[e.id] = _match(e, "near", d)
        matches = sorted(found.values(), key=lambda m: (m.kind != "exact", m.distance or 0.0, m.entry_id))
        matched = matches[0].kind if matches else "none"
        return RegistryInfo(checked=True, matched=matched, matches=matches[:limit],  # type: ignore[arg-type]
                            tree_size=head.tree_size)

    def _near_images(self, query: Fingerprint) -> dict[int, float]:
        """Entry id -> distance of its closest image variant, for near duplicates only."""
        if not query.hashes:
            return {}
        if self._image_index is None:
            rows = [(e.id, p, d) for e in self.entries() for p, d in e.fingerprint.hashes]
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            hashes = np.array([(r[1], r[2]) for r in rows], dtype=np.uint64).reshape(-1, 2)
            self._image_index = (ids, hashes)
        ids, hashes = self._image_index
        if not len(ids):
            return {}
        qp, qd = query.hashes[0]
        dp = popcount64(hashes[:, 0] ^ np.uint64(qp))
        dd = popcount64(hashes[:, 1] ^ np.uint64(qd))
        near = (dp <= PHASH_NEAR) & (dd <= DHASH_NEAR)
        out: dict[int, float] = {}
        for eid, dist in zip(ids[near].tolist(), ((dp + dd)[near] / 128.0).tolist(), strict=True):
            out[eid] = min(out.get(eid, 1.0), round(dist, 4))
        return out

    def inclusion_bundle(self, entry_id: int) -> dict[str, Any]:
        head = self.check()
        entries = self.entries()
        if not 0 <= entry_id < len(entries):
            raise ProofError(f"no entry {entry_id} in a log of {len(entries)}")
        path = merkle.inclusion_proof(entry_id, self.leaves())
        return {
            "type": INCLUSION_PROOF,
            "log_id": self.log_id,
            "log_public_key": base64.b64encode(self.public_key).decode(),
            "tree_head": head.to_json(),
            "leaf_index": entry_id,
            "entry": entries[entry_id].data.decode(),
            "audit_path": [h.hex() for h in path],
        }

    def consistency_bundle(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        self.check()
        heads = {h.tree_size: h for h in self.heads()}
        new_size = new_size if new_size is not None else max(heads)
        if old_size not in heads or new_size not in heads:
            missing = old_size if old_size not in heads else new_size
            raise ProofError(f"no signed tree head of size {missing}; signed sizes include "
                             f"{', '.join(str(s) for s in sorted(heads)[-10:])}")
        if old_size > new_size:
            raise ProofError("the old size must not exceed the new size")
        leaves = self.leaves()[:new_size]
        return {
            "type": CONSISTENCY_PROOF,
            "log_id": self.log_id,
            "log_public_key": base64.b64encode(self.public_key).decode(),
            "old_head": heads[old_size].to_json(),
            "new_head": heads[new_size].to_json(),
            "proof": [h.hex() for h in merkle.consistency_proof(old_size, leaves)],
        }


def _near_av(query: Fingerprint, entry: Fingerprint) -> float | None:
    found = [d for d in (keyframe_distance(query.keyframes, entry.keyframes),
                         audio_distance(query.audio or b"", entry.audio or b""))
             if d is not None]
    return min(found) if found else None


def _match(e: Entry, kind: str, distance: float) -> RegistryMatch:
    return RegistryMatch(entry_id=e.id, kind=kind, distance=distance, sha256=e.sha256,  # type: ignore[arg-type]
                         registered_at=e.registered_at, label=e.label)


def _insert_head(conn: sqlite3.Connection, head: merkle.TreeHead) -> None:
    conn.execute("INSERT INTO tree_heads VALUES (?, ?, ?, ?)",
                 (head.tree_size, head.timestamp_ms, head.root, head.signature))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- offline verification (no database needed) -----------------------------------------


@dataclass(frozen=True)
class ProofResult:
    kind: str
    lines: list[str]  # what was checked, one line each


def verify_bundle(bundle: dict[str, Any], pinned_key: bytes | None = None,
                  file_sha256: str | None = None) -> ProofResult:
    """Verify an inclusion or consistency proof bundle; raises ProofError on any failure."""
    try:
        kind = bundle["type"]
        pub = base64.b64decode(bundle["log_public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"not a fakescope proof bundle ({exc})") from exc
    if pinned_key is not None and pub != pinned_key:
        raise ProofError("the proof was signed by a different log key than the one pinned")
    lines = [f"log {merkle.log_id(pub)[:16]}…"]
    try:
        if kind == INCLUSION_PROOF:
            head = merkle.TreeHead.from_json(bundle["tree_head"])
            _check_head(pub, head, lines)
            entry = str(bundle["entry"]).encode()
            index = int(bundle["leaf_index"])
            path = [bytes.fromhex(h) for h in bundle["audit_path"]]
            if not merkle.verify_inclusion(merkle.leaf_hash(entry), index, head.tree_size, path, head.root):
                raise ProofError(f"entry {index} is not included in the tree of size {head.tree_size}")
            lines.append(f"entry {index} is included in the tree of size {head.tree_size}")
            obj = json.loads(entry)
            if file_sha256 is not None:
                if obj.get("sha256") != file_sha256:
                    raise ProofError("the file's SHA-256 differs from the registered entry's")
                lines.append("the file's SHA-256 is the registered one")
            return ProofResult("inclusion", lines)
        if kind == CONSISTENCY_PROOF:
            old = merkle.TreeHead.from_json(bundle["old_head"])
            new = merkle.TreeHead.from_json(bundle["new_head"])
            _check_head(pub, old, lines)
            _check_head(pub, new, lines)
            proof = [bytes.fromhex(h) for h in bundle["proof"]]
            if not merkle.verify_consistency(old.tree_size, new.tree_size, old.root, new.root, proof):
                raise ProofError(f"the tree of size {new.tree_size} does not extend the tree of size "
                                 f"{old.tree_size}: the log was rewritten")
            lines.append(f"the tree of size {new.tree_size} extends the tree of size {old.tree_size}")
            return ProofResult("consistency", lines)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"malformed proof bundle ({exc})") from exc
    raise ProofError(f"unknown proof type {kind!r}")


def _check_head(pub: bytes, head: merkle.TreeHead, lines: list[str]) -> None:
    if not merkle.verify_tree_head(pub, head):
        raise ProofError(f"the signature of tree head {head.tree_size} does not verify")
    when = dt.datetime.fromtimestamp(head.timestamp_ms / 1000, dt.timezone.utc).isoformat(
        timespec="seconds")
    lines.append(f"tree head {head.tree_size} ({when}) is signed by the log key")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
