"""The in-browser check (issue 17): the static page built by `fakescope web-build`, opened in
Debian's headless chromium through Playwright from disk (file://, no server) and served by
`fakescope serve`'s app, checks the demo photos and gives the Python scan's verdicts,
scores, faces and heatmaps within the tolerances of docs/browser.md; Content Credentials
as the Python reader states them; videos and audio declined in plain words; and no request
ever carries the file or leaves the page's own origin.

Needs node; the page tests also chromium, Playwright and the npm packages
(`npm ci --prefix src/fakescope/web` fills them), and skip cleanly without them. The
pixel operations are checked against OpenCV with node alone.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import socket
import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from fakescope.errors import FakescopeError
from fakescope.web.build import WEB_DIR, build, find_node_modules

NODE = shutil.which("node")
if not NODE:
    pytest.skip("node is not installed (the page's code and its build need it)", allow_module_level=True)
CHROMIUM = os.environ.get("FAKESCOPE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"



def sync_api():  # type: ignore[no-untyped-def]
    return pytest.importorskip("playwright.sync_api")


BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
# docs/browser.md, "Faithfulness": what may differ from `fakescope scan`.
SCORE_TOL = 0.02  # verdict score, each kind's evidence, each face's score (probabilities)
BOX_TOL = 2.0  # face boxes and landmarks, pixels
HEAT_TOL = 0.05  # face heatmap cells and the picture heatmap's mean (probabilities)
LOAD_TIMEOUT_MS = 180_000
CHECK_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        find_node_modules()
    except FakescopeError as exc:
        pytest.skip(str(exc))
    return build(tmp_path_factory.mktemp("web") / "check").out


@pytest.fixture(scope="module")
def photos(demo_dir: Path) -> list[Path]:
    return sorted(p for p in demo_dir.iterdir() if p.suffix in (".jpg", ".png"))


def _python_scanner(anchors: Path | None = None):  # type: ignore[no-untyped-def]
    from fakescope.analyzers.registry import BUILTIN
    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.scan.scanner import Scanner

    # The page reads the generated-image model's decoder traces alone (the CLIP encoder is
    # not shipped to the browser), and local-edit's net without the copy-move matching
    # (OpenCV's SIFT): its reference scan does the same.
    names = list(BUILTIN)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKESCOPE_CLIP_ONNX", "off")
        mp.setenv("FAKESCOPE_COPY_MOVE", "off")
        return Scanner(ScanSettings(explain=True, analyzers=names, provenance=ProvenanceSettings(
            trust_anchors=str(anchors) if anchors else None, registry=None)))


@pytest.fixture(scope="module")
def python_reports(photos: list[Path]) -> dict[str, object]:
    scanner = _python_scanner()
    return {p.name: scanner.scan(p) for p in photos}


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api().sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


class Page:
    """A page of the check with every request it makes recorded."""

    def __init__(self, browser, url: str) -> None:  # type: ignore[no-untyped-def]
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.requests: list[tuple[str, str, bytes | None]] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append((r.url, r.method, r.post_data_buffer)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]", timeout=LOAD_TIMEOUT_MS)

    def pick(self, files: list[Path]) -> None:
        self.page.set_input_files("#fileinput", [str(f) for f in files])

    def drop(self, files: list[Path]) -> None:
        payload = [[base64.b64encode(f.read_bytes()).decode(), f.name] for f in files]
        self.page.evaluate("""(files) => {
            const dt = new DataTransfer();
            for (const [b64, name] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], name));
            }
            document.getElementById("drop").dispatchEvent(
                new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""", payload)

    def reports(self, n: int) -> dict[str, dict]:  # type: ignore[type-arg]
        """Waits for n checked files; their reports by file name (the latest of each name)."""
        done = self.page.locator(".result[data-state=done]")
        sync_api().expect(done).to_have_count(n, timeout=CHECK_TIMEOUT_MS)
        out: dict[str, dict] = {}  # type: ignore[type-arg]
        for card in reversed(done.all()):  # the newest card is on top
            report = json.loads(card.locator(".report-json").text_content() or "{}")
            out[report["file"]] = report
        return out

    def card(self, name: str):  # type: ignore[no-untyped-def]
        return self.page.locator(f".result[data-file='{name}']").first

    def close(self) -> None:
        self.page.close()


def _assert_private(requests: list[tuple[str, str, bytes | None]], files: list[Path],
                    origins: tuple[str, ...]) -> None:
    """Every request is a GET to the page's own origin (or a blob: the page made), and none
    carries a checked file's bytes."""
    assert requests
    contents = [f.read_bytes() for f in files]
    for url, method, body in requests:
        assert url.startswith(origins), f"a request left the page's origin: {url}"
        assert method == "GET", f"{method} {url}"
        assert not body or not any(c[:4096] in body for c in contents), f"{url} carried a file"


def _compare(name: str, js: dict, py) -> None:  # type: ignore[no-untyped-def,type-arg]
    """The browser's report against the Python scan's, within the stated tolerances."""
    assert js["verdict"] == py.verdict, (name, js["verdict"], py.verdict, js["reason"], py.reason)
    if py.score is None:
        assert js["score"] is None, name
        assert js["error"] is not None and py.error is not None, name
        return
    assert abs(js["score"] - py.score) <= SCORE_TOL, (name, js["score"], py.score)
    assert js["decided_by"] == py.decided_by, name
    assert js["evidence"].keys() == py.evidence.keys(), name
    for kind, value in py.evidence.items():
        assert abs(js["evidence"][kind] - value) <= SCORE_TOL, (name, kind, js["evidence"][kind], value)
    assert (js["media"]["width"], js["media"]["height"]) == (py.media.width, py.media.height), name
    assert set(js["notes"]) <= set(py.notes), (name, js["notes"], py.notes)
    assert len(js["faces"]) == len(py.faces), (name, js["faces"], py.faces)
    for jf, pf in zip(js["faces"], py.faces, strict=True):
        assert np.abs(np.subtract(jf["box"], pf.box)).max() <= BOX_TOL, (name, jf["box"], pf.box)
        assert np.abs(np.subtract(jf["landmarks"], pf.landmarks)).max() <= BOX_TOL, name
        assert jf["landmarks_source"] == pf.landmarks_source, name
        assert (jf["score"] is None) == (pf.score is None), name
        if pf.score is not None:
            assert abs(jf["score"] - pf.score) <= SCORE_TOL, (name, jf["score"], pf.score)
    # The heatmaps: the face model's map per judged face, and the picture's generated-image map.
    vis = py.visual
    faces = {h["face"]: np.array(h["heat"]) for h in js["heatmaps"]["faces"]}
    assert set(faces) == {h.face_index for h in vis.heatmaps}, name
    for h in vis.heatmaps:
        assert np.abs(faces[h.face_index] - h.heat).max() <= HEAT_TOL, (name, h.face_index)
    # The local-edit map: the same cells, each within the heatmaps' tolerance.
    loc = js["localization"]
    assert (loc["rows"], loc["cols"]) == (py.localization.rows, py.localization.cols), name
    assert (loc["cell_height_px"], loc["cell_width_px"]) == \
        (py.localization.cell_height_px, py.localization.cell_width_px), name
    assert np.abs(np.subtract(loc["grid"], py.localization.grid)).max() <= HEAT_TOL, name
    heat = next(h.heat for h in vis.image_heatmaps if h.source == "generated")
    image = js["heatmaps"]["image"]
    assert (image["height"], image["width"]) == heat.shape, name
    assert abs(image["covered"] - float(np.isfinite(heat).mean())) <= 1e-3, name
    assert abs(image["mean"] - float(np.nanmean(heat))) <= HEAT_TOL, name


def _heat_drawn(card) -> dict[str, int]:  # type: ignore[no-untyped-def,type-arg]
    """Pixels the face heatmaps changed inside and outside the face boxes, and whether the
    picture heatmap was painted."""
    return card.evaluate("""(card) => {
        const heat = card.querySelector("canvas.faceheat");
        const plain = heat.parentElement.querySelector("canvas:not(.faceheat)");
        const a = heat.getContext("2d").getImageData(0, 0, heat.width, heat.height).data;
        const b = plain.getContext("2d").getImageData(0, 0, plain.width, plain.height).data;
        const scale = heat.width / JSON.parse(card.querySelector(".report-json").textContent).media.width;
        const boxes = [...card.querySelectorAll(".facebox")].map((e) => e.style).map((s) =>
            [parseFloat(s.left), parseFloat(s.top), parseFloat(s.left) + parseFloat(s.width),
             parseFloat(s.top) + parseFloat(s.height)]);
        let inside = 0, outside = 0;
        for (let y = 0; y < heat.height; y++) for (let x = 0; x < heat.width; x++) {
            const i = (y * heat.width + x) * 4;
            if (a[i] === b[i] && a[i + 1] === b[i + 1] && a[i + 2] === b[i + 2]) continue;
            // the aligned crop reaches past the detector's box: count a margin as inside
            const m = 40 * scale;
            const near = boxes.some(([x0, y0, x1, y1]) =>
                x >= x0 - m && x <= x1 + m && y >= y0 - m && y <= y1 + m);
            if (near) inside++; else outside++;
        }
        const gen = card.querySelector("canvas.imageheat");
        const edit = card.querySelector("canvas.editmap");
        return { inside, outside, picture: gen ? gen.width * gen.height : 0,
                 edits: edit ? edit.width * edit.height : 0 };
    }""")


_NODE_OPS = r"""
import fs from "node:fs";
import { pathToFileURL } from "node:url";
const [dir, js] = process.argv.slice(2);
const ip = await import(pathToFileURL(`${js}/imgproc.js`));
const { boxPoints } = await import(pathToFileURL(`${js}/facemesh.js`));
const cases = JSON.parse(fs.readFileSync(`${dir}/cases.json`));
cases.forEach((c, i) => {
  const src = ip.image(c.w, c.h, new Uint8Array(fs.readFileSync(`${dir}/src${i}.raw`)));
  let out;
  if (c.kind === "letterbox") {
    out = ip.warpPerspective(src, ip.getPerspectiveTransform(c.src, c.dst), c.size, c.size, "constant");
  } else if (c.kind === "roi") {
    const box = boxPoints(c.cx, c.cy, c.side, c.side, c.rot * (180 / Math.PI));
    fs.writeFileSync(`${dir}/box${i}.json`, JSON.stringify(box));
    const m = ip.getPerspectiveTransform(box, [[0, 192], [0, 0], [192, 0], [192, 192]]);
    out = ip.warpPerspective(src, m, 192, 192, "replicate");
  } else if (c.kind === "affine") {
    out = ip.warpAffine(src, c.m, 224, 224);
  } else {
    out = ip.resizeArea(src, c.nw, c.nh);
  }
  fs.writeFileSync(`${dir}/out${i}.raw`, out.data);
});
"""


def test_image_operations_match_opencv(astronaut: np.ndarray, tmp_path: Path) -> None:
    """The page's warps and resizes give OpenCV's bytes: letterboxes (BlazeFace), rotated
    FaceMesh crops (with cv2.boxPoints' corners), face alignment, area downscaling."""
    import cv2

    rng = np.random.default_rng(5)
    cases, expected = [], []
    for t in range(60):
        w, h = (int(v) for v in rng.integers(40, 900, 2))
        src = cv2.resize(astronaut, (w, h if t % 3 else w), interpolation=cv2.INTER_AREA)
        h = src.shape[0]
        kind = ("letterbox", "roi", "affine", "area")[t % 4]
        c = {"kind": kind, "w": w, "h": h}
        if kind == "letterbox":
            size, side = (128, 192)[t % 2], float(max(w, h))
            x0, y0 = (w - side) / 2, (h - side) / 2
            c.update(size=size, src=[[x0, y0 + side], [x0, y0], [x0 + side, y0], [x0 + side, y0 + side]],
                     dst=[[0, size], [0, 0], [size, 0], [size, size]])
            m = cv2.getPerspectiveTransform(np.float32(c["src"]), np.float32(c["dst"]))
            expected.append(cv2.warpPerspective(src, m, (size, size), flags=cv2.INTER_LINEAR))
        elif kind == "roi":
            c.update(cx=rng.uniform(0, w), cy=rng.uniform(0, h), side=rng.uniform(30, 700),
                     rot=rng.uniform(-3, 3))
            box = cv2.boxPoints(((c["cx"], c["cy"]), (c["side"], c["side"]), math.degrees(c["rot"])))
            c["box"] = box.tolist()
            m = cv2.getPerspectiveTransform(box, np.float32([[0, 192], [0, 0], [192, 0], [192, 192]]))
            expected.append(cv2.warpPerspective(src, m, (192, 192), flags=cv2.INTER_LINEAR,
                                                borderMode=cv2.BORDER_REPLICATE))
        elif kind == "affine":
            a, th = rng.uniform(0.2, 3), rng.uniform(-3, 3)
            m = np.array([[a * math.cos(th), -a * math.sin(th), rng.uniform(-600, 100)],
                          [a * math.sin(th), a * math.cos(th), rng.uniform(-600, 100)]])
            c["m"] = m.ravel().tolist()
            expected.append(cv2.warpAffine(src, m, (224, 224), flags=cv2.INTER_LINEAR, borderValue=0))
        else:
            f = 0.5 if t % 8 == 3 else rng.uniform(0.2, 0.95)
            c.update(nw=max(1, round(w * f)), nh=max(1, round(h * f)))
            expected.append(cv2.resize(src, (c["nw"], c["nh"]), interpolation=cv2.INTER_AREA))
        np.ascontiguousarray(src).tofile(tmp_path / f"src{t}.raw")
        cases.append(c)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "ops.mjs").write_text(_NODE_OPS)
    subprocess.run([NODE, str(tmp_path / "ops.mjs"), str(tmp_path), str(WEB_DIR / "js")], check=True)
    for i, (c, want) in enumerate(zip(cases, expected, strict=True)):
        got = np.fromfile(tmp_path / f"out{i}.raw", np.uint8).reshape(want.shape)
        assert np.array_equal(got, want), (i, c["kind"], int((got != want).sum()))
        if c["kind"] == "roi":
            assert json.loads((tmp_path / f"box{i}.json").read_text()) == c["box"]


