"""The metadata analyzer on generated files with known metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from fakescope.analyzers.base import ScanItem
from fakescope.config import MediaLimits, ScanSettings
from fakescope.media import decode, load_bytes
from fakescope.provenance.metadata import MetadataAnalyzer, analyze_container_metadata, estimate_quality


def analyze(data: bytes, name: str = "x.jpg") -> dict:  # type: ignore[type-arg]
    media = decode(load_bytes(data, Path(name), MediaLimits()), MediaLimits())
    ev = MetadataAnalyzer().analyze(ScanItem(media=media, faces=[], settings=ScanSettings()))
    assert ev.score is None  # evidence, never a verdict
    return ev.details


def codes(details: dict) -> set[str]:  # type: ignore[type-arg]
    return {a["code"] for a in details["anomalies"]}


def jpeg(rgb: np.ndarray, quality: int = 90, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    kw = {"exif": exif.tobytes()} if exif is not None else {}
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, **kw)
    return buf.getvalue()


def camera_exif(**tags: str) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "Canon EOS R5"  # Model
    for name, value in tags.items():
        if name == "Software":
            exif[0x0131] = value
        elif name == "DateTime":
            exif[0x0132] = value
        else:
            ifd = exif.get_ifd(0x8769)
            ifd[{"DateTimeOriginal": 0x9003, "DateTimeDigitized": 0x9004}[name]] = value
    return exif


def test_photoshop_software_tag(astronaut: np.ndarray) -> None:
    d = analyze(jpeg(astronaut, exif=camera_exif(Software="Adobe Photoshop 25.1 (Windows)")))
    edit = [a for a in d["anomalies"] if a["code"] == "editing_software"]
    assert edit and "Adobe Photoshop" in edit[0]["explanation"]
    assert d["summary"]["Make"] == "Canon"
    assert "recompressed" in codes(d)  # camera EXIF, but libjpeg's standard tables


def test_stable_diffusion_parameters_chunk(astronaut: np.ndarray) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "an astronaut portrait\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                                "Seed: 42, Model: sd_xl_base_1.0")
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, format="PNG", pnginfo=info)
    d = analyze(buf.getvalue(), "x.png")
    assert "generator_parameters" in codes(d)
    assert "metadata_stripped" not in codes(d)  # PNGs carry no camera metadata anyway


def test_generator_named_in_software_and_xmp_source_type(astronaut: np.ndarray) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "Midjourney v6")
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description Iptc4xmpExt:DigitalSourceType='
                  '"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/></x:xmpmeta>')
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, format="PNG", pnginfo=info)
    d = analyze(buf.getvalue(), "x.png")
    assert {"generator_tag", "ai_source_type"} <= codes(d)


def test_contradictory_timestamps(astronaut: np.ndarray) -> None:
    d = analyze(jpeg(astronaut, exif=camera_exif(DateTimeOriginal="2024:05:01 10:00:00",
                                                 DateTime="2023:01:01 09:00:00")))
    assert "timestamps_contradict" in codes(d)
    later = analyze(jpeg(astronaut, exif=camera_exif(DateTimeOriginal="2024:05:01 10:00:00",
                                                     DateTimeDigitized="2024:05:01 10:00:00",
                                                     DateTime="2024:05:03 18:00:00")))
    assert "modified_after_capture" in codes(later) and "timestamps_contradict" not in codes(later)


def test_stripped_metadata_and_quality(astronaut: np.ndarray) -> None:
    d = analyze(jpeg(astronaut, quality=75))
    assert "metadata_stripped" in codes(d)
    assert d["jpeg"]["quality"] == 75 and d["jpeg"]["standard_tables"]


@pytest.mark.parametrize("q", [30, 50, 90, 100])
def test_quality_estimate_is_exact_for_libjpeg_tables(astronaut: np.ndarray, q: int) -> None:
    im = Image.open(io.BytesIO(jpeg(astronaut, quality=q)))
    assert estimate_quality(im.quantization[0]) == (q, True)


def test_double_compression(astronaut: np.ndarray) -> None:
    once = analyze(jpeg(astronaut, quality=90))
    assert not once["jpeg"]["double_compression"]["likely"]
    first = np.asarray(Image.open(io.BytesIO(jpeg(astronaut, quality=60))).convert("RGB"))
    twice = analyze(jpeg(first, quality=90))
    assert twice["jpeg"]["double_compression"]["likely"]
    assert "double_compression" in codes(twice)


def test_a_zero_in_the_quantisation_table_is_not_a_crash(astronaut: np.ndarray) -> None:
    """Found by benchmarks/fuzz_scan.py: a JPEG whose DQT holds a 0 step (decoders
    substitute one) made the double-compression check divide by zero: internal_error."""
    data = bytearray(jpeg(astronaut, quality=90))
    dqt = data.index(b"\xff\xdb")
    data[dqt + 5] = 0  # the first (DC) step of the first table
    details = analyze(bytes(data))
    assert details["jpeg"]["double_compression"] == {"likely": False,
                                                     "reason": "invalid quantisation table"}
    from fakescope.scan.scanner import Scanner

    report = Scanner().scan_bytes(bytes(data), "zero-dqt.jpg")
    assert report.error is None or report.error.code != "internal_error"


def test_container_metadata_of_a_reencoded_video(tmp_path: Path, astronaut: np.ndarray) -> None:
    import av

    from fakescope.media.container import container_metadata

    path = tmp_path / "v.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=5)
        s.width, s.height, s.pix_fmt = 256, 256, "yuv420p"
        for _ in range(5):
            for pkt in s.encode(av.VideoFrame.from_ndarray(astronaut[:256, :256].copy(), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    info = container_metadata(path.read_bytes())
    assert info["streams"][0]["codec"] == "mpeg4" and info["streams"][0]["width"] == 256
    d = analyze_container_metadata(info)
    assert {"reencoded", "no_creation_time"} <= codes(d)
