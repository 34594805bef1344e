"""A Merkle tree log in the style of Certificate Transparency (RFC 6962 / RFC 9162).

- Leaf hash ``SHA-256(0x00 || entry)``, node hash ``SHA-256(0x01 || left || right)``: the
  prefixes keep a leaf from ever passing for a node (second-preimage resistance).
- Inclusion proofs (audit paths) and consistency proofs, generated and verified with the
  algorithms of RFC 9162 section 2.1.
- Signed tree heads: an Ed25519 signature over RFC 6962's TreeHeadSignature structure
  (version v1, signature type tree_hash, timestamp, tree size, root hash).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes*, in one pass (see :func:`prefix_roots`)."""
    if not leaves:
        return EMPTY_ROOT
    return prefix_roots(leaves, [len(leaves)])[len(leaves)]


def prefix_roots(leaves: Sequence[bytes], sizes: Sequence[int]) -> dict[int, bytes]:
    """MTH of the first ``size`` leaves for every size asked, in one O(n) pass.

    A stack holds the roots of the complete subtrees that make up the prefix (the binary
    decomposition of its size); folding it from the right gives RFC 9162's tree, whose
    left subtree is always the largest complete one. Auditing every signed tree head of
    a log therefore costs one pass over its leaves, not one per head.
    """
    wanted = set(sizes)
    out: dict[int, bytes] = {}
    if 0 in wanted:
        out[0] = EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (height, hash)
    for i, leaf in enumerate(leaves, start=1):
        stack.append((0, leaf))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (h, right), (_, left) = stack.pop(), stack.pop()
            stack.append((h + 1, node_hash(left, right)))
        if i in wanted:
            r = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                r = node_hash(left, r)
            out[i] = r
    missing = wanted - set(out)
    if missing:
        raise ValueError(f"sizes {sorted(missing)} exceed the {len(leaves)} leaves")
    return out


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    return root_hash(leaves[lo:hi])


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1 for leaf ``index`` of ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of size {n}")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_mth(leaves, lo, lo + k))
            lo, m = lo + k, m - k
    return path[::-1]  # collected top-down; RFC order is bottom-up


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1 (empty when m is 0 or n)."""
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} outside 0..{n}")
    if old_size in (0, n):
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, n, old_size, True
    while True:
        size = hi - lo
        if m == size:
            if not complete:
                proof.append(_mth(leaves, lo, hi))
            break
        k = _split(size)
        if m <= k:
            proof.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_mth(leaves, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    return proof[::-1]


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2; ``leaf`` is the leaf hash."""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if old_size < 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # every tree extends the empty one
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# --- signed tree heads -------------------------------------------------------------------


def tree_head_message(tree_size: int, timestamp_ms: int, root: bytes) -> bytes:
    """RFC 6962 TreeHeadSignature: version v1 (0), signature_type tree_hash (1), uint64s."""
    return struct.pack(">BBQQ", 0, 1, timestamp_ms, tree_size) + root


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    timestamp_ms: int
    root: bytes
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "timestamp_ms": self.timestamp_ms,
                "root_hash": self.root.hex(), "signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeHead:
        return cls(int(data["tree_size"]), int(data["timestamp_ms"]), bytes.fromhex(data["root_hash"]),
                   base64.b64decode(data["signature"]))


def sign_tree_head(private_key: Any, tree_size: int, timestamp_ms: int, root: bytes) -> TreeHead:
    """``private_key``: a cryptography Ed25519PrivateKey (the log key)."""
    sig = private_key.sign(tree_head_message(tree_size, timestamp_ms, root))
    return TreeHead(tree_size, timestamp_ms, root, sig)


def verify_tree_head(public_key_raw: bytes, head: TreeHead) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(
            head.signature, tree_head_message(head.tree_size, head.timestamp_ms, head.root))
    except (InvalidSignature, ValueError):
        return False
    return True


def log_id(public_key_raw: bytes) -> str:
    """The log's identity: SHA-256 of its raw Ed25519 public key, hex."""
    return hashlib.sha256(public_key_raw).hexdigest()
