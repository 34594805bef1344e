"""The web UI in a real headless browser (Debian's chromium driven by Playwright): a real
server in a subprocess, an API key entered in the page, a generated photo uploaded through
the file picker and another by drag and drop, the report page checked for what a person
sees. Skipped when chromium or Playwright is absent."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FAKESCOPE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
httpx = pytest.importorskip("httpx")

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def server(real_server):  # type: ignore[no-untyped-def]
    return real_server("browser")


def test_upload_and_report_in_a_real_browser(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from fakescope.demo import astronaut, group_photo

    base, key = server
    expect = sync_api.expect
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut()).save(photo, quality=90)
    group = tmp_path / "group.jpg"
    Image.fromarray(group_photo(astronaut())).save(group, quality=90)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        try:
            page.goto(base + "/")
            # Keys are required: the page asks for one, keeps it in localStorage.
            page.wait_for_selector("#keyform", state="visible")
            assert "API key" in page.inner_text("#notice")
            page.fill("#apikey", key)
            page.click("#keyform button[type=submit]")
            page.wait_for_selector("#empty", state="visible")

            page.set_input_files("#fileinput", str(photo))
            page.wait_for_selector(".uploads a:has-text('view report')", timeout=120_000)
            assert page.get_attribute(".uploads progress", "value") == "100"

            # Drag and drop the second photo onto the drop zone.
            b64 = base64.b64encode(group.read_bytes()).decode()
            page.evaluate("""([b64, name]) => {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], name, { type: "image/jpeg" }));
                document.getElementById("drop").dispatchEvent(
                    new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
            }""", [b64, "group.jpg"])
            # Locators, not wait_for_function: the page's CSP (rightly) forbids eval.
            expect(page.locator(".uploads a")).to_have_count(2, timeout=120_000)
            expect(page.locator("#scanrows tr")).to_have_count(2)
            assert page.locator("#scanrows .badge").count() == 2

            # The report page of the single portrait.
            page.click(".uploads li[data-upload='astronaut.jpg'] a")
            page.wait_for_selector("#verdict")
            verdict = page.get_attribute("#verdict", "data-verdict")
            assert verdict in ("fake", "real", "inconclusive")
            words = {"fake": "Likely manipulated", "real": "No sign of manipulation",
                     "inconclusive": "Inconclusive"}
            assert page.inner_text("#verdict") == words[verdict]
            assert "%" in page.inner_text("#verdict-card")  # the score, in words and on the gauge
            assert page.locator("#verdict-card svg.gauge line").count() == 1

            page.wait_for_selector(".facebox", state="visible")
            assert page.locator(".facebox").count() == 1
            img = page.locator("#picture img").first.bounding_box()
            face = page.locator(".facebox").bounding_box()
            assert img and face
            # The box sits on the astronaut's face (x 176-273, y 82-179 of 512 px).
            rel = ((face["x"] - img["x"]) / img["width"], (face["y"] - img["y"]) / img["height"])
            assert 0.28 < rel[0] < 0.42 and 0.1 < rel[1] < 0.22, rel
            assert face["width"] / img["width"] == pytest.approx(96.5 / 512, abs=0.05)
            assert page.locator("#picture img.heat").count() == 1  # the heatmap overlay
            assert page.inner_text("#c2pa-state") == "No Content Credentials"
            assert "limits" in page.inner_text("#limits")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

            # The list filters by verdict.
            page.click("text=← all scans")
            expect(page.locator("#scanrows tr")).to_have_count(2)
            page.select_option("select[name=verdict]", "no_face")
            page.wait_for_selector("#empty", state="visible")

            # A video report: the timeline chart and the people in it; an audio report: the voice.
            video_id, audio_id = _store_reports(tmp_path / "data", key)
            page.goto(f"{base}/#/scans/{video_id}")
            page.wait_for_selector("#timeline")
            assert page.locator("#timeline polyline").count() == 2  # one line per person
            assert page.inner_text("#verdict") == "Likely manipulated"
            assert "person 2" in page.inner_text("#video")
            page.goto(f"{base}/#/scans/{audio_id}")
            page.wait_for_selector("#voice")
            assert "91 %" in page.inner_text("#voice")
            assert page.locator("#segments rect").count() == 3
            # the kind of trace: one letter over the flagged window only, the shares on hover
            assert page.locator("#segments text.kind").all_text_contents() == ["V"]
            assert "vocoder/codec-like 80 %" in page.locator("#segments rect title").first.text_content()
            assert "vocoder/codec-like in 1" in page.inner_text("#trace-kinds")
            page.screenshot(path=str(tmp_path / "audio.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []


def _store_reports(data: Path, key: str) -> tuple[str, str]:
    """Finished video and audio scans written straight into the server's database."""
    import json
    from datetime import timedelta

    from fakescope.service.core import new_scan_id
    from fakescope.store.database import Database, utcnow
    from fakescope.store.models import Scan

    common = {"schema_version": "1.3", "fakescope_version": "test", "sha256": "0" * 64, "error": None,
              "media": None, "faces": [], "models": [], "notes": [], "provenance": None,
              "timing_ms": {"decode": 1, "faces": 1, "analyzers": 1, "provenance": 1, "total": 4}}
    video = {**common, "file": "clip.mp4", "media_type": "video", "verdict": "fake", "score": 0.9,
             "reason": "manipulation probability 0.90 >= 0.65 (person 2)",
             "analyzers": [{"name": "face-forgery", "version": "1", "score": 0.9, "face_scores": None,
                            "details": {}, "error": None, "time_ms": 5.0}],
             "video": {"duration_s": 4.0, "fps": 25.0, "codec": "h264", "rotation": 0, "has_audio": False,
                       "sampling": "4 evenly spaced", "frames_analysed": 4, "landmark_frames": 0},
             "timeline": [{"time_s": t, "frame": i, "faces": 2, "score": 0.9,
                           "track_scores": {"0": 0.1 + 0.01 * i, "1": 0.8 + 0.02 * i}}
                          for i, t in enumerate((0.0, 1.0, 2.0, 3.0))],
             "tracks": [{"id": k, "frames": 4, "first_s": 0.0, "last_s": 3.0, "score": sc, "frame_score": sc,
                         "evidence": {}, "box": [20 * k, 0, 20 * k + 10, 10]}
                        for k, sc in ((0, 0.12), (1, 0.9))]}
    audio = {**common, "file": "call.wav", "media_type": "audio", "verdict": "fake", "score": 0.91,
             "reason": "synthetic voice 0.91 >= 0.65",
             "analyzers": [{"name": "voice", "version": "1", "score": 0.91, "face_scores": None,
                            "details": {"segments_flagged": 1,
                                        "trace_windows": {"vocoder": 1, "prosody": 0, "spectrum": 0}},
                            "error": None, "time_ms": 5.0}],
             "audio": {"duration_s": 6.0, "sample_rate": 16000, "channels": 1, "codec": "pcm_s16le",
                       "container": "wav", "speech_s": 4.0},
             "segments": [{"start_s": 0.0, "end_s": 2.0, "speech": True, "score": 0.95,
                           "traces": {"vocoder": 0.8, "prosody": 0.2, "spectrum": 0.1}},
                          {"start_s": 2.0, "end_s": 4.0, "speech": False, "score": None},
                          {"start_s": 4.0, "end_s": 6.0, "speech": True, "score": 0.4,
                           "traces": {"vocoder": 0.6, "prosody": 0.1, "spectrum": 0.3}}]}
    db = Database(f"sqlite:///{data / 'fakescope.db'}")
    ids = []
    with db.write() as s:
        for rep in (video, audio):
            now = utcnow()
            sid = new_scan_id(now)
            s.add(Scan(id=sid, created_at=now, expires_at=now + timedelta(days=1), status="done",
                       key_id=key.split("_")[1], filename=rep["file"], size_bytes=1, sha256="0" * 64,
                       media_type=rep["media_type"], verdict=rep["verdict"], score=rep["score"],
                       report=json.dumps(rep), attempts=1, callback_attempts=0, finished_at=now))
            ids.append(sid)
    db.dispose()
    return ids[0], ids[1]


