"""Provenance for one scanned file, from the bytes and media the pipeline already holds:
Content Credentials, the invisible watermark and, when a registry exists, a lookup.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fakescope.config import MediaLimits, ProvenanceSettings
from fakescope.errors import FakescopeError
from fakescope.media import LoadedFile
from fakescope.media.types import ImageMedia
from fakescope.provenance.c2pa_reader import load_trust_anchors, mime_for, read_c2pa
from fakescope.provenance.fingerprints import Fingerprint, image_fingerprint
from fakescope.provenance.models import C2paInfo, Provenance, RegistryInfo, WatermarkInfo

log = logging.getLogger("fakescope.provenance")


def fingerprint_loaded(loaded: LoadedFile, media: ImageMedia | None, limits: MediaLimits,
                       variants: bool = False) -> Fingerprint | None:
    """Perceptual fingerprint of a file: from decoded pixels, or keyframes and audio via PyAV."""
    if media is not None:
        return image_fingerprint(media.rgb, variants=variants)
    if loaded.media_type not in ("video", "audio"):
        return None
    from fakescope.media.container import audio_samples, keyframes
    from fakescope.provenance.fingerprints import AUDIO_RATE, audio_fingerprint, phash

    fp = Fingerprint(media_type=loaded.media_type)
    if loaded.media_type == "video":
        fp.keyframes = [phash(f) for f in keyframes(loaded.source, limits)]
    fp.audio = audio_fingerprint(audio_samples(loaded.source, AUDIO_RATE), AUDIO_RATE) or None
    return fp


class ProvenanceChecker:
    """Loaded once per Scanner: trust anchors are read, the registry opened on first use."""

    def __init__(self, settings: ProvenanceSettings, limits: MediaLimits | None = None) -> None:
        self.settings = settings
        self.limits = limits or MediaLimits()
        self.anchors = load_trust_anchors(settings.trust_anchors) if settings.c2pa else None
        self._registry = None
        self._registry_size: int | None = None

    def reads_watermark(self, media: ImageMedia | None) -> bool:
        return bool(self.settings.watermark) and media is not None

    def check(self, loaded: LoadedFile, media: ImageMedia | None,
              watermark: WatermarkInfo | None = None) -> Provenance:
        """``watermark``: the mark already read (the image flow reads it beside face
        detection); read here otherwise."""
        if self.settings.c2pa:
            mime = mime_for(loaded.format, loaded.path.name, loaded.head[:32])
            if loaded.data is not None:
                c2pa = read_c2pa(loaded.data, mime, self.anchors)
            else:
                with loaded.open() as stream:
                    c2pa = read_c2pa(stream, mime, self.anchors)
        else:
            c2pa = C2paInfo(state="unverifiable", reason="Content Credentials are switched off")
        if watermark is None and self.reads_watermark(media):
            from fakescope.provenance.watermark import detect

            watermark = detect(media.rgb)  # type: ignore[union-attr]
        return Provenance(c2pa=c2pa, watermark=watermark, registry=self._lookup(loaded, media))

    def _lookup(self, loaded: LoadedFile, media: ImageMedia | None) -> RegistryInfo | None:
        path = self.settings.registry
        if not path or not Path(path).expanduser().is_file():
            return None  # scans never create a registry
        from fakescope.provenance.registry import Registry

        try:
            if self._registry is None:
                self._registry = Registry.open(path, readonly=True)
            self._registry.refresh()
            fp = fingerprint_loaded(loaded, media, self.limits)
            return self._registry.lookup(loaded.sha256, fp)
        except FakescopeError as exc:
            return RegistryInfo(checked=False, reason=f"{exc.code}: {exc}")
        except Exception as exc:  # the registry must never cost a scan its other evidence
            log.warning("registry lookup failed: %s", exc)
            return RegistryInfo(checked=False, reason=f"registry lookup failed: {exc}")
