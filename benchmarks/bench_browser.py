"""The in-browser check: time per 512x512 photo in headless Chromium, and how closely it
follows the Python scan.

    python benchmarks/bench_browser.py [--n 30] [--size 512] [--out benchmarks/results/browser.json]
    python benchmarks/bench_browser.py --compare demo/ more_photos/     # faithfulness, any photos

Builds the page (`fakescope web-build`, or --build DIR), opens it from disk in Debian's
chromium through Playwright, lets it load the runtime and the models (timed apart: model
loading is excluded from the per-photo figure), then checks N generated photos with one
face each (bench_photos.py's: the astronaut portrait shifted, flipped, re-encoded) one at a
time and prints the median time per photo as the page measures it (reading the file,
hashing it, decoding, faces, analyzers, Content Credentials: `timing_ms.total`), its
stages, and the wall time from choosing the file to the drawn result.

--compare checks every photo in the given files or folders in the page and with
`Scanner().scan`, and prints how often the verdicts agree and the largest differences
of scores, evidence, face scores and face boxes (docs/browser.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHROMIUM = os.environ.get("FAKESCOPE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}


class Page:
    def __init__(self, browser, index: Path) -> None:  # type: ignore[no-untyped-def]
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        t0 = time.perf_counter()
        self.page.goto(index.as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=300_000)
        self.load_s = time.perf_counter() - t0
        self.done = 0

    def check(self, path: Path) -> tuple[dict, float]:  # type: ignore[type-arg]
        """The page's report for one file, and the wall seconds until it was drawn."""
        from playwright.sync_api import expect

        t0 = time.perf_counter()
        self.page.set_input_files("#fileinput", str(path))
        self.done += 1
        cards = self.page.locator(".result[data-state=done]")
        expect(cards).to_have_count(self.done, timeout=300_000)
        wall = time.perf_counter() - t0
        return json.loads(cards.first.locator(".report-json").text_content() or "{}"), wall


def timing(page: Page, n: int, size: tuple[int, int]) -> dict:  # type: ignore[type-arg]
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_photos import make_photos

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp), n + 1, size)
        page.check(paths[0])  # the first check warms the runtime up: not counted
        runs = [page.check(p) for p in paths[1:]]
    reports = [r for r, _ in runs]
    faces = sum(len(r["faces"]) for r in reports)

    def med(key: str) -> float:
        return round(statistics.median(r["timing_ms"][key] for r in reports), 1)

    totals = sorted(r["timing_ms"]["total"] for r in reports)
    return {
        "n": n, "size": f"{size[0]}x{size[1]}", "faces": faces,
        "median_ms": med("total"), "p90_ms": round(totals[int(0.9 * (len(totals) - 1))], 1),
        "stages_median_ms": {k: med(k) for k in ("decode", "faces", "analyzers", "provenance")},
        "wall_median_ms": round(1000 * statistics.median(w for _, w in runs), 1),
        "verdicts": sorted({r["verdict"] for r in reports}),
    }


def compare(page: Page, inputs: list[Path]) -> dict:  # type: ignore[type-arg]
    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.scan.scanner import Scanner

    files = sorted(f for p in inputs for f in ([p] if p.is_file() else p.rglob("*"))
                   if f.suffix.lower() in PHOTO_SUFFIXES)
    # the page has neither the CLIP encoder nor SIFT (docs/browser.md): the scan it is held
    # to reads without them
    os.environ["FAKESCOPE_CLIP_ONNX"] = "off"
    os.environ["FAKESCOPE_COPY_MOVE"] = "off"
    scanner = Scanner(ScanSettings(provenance=ProvenanceSettings(trust_anchors=None, registry=None)))
    worst = {"score": 0.0, "evidence": 0.0, "face_score": 0.0, "box_px": 0.0, "localization": 0.0}
    where: dict[str, str] = {}
    disagree, face_count = [], 0
    for f in files:
        py = scanner.scan(f)
        js, _ = page.check(f)
        if js["verdict"] != py.verdict:
            disagree.append({"file": str(f), "browser": js["verdict"], "python": py.verdict,
                             "browser_score": js["score"], "python_score": py.score})
        diffs = {}
        if py.score is not None and js["score"] is not None:
            diffs["score"] = abs(js["score"] - py.score)
        for kind, v in py.evidence.items():
            if kind in js["evidence"]:
                diffs["evidence"] = max(diffs.get("evidence", 0.0), abs(js["evidence"][kind] - v))
        loc = js.get("localization")
        if py.localization is not None and loc is not None:
            if (loc["rows"], loc["cols"]) == (py.localization.rows, py.localization.cols):
                diffs["localization"] = float(np.abs(np.subtract(loc["grid"], py.localization.grid)).max())
            else:
                disagree.append({"file": str(f), "localization_browser": [loc["rows"], loc["cols"]],
                                 "localization_python": [py.localization.rows, py.localization.cols]})
        if len(js["faces"]) == len(py.faces):
            for jf, pf in zip(js["faces"], py.faces, strict=True):
                face_count += 1
                diffs["box_px"] = max(diffs.get("box_px", 0.0),
                                      max(abs(a - b) for a, b in zip(jf["box"], pf.box, strict=True)))
                if jf["score"] is not None and pf.score is not None:
                    diffs["face_score"] = max(diffs.get("face_score", 0.0), abs(jf["score"] - pf.score))
        else:
            disagree.append({"file": str(f), "faces_browser": len(js["faces"]),
                             "faces_python": len(py.faces)})
        for k, v in diffs.items():
            if v > worst[k]:
                worst[k], where[k] = v, f.name
    return {"files": len(files), "faces": face_count, "verdicts_agree": len(files) - len(disagree),
            "disagreements": disagree, "max_diff": {k: round(v, 4) for k, v in worst.items()},
            "max_diff_file": where}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--size", default="512", help="side, or WIDTHxHEIGHT")
    ap.add_argument("--build", type=Path, help="an existing `fakescope web-build` folder")
    ap.add_argument("--compare", nargs="+", type=Path, metavar="PATH",
                    help="photos or folders to check in the page and with the Python scan")
    ap.add_argument("--out", type=Path, help="results file (default: benchmarks/results/browser.json, "
                    "or browser-faithfulness.json with --compare)")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from fakescope.web.build import build

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.build or build(Path(tmp) / "check").out
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = Page(browser, folder / "index.html")
            version = browser.version
            if args.compare:
                result = {"benchmark": "browser-faithfulness", **compare(page, args.compare)}
            else:
                w, _, h = args.size.partition("x")
                result = {"benchmark": "browser", **timing(page, args.n, (int(w), int(h or w))),
                          "model_loading_s": round(page.load_s, 1)}
            browser.close()
    result.update({"chromium": version, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                   "date": time.strftime("%Y-%m-%d")})
    print(json.dumps(result, indent=1))
    if args.compare:
        print(f"{result['verdicts_agree']} of {result['files']} verdicts agree; largest differences: "
              + ", ".join(f"{k} {v}" for k, v in result["max_diff"].items()))
    else:
        print(f"median {result['median_ms']} ms per {result['size']} photo checked in the browser "
              f"(model loading excluded: {result['model_loading_s']} s once); wall, drawn: "
              f"{result['wall_median_ms']} ms")
    results = Path(__file__).parent / "results"
    out = args.out or results / ("browser-faithfulness.json" if args.compare else "browser.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
