"""The live checks page in a real headless browser (Debian's chromium driven by Playwright):
a real server allowed one UDP source, a watch started from the page, ffmpeg streaming a
clip whose face turns self-blended after 3 s, and the page's chart and alert list
following the watch's events (read with fetch under the page's CSP). Skipped without
chromium, Playwright or ffmpeg."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FAKESCOPE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FFMPEG = shutil.which("ffmpeg")
if not Path(CHROMIUM).exists() or FFMPEG is None:
    pytest.skip("chromium or ffmpeg is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
httpx = pytest.importorskip("httpx")

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_page_follows_a_watch(tmp_path: Path, real_server) -> None:  # type: ignore[no-untyped-def]
    from fakescope.demo import talking_clip

    clip = talking_clip(tmp_path / "clip.mp4", seconds=8.0, audio_shift_s=None, size=(640, 480),
                        fake_span=(3.0, 9.0), keyframe_every_s=1.0)
    source = f"udp://127.0.0.1:{_udp_port()}"
    base, key = real_server("live", env={"FAKESCOPE_LIVE_SOURCES": source,
                                          "FAKESCOPE_LIVE_ALLOW_PRIVATE": "true"})
    sender = None
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            try:
                page.goto(base + "/")
                page.wait_for_selector("#keyform", state="visible")
                page.fill("#apikey", key)
                page.click("#keyform button[type=submit]")
                page.click("text=live checks")
                page.wait_for_url("**/ui/live.html")
                errors.clear()  # the main page's first request, before the key, was a 401
                page.fill("#source", source)
                page.click("#startform button[type=submit]")
                page.wait_for_selector("#livechart")
                sender = subprocess.Popen([FFMPEG or "ffmpeg", "-hide_banner", "-loglevel", "error",
                                           "-nostdin", "-re", "-i", str(clip), "-c", "copy", "-f", "mpegts",
                                           source])
                page.wait_for_selector("#livechart polyline", timeout=30_000)
                page.wait_for_selector("#alerts .badge.fake", timeout=30_000)
                sync_api.expect(page.locator("#chartbox")).to_contain_text("person 1: fake", timeout=10_000)
                sync_api.expect(page.locator("#watchrows tr")).to_have_count(1, timeout=10_000)
                page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
                page.click("#stop")
                page.wait_for_selector("#status:has-text('ended: stopped')", timeout=15_000)
            finally:
                browser.close()
        assert errors == []
    finally:
        if sender is not None and sender.poll() is None:
            sender.kill()