def test_build_folder(built: Path) -> None:
    manifest = json.loads((built / "build.json").read_text())
    assert set(manifest["models"]) == {"face-detect-short", "face-detect-full", "face-mesh", "face-forgery",
                                       "generated", "local-edit"}
    assert manifest["packages"]["onnxruntime-web"] and manifest["packages"]["@contentauth/c2pa-web"]
    assert (built / "index.html").is_file() and (built / "app.js").is_file()
    html = (built / "index.html").read_text()
    assert "connect-src 'none'" in html  # the page itself may send nothing anywhere
    # Everything the page loads is a classic script: Chromium runs those from file://.
    assert 'type="module"' not in html and "fetch(" not in (built / "index.html").read_text()


def test_from_disk_matches_the_python_scan(browser, built: Path, photos: list[Path],  # type: ignore[no-untyped-def]
                                           python_reports) -> None:
    page = Page(browser, (built / "index.html").as_uri())
    try:
        page.drop(photos)
        reports = page.reports(len(photos))
        assert set(reports) == {p.name for p in photos}
        for name, js in reports.items():
            _compare(name, js, python_reports[name])
        assert reports["truncated.jpg"]["error"]["code"] == "truncated_file"
        # The heatmaps are drawn over the faces, and only there; the picture's is painted.
        for name in ("astronaut_selfblended.jpg", "group.jpg"):
            drawn = _heat_drawn(page.card(name))
            assert drawn["inside"] > 500 and drawn["outside"] == 0 and drawn["picture"] > 0, (name, drawn)
            assert drawn["edits"] > 0, (name, drawn)  # the local-edit map, painted beside them
        assert page.card("astronaut_selfblended.jpg").locator(".facebox.suspicious").count() == 1
        assert page.card("group.jpg").locator(".facebox").count() == 3
        assert not page.errors, page.errors
        _assert_private(page.requests, photos, (built.as_uri() + "/", "blob:null/"))
    finally:
        page.close()


