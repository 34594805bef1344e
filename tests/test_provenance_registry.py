"""The registry: exact and near-duplicate lookups, offline proofs, tamper evidence."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.config import MediaLimits, ProvenanceSettings, ScanSettings
from fakescope.errors import ProofError, RegistryIntegrityError, RegistryNotFoundError
from fakescope.media import decode, load_bytes
from fakescope.provenance.check import fingerprint_loaded
from fakescope.provenance.registry import Registry, verify_bundle

LIMITS = MediaLimits()


def _jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def degraded(rgb: np.ndarray) -> bytes:
    """JPEG 70, then half size, then 5 % cropped off (width and height)."""
    im = Image.open(io.BytesIO(_jpeg(rgb, 70))).convert("RGB")
    im = im.resize((im.width // 2, im.height // 2), Image.BILINEAR)
    cw, ch = round(im.width * 0.05), round(im.height * 0.05)
    im = im.crop((cw // 2, 0, im.width - (cw - cw // 2), im.height - ch))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def register(reg: Registry, data: bytes, name: str, label: str | None = None):  # type: ignore[no-untyped-def]
    loaded = load_bytes(data, Path(name), LIMITS)
    media = decode(loaded, LIMITS) if loaded.media_type == "image" else None
    fp = fingerprint_loaded(loaded, media, LIMITS, variants=True)
    assert fp is not None
    return reg.register(loaded.sha256, fp, label)


def lookup(reg: Registry, data: bytes, name: str):  # type: ignore[no-untyped-def]
    loaded = load_bytes(data, Path(name), LIMITS)
    media = decode(loaded, LIMITS) if loaded.media_type == "image" else None
    return reg.lookup(loaded.sha256, fingerprint_loaded(loaded, media, LIMITS))


@pytest.fixture
def photos(astronaut: np.ndarray) -> dict[str, np.ndarray]:
    from fakescope.demo import no_face_photo

    return {"astronaut": astronaut, "coffee": no_face_photo()}


def test_exact_and_near_matches_and_a_stranger(tmp_path: Path, photos: dict[str, np.ndarray]) -> None:
    with Registry.create(tmp_path / "r.db") as reg:
        first = register(reg, _jpeg(photos["astronaut"]), "a.jpg", label="NASA portrait")
        assert first.new and first.entry.id == 0 and first.head.tree_size == 1
        again = register(reg, _jpeg(photos["astronaut"]), "a.jpg")
        assert not again.new and again.entry.id == 0 and again.head.tree_size == 1

        exact = lookup(reg, _jpeg(photos["astronaut"]), "a.jpg")
        assert exact.matched == "exact" and exact.matches[0].label == "NASA portrait"
        near = lookup(reg, degraded(photos["astronaut"]), "copy.jpg")
        assert near.matched == "near" and near.matches[0].entry_id == 0
        assert near.matches[0].distance is not None and 0 < near.matches[0].distance < 0.1
        stranger = lookup(reg, _jpeg(photos["coffee"]), "coffee.jpg")
        assert stranger.matched == "none" and stranger.matches == []
        assert stranger.tree_size == 1


def test_inclusion_proof_verifies_offline_and_catches_forgery(tmp_path: Path,
                                                              photos: dict[str, np.ndarray]) -> None:
    with Registry.create(tmp_path / "r.db") as reg:
        for i in range(5):
            register(reg, _jpeg(np.roll(photos["coffee"], 40 * i, axis=1)), f"c{i}.jpg")
        register(reg, _jpeg(photos["astronaut"]), "a.jpg")
        info = lookup(reg, degraded(photos["astronaut"]), "copy.jpg")
        bundle = reg.inclusion_bundle(info.matches[0].entry_id)
        pub = reg.public_key
    result = verify_bundle(bundle, pinned_key=pub)
    assert result.kind == "inclusion" and "included in the tree of size 6" in result.lines[-1]
    import hashlib

    sha = hashlib.sha256(_jpeg(photos["astronaut"])).hexdigest()
    verify_bundle(bundle, file_sha256=sha)
    with pytest.raises(ProofError, match="SHA-256"):
        verify_bundle(bundle, file_sha256="0" * 64)
    forged = dict(bundle, entry=bundle["entry"].replace('"label":null', '"label":"forged"'))
    with pytest.raises(ProofError, match="not included"):
        verify_bundle(forged)
    with pytest.raises(ProofError, match="different log key"):
        verify_bundle(bundle, pinned_key=b"\x00" * 32)
    moved = dict(bundle, tree_head=dict(bundle["tree_head"], tree_size=7))
    with pytest.raises(ProofError, match="signature"):
        verify_bundle(moved)


def test_consistency_between_signed_heads(tmp_path: Path, photos: dict[str, np.ndarray]) -> None:
    with Registry.create(tmp_path / "r.db") as reg:
        for i in range(7):
            register(reg, _jpeg(np.roll(photos["coffee"], 30 * i, axis=0)), f"c{i}.jpg")
        for old in range(0, 8):
            assert verify_bundle(reg.consistency_bundle(old)).kind == "consistency"
        bundle = reg.consistency_bundle(3, 6)
    bundle["proof"][0] = "00" * 32
    with pytest.raises(ProofError, match="does not extend"):
        verify_bundle(bundle)


def test_a_rewritten_entry_is_detected(tmp_path: Path, photos: dict[str, np.ndarray]) -> None:
    db = tmp_path / "r.db"
    with Registry.create(db) as reg:
        for i in range(4):
            register(reg, _jpeg(np.roll(photos["coffee"], 50 * i, axis=1)), f"c{i}.jpg")
        old_bundle = reg.inclusion_bundle(1)
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), conn:
        conn.execute("UPDATE entries SET sha256 = 'x' WHERE id = 1")
    # Someone with write access drops the guard and quietly rewrites entry 1.
    with conn:
        conn.execute("DROP TRIGGER entries_append_only_u")
        data = conn.execute("SELECT data FROM entries WHERE id = 1").fetchone()[0]
        conn.execute("UPDATE entries SET data = ? WHERE id = 1",
                     (bytes(data).replace(b'"label":null', b'"label":"rewritten"'),))
    conn.close()
    with Registry.open(db) as reg:
        with pytest.raises(RegistryIntegrityError, match="rewritten"):
            reg.check()
        with pytest.raises(RegistryIntegrityError):
            reg.audit()
        with pytest.raises(RegistryIntegrityError):
            reg.lookup("0" * 64, None)
    verify_bundle(old_bundle)  # proofs handed out before the rewrite still verify offline


def test_scans_use_an_existing_registry_and_never_create_one(tmp_path: Path,
                                                             photos: dict[str, np.ndarray]) -> None:
    from fakescope.scan.scanner import Scanner

    db = tmp_path / "reg" / "r.db"
    settings = ScanSettings(analyzers=["metadata"], provenance=ProvenanceSettings(registry=str(db)))
    (tmp_path / "copy.jpg").write_bytes(degraded(photos["astronaut"]))
    r = Scanner(settings).scan(tmp_path / "copy.jpg")
    assert r.provenance is not None and r.provenance.registry is None
    assert not db.exists() and not db.parent.exists()
    with pytest.raises(RegistryNotFoundError):
        Registry.open(db)

    with Registry.create(db) as reg:
        register(reg, _jpeg(photos["astronaut"]), "a.jpg")
    r = Scanner(settings).scan(tmp_path / "copy.jpg")
    assert r.provenance is not None and r.provenance.registry is not None
    assert r.provenance.registry.matched == "near"
    assert r.verdict == "real" and "registry entry 0" in r.reason


def _video(path: Path, frames: list[np.ndarray], fps: int = 10, gop: int = 10,
           bitrate: int = 800_000) -> None:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.bit_rate = bitrate
        s.codec_context.gop_size = gop
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _scenes(photo: np.ndarray, n: int = 40) -> list[np.ndarray]:
    """A slow pan across a photo, one distinct view per second (a keyframe each)."""
    h, w = photo.shape[:2]
    side = min(h, w) // 2 // 16 * 16
    views = []
    for i in range(n):
        y, x = (i // 10) * 20, (i // 10) * 40
        views.append(np.ascontiguousarray(photo[y:y + side, x:x + side]))
    return views


def test_video_keyframes_match_after_reencoding(tmp_path: Path, photos: dict[str, np.ndarray]) -> None:
    import cv2

    frames = _scenes(photos["astronaut"])
    _video(tmp_path / "orig.mp4", frames)
    _video(tmp_path / "copy.mp4", [cv2.resize(f, (f.shape[1] // 2 // 8 * 8, f.shape[0] // 2 // 8 * 8))
                                   for f in frames], bitrate=150_000)
    _video(tmp_path / "other.mp4", _scenes(photos["coffee"]))
    with Registry.create(tmp_path / "r.db") as reg:
        entry = register(reg, (tmp_path / "orig.mp4").read_bytes(), "orig.mp4").entry
        assert len(entry.fingerprint.keyframes) >= 4
        assert lookup(reg, (tmp_path / "copy.mp4").read_bytes(), "copy.mp4").matched == "near"
        assert lookup(reg, (tmp_path / "other.mp4").read_bytes(), "other.mp4").matched == "none"


def _wav(path: Path, notes: list[float], rate: int = 22050, noise: float = 0.0, seed: int = 0) -> None:
    import wave

    rng = np.random.default_rng(seed)
    t = np.arange(int(0.25 * rate)) / rate
    # Notes with harmonics: energy across the fingerprint's bands, as in real recordings.
    sig = np.concatenate([sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 8)) * np.hanning(len(t))
                          for f in notes]) / 2
    sig = sig + noise * rng.standard_normal(len(sig))
    pcm = (np.clip(sig, -1, 1) * 20000).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def test_audio_fingerprint_matches_a_noisy_resampled_copy(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    melody = list(rng.uniform(150, 900, 40))
    other = list(rng.uniform(150, 900, 40))
    _wav(tmp_path / "orig.wav", melody)
    _wav(tmp_path / "copy.wav", melody, rate=16000, noise=0.03, seed=1)
    _wav(tmp_path / "other.wav", other)
    with Registry.create(tmp_path / "r.db") as reg:
        register(reg, (tmp_path / "orig.wav").read_bytes(), "orig.wav")
        assert lookup(reg, (tmp_path / "copy.wav").read_bytes(), "copy.wav").matched == "near"
        assert lookup(reg, (tmp_path / "other.wav").read_bytes(), "other.wav").matched == "none"


def test_registry_fusion_rules() -> None:
    from fakescope.fusion import Fused, apply_provenance
    from fakescope.provenance.models import C2paInfo, Provenance, RegistryInfo, RegistryMatch

    def prov(kind: str) -> Provenance:
        match = RegistryMatch(entry_id=3, kind=kind, distance=0.0 if kind == "exact" else 0.03,  # type: ignore[arg-type]
                              sha256="0" * 64, registered_at="2026-01-01T00:00:00+00:00")
        return Provenance(c2pa=C2paInfo(state="absent"),
                          registry=RegistryInfo(checked=True, matched=kind, matches=[match]))  # type: ignore[arg-type]

    for verdict, score in (("fake", 0.9), ("inconclusive", 0.5), ("no_face", None)):
        exact = apply_provenance(Fused(verdict, score, [], "detectors"), prov("exact"))
        assert exact.verdict == "real" and exact.score is not None and exact.score <= 0.05
        assert "registry entry 3" in exact.reason
    assert apply_provenance(Fused("no_face", None, [], "no face"), prov("near")).verdict == "real"
    for verdict, score in (("fake", 0.9), ("inconclusive", 0.5)):
        near = apply_provenance(Fused(verdict, score, [score], "detectors"), prov("near"))
        assert near.verdict == verdict and near.score == score
        assert "compare with the registered original" in near.reason
