from pathlib import Path

import pytest

from fakescope.media.sniff import describe_unknown, looks_like_media, sniff_bytes


@pytest.mark.parametrize(
    ("head", "kind", "fmt"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image", "png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image", "webp"),
        (b"BM" + b"\x00" * 20, "image", "bmp"),
        (b"II*\x00\x08\x00\x00\x00", "image", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image", "tiff"),
        (b"GIF89a\x01\x00", "image", "gif"),
        (b"\x00\x00\x00\x18ftypmp42", "video", "mp4"),
        (b"\x00\x00\x00\x18ftypM4A ", "audio", "m4a"),
        (b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01webm", "video", "webm"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio", "wav"),
        (b"fLaC\x00\x00", "audio", "flac"),
        (b"ID3\x04\x00", "audio", "mp3"),
        (b"OggS\x00\x02", "audio", "ogg"),
    ],
)
def test_signatures(head: bytes, kind: str, fmt: str) -> None:
    s = sniff_bytes(head)
    assert s is not None and (s.media_type, s.format) == (kind, fmt)


def test_unknown_content_is_described() -> None:
    assert sniff_bytes(b"hello world") is None
    assert describe_unknown(b"hello world") == "it looks like text"
    assert describe_unknown(b"%PDF-1.7") == "it looks like a PDF document"
    assert describe_unknown(b"") == "it is empty"


def test_folder_walk_keeps_media_by_content_or_name(tmp_path: Path) -> None:
    (tmp_path / "photo.unknown").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    (tmp_path / "notes.md").write_text("# notes")
    (tmp_path / "clip.jpg").write_text("not really")  # named like media: kept, fails later
    assert looks_like_media(tmp_path / "photo.unknown")
    assert looks_like_media(tmp_path / "clip.jpg")
    assert not looks_like_media(tmp_path / "notes.md")