class _Server:
    """fakescope serve's app (no scan workers) in a thread, serving the build at /check."""

    def __init__(self, data_dir: Path, check_dir: Path) -> None:
        uvicorn = pytest.importorskip("uvicorn")
        from fakescope.service.app import create_app
        from fakescope.service.settings import ServiceSettings

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = create_app(ServiceSettings(data_dir=data_dir, workers=0, check_dir=check_dir, port=self.port),
                         start_workers=False)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_served_by_fakescope_serve(browser, built: Path, photos: list[Path], python_reports,  # type: ignore[no-untyped-def]
                                   tmp_path: Path) -> None:
    httpx = pytest.importorskip("httpx")
    server = _Server(tmp_path / "data", built)
    try:
        r = httpx.get(server.base + "/check/")
        assert r.status_code == 200 and "connect-src 'none'" in r.headers["content-security-policy"]
        assert "/check/" in httpx.get(server.base + "/").text  # the main UI links to it
        page = Page(browser, server.base + "/check/")
        try:
            names = ("astronaut_selfblended.jpg", "group.jpg", "phone_rotated.jpg")
            chosen = [p for p in photos if p.name in names]
            page.pick(chosen)
            reports = page.reports(len(chosen))
            for name, js in reports.items():
                _compare(name, js, python_reports[name])
            assert not page.errors, page.errors
            _assert_private(page.requests, chosen, (server.base + "/check/", f"blob:{server.base}/"))
        finally:
            page.close()
    finally:
        server.stop()


