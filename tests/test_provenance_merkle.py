"""The Merkle log against RFC 9162's definitions, for random tree sizes (hypothesis)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakescope.provenance import merkle


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 section 2.1.1 writes it (recursive, slow, obviously right)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def tree(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_known_answers() -> None:
    assert merkle.root_hash([]) == hashlib.sha256(b"").digest()
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    a, b, c = tree(3)
    assert merkle.root_hash([a, b, c]) == merkle.node_hash(merkle.node_hash(a, b), c)
    assert merkle.inclusion_proof(2, [a, b, c]) == [merkle.node_hash(a, b)]
    assert merkle.consistency_proof(2, [a, b, c]) == [c]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_inclusion_proofs_verify_and_nothing_else_does(n: int, data: st.DataObject) -> None:
    leaves = tree(n)
    root = merkle.root_hash(leaves)
    assert root == reference_root(leaves)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_proof(i, leaves)
    assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
    # Another leaf, another index, another size or a bent path must all fail.
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), i, n, proof, root)
    if n > 1:
        j = (i + 1) % n
        assert not merkle.verify_inclusion(leaves[i], j, n, proof, root)
        assert not merkle.verify_inclusion(leaves[j], i, n, proof, root)
        bent = list(proof)
        k = data.draw(st.integers(min_value=0, max_value=len(bent) - 1))
        bent[k] = hashlib.sha256(bent[k]).digest()
        assert not merkle.verify_inclusion(leaves[i], i, n, bent, root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof[:-1], root)
    # (The size itself is bound to the root by the signed tree head, not by the path.)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_consistency_proofs_verify_and_detect_rewrites(n: int, data: st.DataObject) -> None:
    leaves = tree(n)
    m = data.draw(st.integers(min_value=0, max_value=n))
    old_root, new_root = merkle.root_hash(leaves[:m]), merkle.root_hash(leaves)
    proof = merkle.consistency_proof(m, leaves)
    assert merkle.verify_consistency(m, n, old_root, new_root, proof)
    if 0 < m < n:
        # The same old head against a log whose first m entries were rewritten.
        j = data.draw(st.integers(min_value=0, max_value=m - 1))
        rewritten = list(leaves)
        rewritten[j] = merkle.leaf_hash(b"rewritten")
        forged_proof = merkle.consistency_proof(m, rewritten)
        assert not merkle.verify_consistency(m, n, old_root, merkle.root_hash(rewritten), forged_proof)
        assert not merkle.verify_consistency(m, n, old_root, new_root, proof[:-1])
        assert not merkle.verify_consistency(m, n, merkle.leaf_hash(b"x"), new_root, proof)
        bent = list(proof)
        k = data.draw(st.integers(min_value=0, max_value=len(bent) - 1))
        bent[k] = hashlib.sha256(bent[k]).digest()
        assert not merkle.verify_consistency(m, n, old_root, new_root, bent)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=8))
def test_prefix_roots_match_the_definition(sizes: list[int]) -> None:
    leaves = tree(max(sizes))
    roots = merkle.prefix_roots(leaves, sizes)
    for s in sizes:
        assert roots[s] == reference_root(leaves[:s])


def test_signed_tree_heads() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    root = merkle.root_hash(tree(5))
    head = merkle.sign_tree_head(key, 5, 1_700_000_000_000, root)
    assert merkle.verify_tree_head(pub, head)
    assert merkle.TreeHead.from_json(head.to_json()) == head
    for forged in (merkle.TreeHead(6, head.timestamp_ms, root, head.signature),
                   merkle.TreeHead(5, head.timestamp_ms + 1, root, head.signature),
                   merkle.TreeHead(5, head.timestamp_ms, merkle.leaf_hash(b"x"), head.signature)):
        assert not merkle.verify_tree_head(pub, forged)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert not merkle.verify_tree_head(other, head)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(3, tree(3))
    with pytest.raises(ValueError):
        merkle.consistency_proof(4, tree(3))
    assert not merkle.verify_consistency(3, 2, b"", b"", [])
