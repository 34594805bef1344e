"""Reviews (issue 30): a reviewer records the truth about a scan through the API, only with
the reviewer role and only on the scans its key sees; every review is audited (never its
note); a review lives and dies with its scan; the queue lists the inconclusive and the
disputed first."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import numpy as np
import pytest
from sqlalchemy import select

from fakescope.report.schema import ScanReport
from fakescope.service.keys import create_key
from fakescope.service.reviews import grant
from fakescope.store.models import AuditEvent, Review

from .conftest import FakeClock, FastScanner, upload, wait_final


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _reviews(svc: Any) -> list[Review]:
    with svc.db.read() as s:
        return list(s.scalars(select(Review)))


def test_a_reviewer_records_the_truth_and_only_where_it_may(make_client, jpeg_bytes) -> None:  # type: ignore[no-untyped-def]
    c = make_client(auth="required", scanner=FastScanner())
    svc = c.app.state.service
    team, other, admin = (create_key(svc.db, "team"), create_key(svc.db, "other"),
                          create_key(svc.db, "ops", admin=True))
    sid = upload(c, jpeg_bytes, headers=_auth(team.token)).json()["id"]
    assert wait_final(c, sid, _auth(team.token))["verdict"] == "real"
    url = f"/v1/scans/{sid}/review"

    # Without the reviewer role: refused, and nothing recorded.
    r = c.post(url, json={"label": "fake"}, headers=_auth(team.token))
    assert r.status_code == 403 and "reviewer role" in r.json()["detail"]
    assert c.get(url, headers=_auth(team.token)).status_code == 404
    grant(svc.db, team.id, "reviewer")
    grant(svc.db, other.id, "reviewer")

    r = c.post(url, json={"label": "fake", "note": "the shadow is pasted"}, headers=_auth(team.token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["label"], body["note"], body["reviewer"], body["verdict"], body["agrees"]) == \
        ("fake", "the shadow is pasted", team.id, "real", False)
    assert c.get(url, headers=_auth(team.token)).json()["label"] == "fake"
    # Another tenant's reviewer cannot see the scan, so cannot review it either.
    assert c.post(url, json={"label": "real"}, headers=_auth(other.token)).status_code == 404
    assert c.get(url, headers=_auth(other.token)).status_code == 404
    # An admin's later review replaces it; the first stays in the audit log.
    r = c.post(url, json={"label": "real"}, headers=_auth(admin.token))
    assert r.status_code == 200 and r.json()["agrees"] is True and r.json()["reviewer"] == admin.id
    assert [(x.label, x.reviewer_key_id, x.owner_key_id) for x in _reviews(svc)] == \
        [("real", admin.id, team.id)]
    with svc.db.read() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "review.record")
                                .order_by(AuditEvent.id)))
    assert [(e.key_id, e.scan_id, e.detail) for e in events] == \
        [(team.id, sid, "label=fake"), (admin.id, sid, "label=real")]
    assert "fakescope_reviews_total" in c.get("/metrics", headers=_auth(admin.token)).text

    # Refused input: an unknown label, a note too long.
    assert c.post(url, json={"label": "maybe"}, headers=_auth(team.token)).status_code == 422
    long_note = {"label": "fake", "note": "x" * 2001}
    assert c.post(url, json=long_note, headers=_auth(team.token)).status_code == 422
    # Deleting the scan deletes its review.
    assert c.delete(f"/v1/scans/{sid}", headers=_auth(team.token)).status_code == 204
    assert _reviews(svc) == []


def test_a_scan_without_a_report_cannot_be_reviewed(make_client, jpeg_bytes) -> None:  # type: ignore[no-untyped-def]
    c = make_client(start_workers=False)
    sid = upload(c, jpeg_bytes).json()["id"]
    r = c.post(f"/v1/scans/{sid}/review", json={"label": "real"})
    assert r.status_code == 409 and "no report yet" in r.json()["detail"]


def test_retention_purges_reviews_with_their_scans(make_client, jpeg_bytes) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    c = make_client(scanner=FastScanner(), clock=clock, retention_days=1)
    svc = c.app.state.service
    sid = upload(c, jpeg_bytes).json()["id"]
    wait_final(c, sid)
    assert c.post(f"/v1/scans/{sid}/review", json={"label": "real"}).status_code == 200
    clock.advance(days=2)
    assert svc.purge() == 1
    assert _reviews(svc) == []


class _ByName:
    """A stand-in scanner whose report depends on the file's name."""

    REPORTS: ClassVar[dict[str, tuple[str, float, dict[str, float]]]] = {
        "inconclusive.jpg": ("inconclusive", 0.5, {"generated_image": 0.5}),
        "disputed.jpg": ("fake", 0.9, {"face_manipulation": 0.9, "generated_image": 0.1}),
        "plain.jpg": ("real", 0.1, {"generated_image": 0.1}),
        "unsure.jpg": ("real", 0.2, {"generated_image": 0.2}),
        "settled.jpg": ("fake", 0.95, {"generated_image": 0.95}),
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def scan(self, path: Any, display: str | None = None) -> ScanReport:
        verdict, score, evidence = self.REPORTS[str(display)]
        return ScanReport(fakescope_version="test", file=str(display), verdict=verdict, score=score,
                          media_type="image", reason="stand-in", evidence=evidence)


def test_the_queue_lists_the_inconclusive_and_the_disputed_first(make_client, jpeg_bytes) -> None:  # type: ignore[no-untyped-def]
    c = make_client(auth="required", scanner=_ByName())
    svc = c.app.state.service
    team, viewer = create_key(svc.db, "team"), create_key(svc.db, "viewer")
    grant(svc.db, team.id, "reviewer")
    ids = {}
    for name in ("plain.jpg", "settled.jpg", "unsure.jpg", "disputed.jpg", "inconclusive.jpg"):
        ids[name] = upload(c, jpeg_bytes, name=name, headers=_auth(team.token)).json()["id"]
        wait_final(c, ids[name], _auth(team.token))
    # someone else's scan never shows in this tenant's queue
    upload(c, jpeg_bytes, name="plain.jpg", headers=_auth(viewer.token))
    for name, label in (("settled.jpg", "fake"), ("unsure.jpg", "unsure")):
        r = c.post(f"/v1/scans/{ids[name]}/review", json={"label": label}, headers=_auth(team.token))
        assert r.status_code == 200

    r = c.get("/v1/reviews/queue", headers=_auth(team.token))
    assert r.status_code == 200, r.text
    q = r.json()
    assert [(i["filename"], i["why"], i["review"]) for i in q["items"]] == [
        ("inconclusive.jpg", "inconclusive", None), ("disputed.jpg", "disputed", None),
        ("unsure.jpg", "unsure", "unsure"), ("plain.jpg", "unreviewed", None)]
    assert q["waiting"] == 4
    assert len(c.get("/v1/reviews/queue?limit=2", headers=_auth(team.token)).json()["items"]) == 2
    assert c.get("/v1/reviews/queue", headers=_auth(viewer.token)).status_code == 403
    # drift metrics: each kind's probabilities per media type, reviews by verdict and label
    metrics = c.get("/metrics", headers=_auth(team.token)).text
    # (the other tenant's scan counts too: metrics are the server's)
    assert 'fakescope_evidence_probability_count{kind="generated_image",media_type="image"} 6.0' in metrics
    face = 'fakescope_evidence_probability_bucket{kind="face_manipulation",le="%s",media_type="image"} %s'
    assert face % ("0.8", "0.0") in metrics and face % ("0.9", "1.0") in metrics  # the disputed photo's 0.9
    assert 'fakescope_reviews_total{label="fake",media_type="image",verdict="fake"} 1.0' in metrics


def test_review_calibrate_use_and_roll_back_against_the_real_service(make_client, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Scan -> review -> `fakescope calibrate` -> the service's next scan uses the new
    thresholds -> `fakescope calibrate --rollback` -> the bundled ones again. (The reviews
    call some of the photos fake: with fake labels a threshold may move down, which the
    reason of a `real` verdict quotes.)"""
    import io

    from click.testing import CliRunner
    from PIL import Image

    from fakescope.cli.main import main
    from fakescope.config import ScanSettings
    from fakescope.demo import astronaut
    from fakescope.feedback.calibrate import MIN_FAKE, MIN_REAL
    from fakescope.models import load_fusion
    from fakescope.scan.scanner import Scanner

    data = tmp_path / "data"
    scanner = Scanner(ScanSettings(analyzers=["local-edit"], calibration_dir=data / "calibration"))
    c = make_client(scanner=scanner, data_dir=data)
    rng = np.random.default_rng(3)

    def photo() -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.roll(astronaut(), int(rng.integers(-80, 80)), axis=1)).save(
            buf, format="JPEG", quality=int(rng.integers(75, 96)))
        return buf.getvalue()

    def scan_reason() -> str:
        sid = upload(c, photo()).json()["id"]
        return wait_final(c, sid)["report"]["reason"]

    bundled = load_fusion().local_edit
    assert f"< {bundled.threshold_real:.2f}" in scan_reason()
    for k in range(MIN_REAL + MIN_FAKE):
        sid = upload(c, photo()).json()["id"]
        assert wait_final(c, sid)["status"] == "done"
        label = "real" if k < MIN_REAL else "fake"
        assert c.post(f"/v1/scans/{sid}/review", json={"label": label}).status_code == 200

    cli = ["--data-dir", str(data), "--database-url", db_url]
    result = CliRunner().invoke(main, ["calibrate", *cli])
    assert result.exit_code == 0, result.output
    assert "wrote v1" in result.output and "local_edit" in result.output and "false alarms" in result.output
    new = result.output.split("local_edit", 1)[1].split("→")[2].split()[0]  # the new `real` threshold
    assert float(new) != pytest.approx(bundled.threshold_real)
    assert f"< {float(new):.2f}" in scan_reason()  # in use from the next scan
    sid = upload(c, photo()).json()["id"]
    assert "thresholds: local calibration v1 fitted on this deployment's reviews" in \
        wait_final(c, sid)["report"]["notes"]

    result = CliRunner().invoke(main, ["calibrate", "--rollback", *cli])
    assert result.exit_code == 0 and "bundled thresholds" in result.output, result.output
    assert f"< {bundled.threshold_real:.2f}" in scan_reason()
    listed = CliRunner().invoke(main, ["calibrate", "--list", *cli]).output
    assert "v1" in listed and "(in use)" not in listed