def test_review_queue_and_review_in_a_real_browser(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A reviewer finds an unreviewed scan in the queue, opens it, records `fake` with a
    note; the API returns that review and the queue no longer lists the scan."""
    import subprocess
    import sys
    import time

    from PIL import Image

    from fakescope.demo import astronaut

    base, key = server
    expect = sync_api.expect
    auth = {"Authorization": f"Bearer {key}"}
    subprocess.run([sys.executable, "-m", "fakescope.cli", "keys", "grant", key, "reviewer",
                    "--data-dir", str(tmp_path / "data")], check=True, capture_output=True,
                   env={**os.environ, "FAKESCOPE_CONFIG": ""})
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut()).save(photo, quality=90)
    with photo.open("rb") as f:
        sid = httpx.post(base + "/v1/scans", files={"file": ("astronaut.jpg", f, "image/jpeg")},
                         headers=auth, timeout=60).json()["id"]
    deadline = time.monotonic() + 180
    while httpx.get(f"{base}/v1/scans/{sid}", headers=auth).json()["status"] != "done":
        assert time.monotonic() < deadline, "the scan did not finish"
        time.sleep(0.5)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(base + "/")
            page.wait_for_selector("#keyform", state="visible")
            page.fill("#apikey", key)
            page.click("#keyform button[type=submit]")
            page.wait_for_selector("#review-link a", state="visible")
            page.click("#review-link a")
            row = page.locator(f"#queue tr[data-scan='{sid}']")
            expect(row).to_have_count(1)
            page.click(f"#queue tr[data-scan='{sid}'] a")
            page.wait_for_selector("#review")
            assert page.inner_text("#review-status") == "Not reviewed yet."
            page.fill("#review-note", "the flag is pasted in")
            page.click("#review button[data-label=fake]")
            expect(page.locator("#review-status")).to_contain_text("Reviewed as fake")
            review = httpx.get(f"{base}/v1/scans/{sid}/review", headers=auth).json()
            assert (review["label"], review["note"]) == ("fake", "the flag is pasted in")
            page.goto(base + "/#/review")
            page.wait_for_selector("#queue-empty")
            page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

            # The dashboard: verdict shares, the evidence's distributions, review agreement.
            verdict = httpx.get(f"{base}/v1/scans/{sid}", headers=auth).json()["verdict"]
            page.goto(base + "/#/dashboard")
            page.wait_for_selector("#dash-verdicts .sharebar .badge")
            assert page.locator("#dash-evidence .histo").count() >= 1
            agreed = "0 of 1" if verdict in ("fake", "real") and verdict != "fake" else \
                "1 of 1" if verdict == "fake" else "0 of 0"
            assert f"reviewers agreed with {agreed}" in page.inner_text("#dash-reviews")
            assert page.locator("#dash-models tbody tr").count() >= 1
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []


def test_protected_people_page_enrols_the_report_names_her_and_removal_erases(  # type: ignore[no-untyped-def]
        real_server, tmp_path: Path) -> None:
    """An admin enrols a person from a photo on the people page; a scan of her photo names
    her in the report's protected-people card; removing her from the page erases her."""
    import subprocess
    import sys
    import time

    from PIL import Image

    from fakescope.demo import astronaut
    from fakescope.people import face_id
    from fakescope.people.crypto import generate_key

    models = face_id.find_models()
    if models is None:
        pytest.skip("face identity is not installed (fakescope models install-face-id)")
    env = {"FAKESCOPE_PEOPLE_KEY": generate_key(), "FAKESCOPE_FACE_ID_DIR": str(models)}
    base, _ = real_server("browser", env)
    made = subprocess.run([sys.executable, "-m", "fakescope.cli", "keys", "create", "--admin", "--name",
                           "ops", "--data-dir", str(tmp_path / "data")], capture_output=True, text=True,
                          check=True, env={**os.environ, "FAKESCOPE_CONFIG": ""})
    admin = made.stdout.strip().splitlines()[0]
    auth = {"Authorization": f"Bearer {admin}"}
    expect = sync_api.expect
    photo = tmp_path / "eileen.jpg"
    Image.fromarray(astronaut()).save(photo, quality=90)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        try:
            page.goto(base + "/")
            page.wait_for_selector("#keyform", state="visible")
            page.fill("#apikey", admin)
            page.click("#keyform button[type=submit]")
            page.wait_for_selector("#people-link a", state="visible")
            page.click("#people-link a")
            page.wait_for_selector("#people-empty")
            page.fill("#enrol input[name=name]", "Eileen Collins")
            page.fill("#enrol input[name=note]", "public-domain NASA portrait; test")
            page.set_input_files("#enrol input[name=photos]", str(photo))
            page.click("#enrol button[type=submit]")
            expect(page.locator("#people-status")).to_contain_text("Enrolled Eileen Collins: 1 face",
                                                                   timeout=120_000)
            page.wait_for_selector("#people tr[data-person='Eileen Collins']")
            page.screenshot(path=str(tmp_path / "people.png"), full_page=True)

            with photo.open("rb") as f:
                sid = httpx.post(base + "/v1/scans", files={"file": ("eileen.jpg", f, "image/jpeg")},
                                 headers=auth, timeout=60).json()["id"]
            deadline = time.monotonic() + 180
            while httpx.get(f"{base}/v1/scans/{sid}", headers=auth).json()["status"] != "done":
                assert time.monotonic() < deadline, "the scan did not finish"
                time.sleep(0.5)
            page.goto(f"{base}/#/scans/{sid}")
            expect(page.locator("#people")).to_contain_text("the face matches Eileen Collins")
            page.screenshot(path=str(tmp_path / "people-report.png"), full_page=True)

            page.goto(base + "/#/people")
            page.click("#people tr[data-person='Eileen Collins'] button")
            page.wait_for_selector("#people-empty")
            assert httpx.get(base + "/v1/people", headers=auth).json() == []
            assert not errors, errors
        finally:
            browser.close()