def test_web_build_command(built: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fakescope.cli.main import main

    out = tmp_path / "page"
    result = CliRunner().invoke(main, ["web-build", str(out)])
    assert result.exit_code == 0, result.output
    assert "open " in result.output and (out / "index.html").is_file()
    names = sorted(p.name for p in (built / "assets").iterdir())
    assert sorted(p.name for p in (out / "assets").iterdir()) == names
    # A second build replaces the first; a folder holding something else is refused.
    assert CliRunner().invoke(main, ["web-build", str(out)]).exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    (other / "index.html").write_text("<p>a site of its own</p>")
    result = CliRunner().invoke(main, ["web-build", str(other)])
    assert result.exit_code == 1 and "not empty" in result.output and (other / "notes.txt").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["web-build", str(tmp_path / "x"), "--node-modules", str(empty)],
                                env={"FAKESCOPE_WEB_NODE_MODULES": ""})
    assert result.exit_code == 1 and "npm ci" in result.output


def test_not_built_says_how(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from fakescope.service.app import create_app
    from fakescope.service.settings import ServiceSettings

    app = create_app(ServiceSettings(data_dir=tmp_path, workers=0), start_workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.get("/check/")
    assert r.status_code == 404 and "fakescope web-build" in r.text


def _wav(path: Path) -> Path:
    t = np.arange(16000) / 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes())
    return path


def test_video_audio_and_other_files_are_declined_plainly(browser, built: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fakescope.demo import talking_clip

    clip = tmp_path / "clip.mp4"
    talking_clip(clip, seconds=1.0, audio_shift_s=None)
    from PIL import Image

    files = [clip, _wav(tmp_path / "voice.wav"), tmp_path / "notes.txt", tmp_path / "scan.tif"]
    files[2].write_text("not a picture\n")
    Image.new("RGB", (64, 48), (120, 90, 60)).save(files[3])
    page = Page(browser, (built / "index.html").as_uri())
    try:
        page.pick(files)
        reports = page.reports(len(files))
        for name in ("clip.mp4", "voice.wav"):
            r = reports[name]
            assert r["verdict"] == "not_checked" and r["score"] is None, r
            assert "cannot be checked for manipulation in the browser" in r["reason"], r
            assert "fakescope scan" in r["reason"]
            assert r["provenance"]["c2pa"]["state"] in ("absent", "unverifiable")
            assert page.card(name).locator(".verdict-word").inner_text() == "Not checked here"
        assert reports["notes.txt"]["verdict"] == "error"
        assert reports["notes.txt"]["error"]["code"] == "not_media"
        # Chromium cannot decode TIFF: said plainly, with where to check it instead.
        assert reports["scan.tif"]["error"]["code"] == "unsupported_in_browser"
        assert "fakescope scan" in reports["scan.tif"]["reason"]
        assert not page.errors, page.errors
        _assert_private(page.requests, files, (built.as_uri() + "/", "blob:null/"))
    finally:
        page.close()


def test_content_credentials_as_the_python_reader(browser, built: Path, demo_dir: Path,  # type: ignore[no-untyped-def]
                                                  tmp_path: Path) -> None:
    from fakescope.provenance.c2pa_signer import load_credentials, sign_bytes
    from fakescope.provenance.keys import init_test_pki

    pki = init_test_pki(tmp_path / "pki")
    signed = tmp_path / "signed.jpg"
    signed.write_bytes(sign_bytes((demo_dir / "astronaut.jpg").read_bytes(), "image/jpeg",
                                  load_credentials(pki.chain, pki.key), title="astronaut.jpg"))
    data = bytearray(signed.read_bytes())
    data[-5000] ^= 0x55  # an edit of the pixels after signing
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(bytes(data))
    generated = tmp_path / "generated.png"
    generated.write_bytes(sign_bytes((demo_dir / "coffee.png").read_bytes(), "image/png",
                                     load_credentials(pki.chain, pki.key), title="coffee.png",
                                     source_type="trainedAlgorithmicMedia"))
    files = [signed, tampered, generated]
    page = Page(browser, (built / "index.html").as_uri())
    try:
        page.pick(files)
        untrusted = page.reports(3)
        page.page.set_input_files("#anchors", str(pki.ca_cert))
        sync_api().expect(page.page.locator("#anchorsinfo")).to_contain_text("Trusting")
        page.pick(files)
        trusted = page.reports(6)
        for reports, anchors in ((untrusted, None), (trusted, pki.ca_cert)):
            scanner = _python_scanner(anchors)
            for f in files:
                py, js = scanner.scan(f), reports[f.name]
                pc, jc = py.provenance.c2pa, js["provenance"]["c2pa"]
                assert (jc["state"], jc["trusted"]) == (pc.state, pc.trusted), f
                assert jc["ai_generated"] == pc.ai_generated, f
                assert jc["signer"] == pc.signer and jc["digital_source_types"] == pc.digital_source_types, f
                assert [e.split(":")[0] for e in jc["validation_errors"]] == \
                       [e.split(":")[0] for e in pc.validation_errors], f
                assert js["verdict"] == py.verdict and js["reason"] == py.reason, (f, js["reason"], py.reason)
        assert trusted["signed.jpg"]["verdict"] == "real"
        assert trusted["signed.jpg"]["decided_by"] == "provenance"
        assert untrusted["tampered.jpg"]["verdict"] == "fake"
        assert untrusted["generated.png"]["verdict"] == "fake"
        assert not page.errors, page.errors
        _assert_private(page.requests, files, (built.as_uri() + "/", "blob:null/"))
    finally:
        page.close()


# Files whose Content Credentials the C2PA web SDK reads differently from c2pa-python: the
# web SDK 0.13.1 embeds c2pa-rs 0.90.1, c2pa-python 0.38.1 c2pa-rs 0.91.3, which also checks
# that a data-hash exclusion covers the manifest's place in the file (docs/browser.md).
SDK_DIFFERENCES = {"truepic-20230212-camera.jpg", "truepic-20230212-landscape.jpg",
                   "truepic-20230212-library.jpg"}


@pytest.mark.data
def test_conformance_set_as_the_python_reader(browser, built: Path, shared_data) -> None:  # type: ignore[no-untyped-def]
    from fakescope.media.sniff import sniff_bytes
    from fakescope.provenance.c2pa_reader import mime_for, read_c2pa

    root = shared_data("provenance", "c2pa")
    files = sorted(p for p in root.rglob("*") if p.is_file() and sniff_bytes(p.read_bytes()[:64]))
    assert len(files) >= 20
    page = Page(browser, (built / "index.html").as_uri())
    try:
        page.pick(files)
        reports = page.reports(len(files))
    finally:
        page.close()
    differ = set()
    for f in files:
        data = f.read_bytes()
        sniffed = sniff_bytes(data[:64])
        py = read_c2pa(data, mime_for(sniffed.format if sniffed else None, f.name, data[:32]))
        js = reports[f.name]["provenance"]["c2pa"]
        if (js["state"], js["trusted"], js["ai_generated"]) != (py.state, py.trusted, py.ai_generated):
            differ.add(f.name)
    assert differ <= SDK_DIFFERENCES, differ - SDK_DIFFERENCES
