"""Screenshot-like real images: text, panels and buttons drawn with PIL.

Screenshots are real media people check (a chat, a post, a receipt) and nothing like a
camera photo: flat colour, sharp text, no sensor noise. A detector that has only seen
photos may call them generated. These are drawn here, deterministically from a key, so
both training (keys ``train*``) and the false-alarm measurement (keys ``dev*``) have some.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_WORDS = ["the", "meeting", "moved", "to", "friday", "please", "confirm", "your", "account",
          "details", "were", "updated", "shipping", "total", "order", "invoice", "download",
          "share", "reply", "settings", "profile", "search", "news", "weather", "today", "photos",
          "message", "sent", "delivered", "read", "more", "login", "password", "balance",
          "transfer", "received", "12:45", "3.99", "EUR", "USD", "km/h", "notifications",
          "privacy", "terms", "help"]


@lru_cache(maxsize=1)
def _font_files() -> list[Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return sorted(p for p in folder.glob("DejaVu*.ttf"))


def _font(rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    files = _font_files()
    if not files:
        return ImageFont.load_default()
    return ImageFont.truetype(str(files[int(rng.integers(len(files)))]), size)


def _colour(rng: np.random.Generator, light: bool) -> tuple[int, int, int]:
    base = rng.integers(200, 256, 3) if light else rng.integers(0, 90, 3)
    return int(base[0]), int(base[1]), int(base[2])


def screenshot(key: str) -> np.ndarray:
    """A deterministic screenshot-like RGB image for ``key``."""
    rng = np.random.default_rng(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))
    w, h = int(rng.integers(360, 900)), int(rng.integers(300, 800))
    dark = rng.random() < 0.3
    bg, fg = _colour(rng, not dark), _colour(rng, dark)
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    bar = int(rng.integers(30, 70))
    accent = tuple(int(v) for v in rng.integers(0, 256, 3))
    d.rectangle([0, 0, w, bar], fill=accent)
    d.text((12, bar // 4), " ".join(rng.choice(_WORDS, 3)), fill=(255, 255, 255), font=_font(rng, bar // 2))
    y = bar + 10
    while y < h - 30:
        kind = rng.random()
        if kind < 0.55:  # a paragraph
            size = int(rng.integers(11, 22))
            font = _font(rng, size)
            for _ in range(int(rng.integers(1, 5))):
                d.text((int(rng.integers(8, 40)), y), " ".join(rng.choice(_WORDS, int(rng.integers(3, 10)))),
                       fill=fg, font=font)
                y += size + 4
        elif kind < 0.8:  # a chat bubble or a card
            bw, bh = int(rng.integers(w // 3, w - 20)), int(rng.integers(30, 90))
            x0 = int(rng.integers(5, max(6, w - bw - 5)))
            d.rounded_rectangle([x0, y, x0 + bw, y + bh], radius=int(rng.integers(4, 16)),
                                fill=_colour(rng, not dark), outline=fg if rng.random() < 0.3 else None)
            d.text((x0 + 10, y + 8), " ".join(rng.choice(_WORDS, int(rng.integers(2, 7)))), fill=fg,
                   font=_font(rng, int(rng.integers(12, 20))))
            y += bh + 8
        else:  # a button row or a gradient banner
            if rng.random() < 0.5:
                for i in range(int(rng.integers(1, 4))):
                    x0 = 10 + i * 110
                    d.rounded_rectangle([x0, y, x0 + 100, y + 32], radius=8, fill=accent)
                    d.text((x0 + 12, y + 8), str(rng.choice(_WORDS)), fill=(255, 255, 255),
                           font=_font(rng, 14))
                y += 44
            else:
                bh = int(rng.integers(40, 120))
                t = np.linspace(0, 1, w)[None, :, None]
                c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
                band = (c0 * (1 - t) + c1 * t).astype(np.uint8).repeat(bh, axis=0)
                img.paste(Image.fromarray(band), (0, y))
                y += bh + 8
    return np.asarray(img)
