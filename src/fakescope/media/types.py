"""Decoded media handed from ``media`` to the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fakescope.media.metadata import ImageMetadata
from fakescope.media.sniff import MediaType


@dataclass
class ImageMedia:
    """One decoded still image: 8-bit RGB, orientation already applied."""

    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous
    format: str  # container format as sniffed: jpeg, png, webp, bmp, tiff, gif
    source_mode: str  # Pillow mode before conversion (CMYK, I;16, RGBA, ...)
    notes: list[str] = field(default_factory=list)
    media_type: MediaType = "image"
    metadata: ImageMetadata | None = None  # EXIF, XMP, IPTC, text, JPEG tables (raw facts)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


Media = ImageMedia
