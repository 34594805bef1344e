"""Broadcast graphics drawn over video frames: a channel logo, a lower-third banner, a ticker,
a corner watermark.

Real footage reaches fact-checkers dressed: news tickers, channel logos, a platform's
watermark. A reading of whole frames moves with them (a TV logo and a banner raised real
clips' appearance logit by about 1 on average, docs/metrics.md, "Video of 2025"), and the
video corpus's generated clips seldom wear them. The appearance head therefore also trains
on every clip dressed in graphics drawn here, both classes alike, so that they cannot
tell the class. Drawn deterministically from a key: one clip keeps one dress on every
frame, as broadcast graphics do.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

_WORDS = ["live", "breaking", "news", "update", "report", "today", "exclusive", "interview",
          "minister", "market", "weather", "sport", "city", "council", "vote", "election", "police",
          "statement", "press", "conference", "world", "storm", "tonight", "12:45", "09:30", "+2.4%"]
_FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_PLAIN]


def _rng(key: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


def _text(rng: np.random.Generator, n: int) -> str:
    words = [str(w) for w in rng.choice(_WORDS, n)]
    return " ".join(w.upper() if rng.random() < 0.5 else w for w in words)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


class Dress:
    """One clip's graphics: ``Dress(key)(frame)`` draws them on a copy of an RGB frame."""

    def __init__(self, key: str) -> None:
        rng = _rng(key)
        parts = [p for p in ("logo", "banner", "ticker", "watermark") if rng.random() < 0.55]
        self.parts = parts or ["banner"]
        self.font = _FONTS[int(rng.integers(len(_FONTS)))]
        self.logo_corner = int(rng.integers(4))
        self.logo_round = bool(rng.random() < 0.5)
        self.logo_text = _text(rng, 1)[:4]
        self.colours = [_colour(rng) for _ in range(4)]
        self.banner_text = _text(rng, int(rng.integers(2, 6)))
        self.ticker_text = _text(rng, 12)
        self.mark_text = "@" + _text(rng, 1).lower()
        self.alpha = float(rng.uniform(0.6, 1.0))
        self.size = float(rng.uniform(0.7, 1.3))
        self.speed = float(rng.uniform(2, 8))
        self.frame = 0

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        u = self.size * h / 480  # graphics scale with the picture
        layer = rgb.copy()
        c0, c1, c2, c3 = self.colours
        if "logo" in self.parts:
            r = int(30 * u)
            cx = r + int(12 * u) if self.logo_corner % 2 == 0 else w - r - int(12 * u)
            cy = r + int(12 * u) if self.logo_corner < 2 else h - r - int(80 * u)
            if self.logo_round:
                cv2.circle(layer, (cx, cy), r, c0, -1)
            else:
                cv2.rectangle(layer, (cx - r, cy - r // 2), (cx + r, cy + r // 2), c0, -1)
            cv2.putText(layer, self.logo_text, (cx - int(0.8 * r), cy + int(0.3 * r)), self.font,
                        0.5 * u, c1, max(1, int(2 * u)))
        if "banner" in self.parts:
            y0, y1 = h - int(75 * u), h - int(25 * u)
            cv2.rectangle(layer, (0, y0), (w, y1), c2, -1)
            cv2.putText(layer, self.banner_text, (int(15 * u), y1 - int(15 * u)), self.font, 0.8 * u,
                        (255, 255, 255), max(1, int(2 * u)))
        if "ticker" in self.parts:
            y0 = h - int(22 * u)
            cv2.rectangle(layer, (0, y0), (w, h), c3, -1)
            x = int(w - (self.frame * self.speed * u) % (w + 400 * u))
            cv2.putText(layer, self.ticker_text, (x, h - int(6 * u)), self.font, 0.5 * u, (255, 255, 255),
                        max(1, int(u)))
        out = cv2.addWeighted(layer, self.alpha, rgb, 1 - self.alpha, 0)
        if "watermark" in self.parts:
            cv2.putText(out, self.mark_text, (int(w * 0.55), int(h * 0.12)), self.font, 0.7 * u,
                        (235, 235, 235), max(1, int(u)))
        self.frame += 1
        return out
