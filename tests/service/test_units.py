"""Settings, rate limiting, callback URL checks, API keys and the blob store, in isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.jobs.callbacks import CallbackURLError, check_callback_url
from fakescope.service.keys import create_key, parse_token, verify
from fakescope.service.ratelimit import RateLimiter
from fakescope.service.settings import ConfigFileError, load_settings
from fakescope.service.uploads import blob_suffix, safe_filename
from fakescope.store.blobs import BlobStore, BlobStoreError
from fakescope.store.database import Database, normalise_url


def test_settings_precedence_flags_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "fakescope.toml"
    cfg.write_text("[service]\nport = 7000\nworkers = 3\nretention-days = 7\nhost = '0.0.0.0'\n")
    monkeypatch.setenv("FAKESCOPE_PORT", "9000")
    monkeypatch.setenv("FAKESCOPE_CORS_ORIGINS", "https://a.example, https://b.example")
    s = load_settings(cfg, workers=5, host=None)
    assert (s.port, s.workers, s.retention_days, s.host) == (9000, 5, 7.0, "0.0.0.0")
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.auth_required  # not loopback: keys required by default

    yaml_cfg = tmp_path / "fakescope.yaml"
    yaml_cfg.write_text("database_url: postgresql://u:p@db/fs\nblob_url: s3://bucket/media\n")
    monkeypatch.setenv("FAKESCOPE_CONFIG", str(yaml_cfg))
    s = load_settings()
    assert s.db_url == "postgresql://u:p@db/fs" and s.blobs_url == "s3://bucket/media"

    bad = tmp_path / "bad.toml"
    bad.write_text("workers = 'many'\n")
    with pytest.raises(ConfigFileError):
        load_settings(bad)


def test_auth_default_depends_on_the_bind_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKESCOPE_CONFIG", raising=False)
    assert not load_settings(host="127.0.0.1").auth_required
    assert not load_settings(host="::1").auth_required
    assert load_settings(host="0.0.0.0").auth_required
    assert load_settings(host="127.0.0.1", auth="required").auth_required
    assert not load_settings(host="0.0.0.0", auth="off").auth_required


def test_token_bucket() -> None:
    now = [0.0]
    rl = RateLimiter(lambda: now[0])
    assert [rl.take("k", 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = rl.take("k", 3)
    assert wait == pytest.approx(20.0)  # one token every 20 s at 3/min
    assert rl.take("other", 3) == 0.0
    now[0] = 20.0
    assert rl.take("k", 3) == 0.0
    assert rl.take("k", 3) > 0


def test_callback_urls() -> None:
    assert check_callback_url("https://93.184.216.34/hook", allow_private=False)
    for bad in ("ftp://example.org/", "file:///etc/passwd", "javascript:alert(1)", "http:///nohost",
                "https://user:pw@example.org/"):
        with pytest.raises(CallbackURLError):
            check_callback_url(bad, allow_private=True)
    for internal in ("http://127.0.0.1/", "http://10.0.0.5/", "http://169.254.169.254/latest", "http://[::1]/",
                     "http://localhost:8080/"):
        with pytest.raises(CallbackURLError):
            check_callback_url(internal, allow_private=False)
        assert check_callback_url(internal, allow_private=True)


def test_api_keys_are_stored_hashed(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    db.migrate()
    k = create_key(db, "cms", rate_per_min=10)
    assert parse_token(k.token) == k.id and k.token.startswith("fsk_")
    assert verify(db, k.token).name == "cms"
    assert verify(db, k.token[:-1] + ("A" if k.token[-1] != "A" else "B")) is None
    assert verify(db, "Bearer nonsense") is None
    assert k.token.split("_", 2)[2].encode() not in (tmp_path / "k.db").read_bytes()
    db.dispose()


def test_database_urls_and_schema_version(tmp_path: Path) -> None:
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'v.db'}")
    db.migrate()
    db.migrate()  # idempotent
    assert db.schema_version() == 4
    # A database written by schema 1 (no idempotency_keys, reviews, key_roles, people) is upgraded in place.
    import sqlalchemy as sa

    with db.write() as s:
        for table in ("idempotency_keys", "reviews", "key_roles", "person_templates", "people"):
            s.execute(sa.text(f"DROP TABLE {table}"))
        s.execute(sa.text("UPDATE fakescope_schema SET version = 1"))
    db.migrate()
    assert db.schema_version() == 4
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"idempotency_keys", "reviews", "key_roles", "person_templates", "people"} <= tables
    db.dispose()


def test_the_sqlite_database_is_private_to_its_owner(tmp_path: Path) -> None:
    """Issue 18: the database (file names, hashes, reports) was created 0644, uploads 0600."""
    import os

    old = os.umask(0o022)
    try:
        db = Database(f"sqlite:///{tmp_path / 'sub' / 'fs.db'}")
        db.migrate()
        with db.write() as s:  # a write creates the -wal file beside it
            s.execute(__import__("sqlalchemy").text("SELECT 1"))
        files = [p for p in (tmp_path / "sub").iterdir() if p.name.startswith("fs.db")]
        assert files and all(p.stat().st_mode & 0o777 == 0o600 for p in files), \
            [(p.name, oct(p.stat().st_mode & 0o777)) for p in files]
        db.dispose()
        loose = tmp_path / "loose.db"
        loose.touch(mode=0o644)
        loose.chmod(0o644)
        Database(f"sqlite:///{loose}").migrate()
        assert loose.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    from fakescope.store.database import DatabaseError
    from fakescope.store.models import SchemaInfo

    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    db.migrate()
    with db.write() as s:
        s.get(SchemaInfo, 1).version = 99
    with pytest.raises(DatabaseError, match="newer"):
        db.migrate()
    db.dispose()


@pytest.mark.parametrize("url", ["file://{tmp}/blobs", "memory://fakescope-test-{name}"])
def test_blob_store(url: str, tmp_path: Path) -> None:
    store = BlobStore(url.format(tmp=tmp_path, name=tmp_path.name))
    src = store.staging_dir / "x.tmp"
    src.write_bytes(b"media bytes")
    store.put_file("scans/abc/upload.jpg", src)
    assert not src.exists()
    store.put_bytes("scans/abc/heatmaps.npz", b"heat")
    assert store.get_bytes("scans/abc/upload.jpg") == b"media bytes"
    with store.local_file("scans/abc/upload.jpg", ".jpg") as p:
        assert p.read_bytes() == b"media bytes"
    assert store.list_prefixes("scans") == ["abc"]
    store.delete_prefix("scans/abc")
    assert not store.exists("scans/abc/upload.jpg") and store.list_prefixes("scans") == []
    with pytest.raises(BlobStoreError):
        store.get_bytes("scans/abc/upload.jpg")
    with pytest.raises(BlobStoreError):
        store.put_bytes("../escape", b"")


def test_upload_names() -> None:
    assert safe_filename("C:\\Users\\me\\photo.JPG", "x") == "photo.JPG"
    assert safe_filename("../../etc/passwd", "x") == "passwd"
    assert safe_filename("a\x00b\nc.png", "x") == "abc.png"
    assert safe_filename("", "upload.jpeg") == "upload.jpeg"
    assert blob_suffix("photo.JPG", "jpeg") == ".jpg"
    assert blob_suffix("no-extension", "png") == ".png"
    assert blob_suffix("weird.j p g", "jpeg") == ".jpeg"


def test_whole_image_heatmaps_survive_storage_without_pixels() -> None:
    import numpy as np

    from fakescope.analyzers.base import ImageHeatmap
    from fakescope.jobs.worker import heatmaps_npz, load_heatmaps, load_image_heatmaps
    from fakescope.report.schema import ScanReport
    from fakescope.scan.image import Visual

    heat = np.full((600, 800), np.nan, np.float32)
    heat[:128, :128], heat[-128:, -128:] = 0.9, 0.1
    report = ScanReport(fakescope_version="t", file="x.png", verdict="fake", score=0.9)
    report._visual = Visual(rgb=np.zeros((600, 800, 3), np.uint8), heatmaps=[],
                            image_heatmaps=[ImageHeatmap(heat=heat, source="generated")])
    blob = heatmaps_npz(report)
    assert blob is not None and len(blob) < 20_000  # a low-resolution map, not the picture
    assert load_heatmaps(blob) == []
    [back] = load_image_heatmaps(blob, 600, 800)
    assert back.source == "generated" and back.heat.shape == (600, 800)
    assert np.nanmean(back.heat[10:110, 10:110]) == pytest.approx(0.9, abs=0.01)
    assert np.nanmean(back.heat[-110:, -110:]) == pytest.approx(0.1, abs=0.01)
    assert np.isnan(back.heat[300, 400])  # where no crop looked stays unpainted


def test_forwarded_headers_count_only_from_named_proxies() -> None:
    """Issue 18: uvicorn believed X-Forwarded-For from localhost, so the per-address limit
    could be dodged by naming another address."""
    import asyncio

    import uvicorn

    from fakescope.cli.service import uvicorn_options
    from fakescope.service.settings import ServiceSettings

    seen: list[str] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["client"][0])

    def client_seen(settings: ServiceSettings) -> str:
        opts = {k: v for k, v in uvicorn_options(settings).items()
                if k in ("proxy_headers", "forwarded_allow_ips")}
        cfg = uvicorn.Config(app, **opts)  # type: ignore[arg-type]
        cfg.load()
        scope = {"type": "http", "client": ("127.0.0.1", 5000), "scheme": "http",
                 "headers": [(b"x-forwarded-for", b"203.0.113.9")]}
        asyncio.run(cfg.loaded_app(scope, None, None))
        return seen[-1]

    assert client_seen(ServiceSettings()) == "127.0.0.1"
    assert client_seen(ServiceSettings(trusted_proxies=["127.0.0.1"])) == "203.0.113.9"


def test_report_pages_are_drawn_at_the_size_they_are_shown() -> None:
    """Issue 18: report.html painted heatmaps over the full picture (an 8900 px PNG: GBs per
    request); now the picture, the heatmap matrices and the boxes are scaled first, alike."""
    import numpy as np

    from fakescope.analyzers.base import FaceHeatmap
    from fakescope.report.html import MAX_SIDE
    from fakescope.report.schema import FaceResult, ScanReport
    from fakescope.service.render import fit_for_report

    rgb = np.zeros((1000, 4 * MAX_SIDE, 3), np.uint8)
    m = np.array([[0.5, 0.0, -100.0], [0.0, 0.5, -50.0]])
    hm = FaceHeatmap(0, np.ones((7, 7), np.float32), 224, m)
    report = ScanReport(fakescope_version="t", file="x", verdict="real", score=0.1, media_type="image",
                        faces=[FaceResult(index=0, box=(400.0, 200.0, 800.0, 600.0), detector_score=0.9,
                                          landmarks=[(0.0, 0.0)] * 5, landmarks_source="facemesh")])
    small, heat, shown = fit_for_report(rgb, [hm], report)
    assert small.shape[:2] == (250, MAX_SIDE)
    assert shown.faces[0].box == (100.0, 50.0, 200.0, 150.0) and report.faces[0].box[0] == 400.0
    # A point of the original maps to the same crop pixel through the scaled matrix.
    p = np.array([600.0, 400.0, 1.0])
    assert np.allclose(heat[0].image_to_crop @ (p * [0.25, 0.25, 1.0]), m @ p)
