"""Assemble the in-browser check into a static folder (``fakescope web-build OUT``).

What goes in: ``index.html`` and ``style.css``; ``app.js``, the page's ES modules bundled
with onnxruntime-web and the C2PA web SDK by esbuild into one classic script; and under
``assets/`` every binary the page needs, each wrapped in a classic script that hands it
over as base64 (the runtime's and the SDK's WebAssembly, the six ONNX models read from
the installed package, their cards and the fusion card). Chromium refuses fetch() and
module scripts from ``file://`` pages but runs classic ones, so the folder works opened
from disk as well as served; and the page fetches nothing at all.

The npm packages come from a ``node_modules`` folder filled by ``npm ci`` in this
package's folder (``package.json`` and ``package-lock.json`` pin them), or named with
``--node-modules`` / ``$FAKESCOPE_WEB_NODE_MODULES``; ``node`` runs esbuild.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fakescope import __version__
from fakescope.errors import FakescopeError

WEB_DIR = Path(__file__).parent
NODE_MODULES_ENV = "FAKESCOPE_WEB_NODE_MODULES"
MODELS = ("face-detect-short", "face-detect-full", "face-mesh", "face-forgery", "generated", "local-edit")
ORT_WASM = Path("onnxruntime-web/dist/ort-wasm-simd-threaded.wasm")
C2PA_WASM = Path("@contentauth/c2pa-web/dist/resources/c2pa_bg.wasm")
ESBUILD = Path("esbuild/bin/esbuild")
# The vendored packages whose licences travel with the build.
VENDORED = ("onnxruntime-web", "onnxruntime-common", "@contentauth/c2pa-web", "@contentauth/c2pa-wasm",
            "highgain", "ts-deepmerge", "flatbuffers", "guid-typescript", "long", "platform", "protobufjs")


class WebBuildError(FakescopeError):
    code = "web_build"


@dataclass
class BuildResult:
    out: Path
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def find_node_modules(given: Path | None = None) -> Path:
    """The node_modules folder to vendor from: the one given, else the environment's, else
    the one next to this package's package.json."""
    env = os.environ.get(NODE_MODULES_ENV)
    where = (given or (Path(env) if env else WEB_DIR / "node_modules")).expanduser()
    if (where / ORT_WASM).is_file() and (where / C2PA_WASM).is_file() and (where / ESBUILD).is_file():
        return where
    raise WebBuildError(
        f"no npm packages for the page in {where}: run `npm ci --prefix {WEB_DIR}` (or `npm ci` in a copy "
        f"of {WEB_DIR / 'package.json'} and its package-lock.json, then --node-modules DIR/node_modules)")


def _wrap(name: str, payload: str) -> str:
    return f"fakescopeAsset({json.dumps(name)}, {payload});\n"


def _write(result: BuildResult, rel: str, text: str) -> None:
    path = result.out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    result.files[rel] = path.stat().st_size


def _binary_asset(result: BuildResult, name: str, data: bytes) -> None:
    _write(result, f"assets/{name}.js", _wrap(name, json.dumps(base64.b64encode(data).decode("ascii"))))


def _bundle(node_modules: Path, out: Path, node: str) -> None:
    """esbuild: js/main.js and the npm packages it imports -> one classic script."""
    esbuild = node_modules / ESBUILD
    # npm's install script replaces the JavaScript launcher with the native binary; without it
    # (scripts not allowed) the launcher runs under node.
    launcher = [node, str(esbuild)] if esbuild.read_bytes()[:2] == b"#!" else [str(esbuild)]
    cmd = [*launcher, str(WEB_DIR / "js" / "main.js"), "--bundle", "--format=iife",
           f"--outfile={out}", "--target=chrome110", "--charset=utf8", "--legal-comments=eof",
           "--log-level=warning"]
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise WebBuildError(f"esbuild failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")


def _package_version(node_modules: Path, name: str) -> str | None:
    try:
        return json.loads((node_modules / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _earlier_build(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "fakescope_version" in manifest and \
        (folder / "assets" / "config.js").is_file()


def build(out: Path, node_modules: Path | None = None, node: str | None = None) -> BuildResult:
    """Write the static check page into ``out``: a new or empty folder, or an earlier build
    (replaced whole); any other folder is refused."""
    from fakescope.models import card_path, load_card, load_fusion, models_dir

    nm = find_node_modules(node_modules)
    node = node or shutil.which("node")
    if not node:
        raise WebBuildError("`node` (Node.js) is needed to run esbuild: apt-get install nodejs")
    out = out.expanduser()
    if out.exists() and any(out.iterdir()):
        if not _earlier_build(out):
            raise WebBuildError(f"{out} is not empty and holds no earlier build: choose an empty folder")
        shutil.rmtree(out)  # an earlier build, replaced whole
    out.mkdir(parents=True, exist_ok=True)
    result = BuildResult(out=out)

    _bundle(nm, out / "app.js", node)
    result.files["app.js"] = (out / "app.js").stat().st_size
    for name in ("index.html", "style.css"):
        shutil.copyfile(WEB_DIR / "page" / name, out / name)
        result.files[name] = (out / name).stat().st_size

    _binary_asset(result, "ort-wasm", (nm / ORT_WASM).read_bytes())
    _binary_asset(result, "c2pa-wasm", (nm / C2PA_WASM).read_bytes())
    cards, models = {}, {}
    for name in MODELS:
        card = load_card(name)
        weights = (models_dir(name) / card.file).read_bytes()
        if hashlib.sha256(weights).hexdigest() != card.sha256:
            raise WebBuildError(f"the weights of {name} do not match their card's SHA-256")
        _binary_asset(result, f"model-{name}", weights)
        cards[name] = json.loads(card_path(name).read_text(encoding="utf-8"))
        models[name] = {"version": card.version, "sha256": card.sha256}
    fusion = load_fusion()  # None: the models' own bands decide, in the page as in the scan
    config = {"version": __version__, "cards": cards,
              "fusion": fusion.model_dump(mode="json") if fusion is not None else None}
    _write(result, "assets/config.js", _wrap("config", json.dumps(config)))

    versions = {p: _package_version(nm, p) for p in ("onnxruntime-web", "@contentauth/c2pa-web")}
    licences = []
    (out / "licenses").mkdir()
    for pkg in VENDORED:
        for lic in sorted((nm / pkg).glob("LICEN[CS]E*")):
            rel = f"licenses/{pkg.replace('/', '__')}.{lic.name}"
            shutil.copyfile(lic, out / rel)
            result.files[rel] = (out / rel).stat().st_size
            licences.append(rel)
    manifest = {"fakescope_version": __version__, "packages": versions, "models": models,
                "licenses": licences, "note": "the model licences are in their cards (assets/config.js)"}
    _write(result, "build.json", json.dumps(manifest, indent=1) + "\n")
    return result
