"""What a file is, from its first bytes: so that a rejection names the thing that was uploaded.

ffprobe says "Invalid data found" for a PDF and for a cut-short WebM alike; people need
"a PDF document, not a video" and "the upload was cut short". Nothing here runs ffmpeg.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 8192

# ISO base media (MP4 family) major brands that are still images, not videos.
IMAGE_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"avif": "AVIF"}
MP4_BRANDS = {b"qt  ": "MOV", b"M4A ": "M4A", b"M4B ": "M4A", b"M4V ": "M4V", b"3gp": "3GP", b"3g2": "3G2"}
MP4_FAMILY = {"MP4", *MP4_BRANDS.values()}


@dataclass(frozen=True)
class Sniff:
    """``kind``: "text", "document" (PDF, archives, programs), "image", "media" (a media
    container's signature) or "unknown"; ``name``: what to call it in a sentence."""

    kind: str
    name: str


def identify(path: Path) -> Sniff:
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    return (_binary(head) or _pointer(head) or _text(head, complete=path.stat().st_size <= HEAD_BYTES)
            or Sniff("unknown", "unrecognised data"))


# Signatures that a file starts with, as (first bytes, kind, name); the rest need more than a prefix.
PREFIXES = [
    (b"%PDF", "document", "a PDF document"),
    (b"PK\x03\x04", "document", "a ZIP archive (or an Office document)"),
    (b"PK\x05\x06", "document", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "document", "a gzip archive"),
    (b"Rar!\x1a\x07", "document", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "document", "a 7-Zip archive"),
    (b"\x7fELF", "document", "a program (an executable file)"),
    (b"\xff\xd8\xff", "image", "JPEG"),
    (b"GIF87a", "image", "GIF"),
    (b"GIF89a", "image", "GIF"),
    (b"II*\x00", "image", "TIFF"),
    (b"MM\x00*", "image", "TIFF"),
    (b"8BPS", "image", "Photoshop PSD"),
    (b"FLV\x01", "media", "FLV"),
    (b"OggS", "media", "Ogg"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "media", "ASF/WMV"),
    (b"\x00\x00\x01\xba", "media", "MPEG program stream"),
    (b"\x06\x0e\x2b\x34", "media", "MXF"),
    (b"YUV4MPEG2", "media", "YUV4MPEG"),
]
RIFF_TYPES = {b"WEBP": ("image", "WebP"), b"AVI ": ("media", "AVI"),
              b"WAVE": ("media", "WAV")}  # WAV: media; ffprobe says whether it is audio only


def _binary(head: bytes) -> Sniff | None:
    for prefix, kind, name in PREFIXES:
        if head.startswith(prefix):
            return Sniff(kind, name)
    if head.startswith(b"MZ") and b"This program" in head[:512]:
        return Sniff("document", "a program (an executable file)")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        animated = b"acTL" in head[: head.find(b"IDAT")] if b"IDAT" in head else b"acTL" in head
        return Sniff("image", "animated PNG" if animated else "PNG")
    if head[:4] == b"RIFF" and head[8:12] in RIFF_TYPES:
        return Sniff(*RIFF_TYPES[head[8:12]])
    if head.startswith(b"BM") and len(head) > 14 and head[6:10] == b"\x00\x00\x00\x00":
        return Sniff("image", "BMP")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in IMAGE_BRANDS:
            return Sniff("image", IMAGE_BRANDS[brand])
        return Sniff("media", MP4_BRANDS.get(brand, MP4_BRANDS.get(brand[:3], "MP4")))
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"moof", b"styp", b"sidx"):
        return Sniff("media", "MP4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniff("media", "WebM" if ebml_doctype(head) == "webm" else "Matroska")
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return Sniff("media", "MPEG transport stream")
    if len(head) > 388 and head[4] == head[196] == head[388] == 0x47:
        return Sniff("media", "MPEG transport stream (M2TS)")
    return None


# Text that makes ffmpeg open the files, URLs or network streams it names, found as ffmpeg's own
# probes find it: in the raw bytes, so that control characters or bytes that are not text cannot hide
# it from the text test. (ffmpeg refuses these formats anyway, see ffmpeg.MEDIA_FORMATS: this names them.)
POINTS_ELSEWHERE = "a text file that points to other files"
POINTERS = [
    (re.compile(rb"\A(?:\xef\xbb\xbf)?\s*#EXTM3U", re.I), f"an HLS playlist (.m3u8, {POINTS_ELSEWHERE})"),
    (re.compile(rb"\A(?:\xef\xbb\xbf)?\s*ffconcat", re.I), f"an ffmpeg concat script ({POINTS_ELSEWHERE})"),
    (re.compile(rb"<MPD\b", re.I), f"a DASH manifest (.mpd, {POINTS_ELSEWHERE})"),
    (re.compile(rb"<CompositionPlaylist\b"), f"an IMF composition playlist ({POINTS_ELSEWHERE})"),
    (re.compile(rb"^c=IN IP", re.M), "an SDP session description (a text file that points to network streams)"),
]


def _pointer(head: bytes) -> Sniff | None:
    for pattern, name in POINTERS:
        if pattern.search(head):
            return Sniff("text", name)
    return None


SRT = re.compile(r"^\ufeff?\s*\d+\s*\r?\n\d\d:\d\d:\d\d[,.]\d+\s*-->")


def _text(head: bytes, *, complete: bool) -> Sniff | None:
    """Text of any kind: never a video, and never handed to ffmpeg (pointer files are found before)."""
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for encoding in ("utf-8", "utf-16"):
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and not complete and exc.start >= len(head) - 3:
                text = head[: exc.start].decode("utf-8")  # a character cut by the 8 KB window
                break
    else:
        return None
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f\v\x1b")
    if controls > len(text) // 100:
        return None
    lower = text.lstrip("\ufeff \t\r\n").lower()
    if lower.startswith("<!doctype html") or "<html" in lower[:1024]:
        return Sniff("text", "an HTML page")
    if "<svg" in lower[:2048]:
        return Sniff("image", "SVG")
    if lower.startswith("<?xml"):
        return Sniff("text", "an XML document")
    if lower.startswith("webvtt"):
        return Sniff("text", "a WebVTT subtitle file")
    if SRT.match(text):
        return Sniff("text", "a SubRip (SRT) subtitle file")
    if lower.startswith("[script info]"):
        return Sniff("text", "an ASS/SSA subtitle file")
    if lower.startswith(("{", "[")):
        try:
            if complete:
                json.loads(text)
            return Sniff("text", "a JSON document")
        except ValueError:
            pass
    return Sniff("text", "plain text")


def ebml_doctype(head: bytes) -> str | None:
    """The DocType of a Matroska/WebM file ("matroska" or "webm"), else None."""
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    i = head.find(b"\x42\x82", 0, 64)
    if i < 0 or i + 3 >= len(head) or not head[i + 2] & 0x80:
        return None
    length = head[i + 2] & 0x7F
    return head[i + 3 : i + 3 + length].rstrip(b"\x00").decode("ascii", "replace")


@dataclass(frozen=True)
class Box:
    type: str
    offset: int
    size: int  # as declared; may run past the end of a truncated file


def mp4_boxes(path: Path) -> list[Box]:
    """The top-level boxes of an MP4/MOV file, as far as they can be read."""
    boxes: list[Box] = []
    file_size = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset + 8 <= file_size and len(boxes) < 10_000:
            fh.seek(offset)
            header = fh.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1 and len(header) == 16:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:
                size = file_size - offset
            if size < 8 or not kind.isprintable():
                break
            boxes.append(Box(kind, offset, size))
            offset += size
        if 0 < file_size - offset < 8 and not boxes:
            boxes.append(Box("ftyp", 0, 8))
    return boxes


def mp4_truncation(path: Path, name: str = "MP4") -> str | None:
    """Why an MP4/MOV file cannot be whole, as a sentence, or None when its boxes are whole."""
    file_size = path.stat().st_size
    boxes = mp4_boxes(path)
    if not boxes:
        return f"The {name} file is truncated: it ends inside its header, after {file_size} bytes."
    types = {b.type for b in boxes}
    last = boxes[-1]
    declared = last.offset + last.size
    cut = declared > file_size
    if cut and last.type == "moov":
        return (f"The {name} file is truncated: it ends inside its index (moov atom), after "
                f"{file_size} of {declared} bytes; the upload was cut short.")
    if "moov" not in types and "moof" in types:
        return (f"The file is part of a fragmented {name} stream (media segments without their "
                "initialization segment), not a whole video.")
    if "moov" not in types:
        if cut and last.type == "mdat":
            return (f"The {name} file is truncated: its index (moov atom) is missing because the "
                    f"upload was cut short (the data stops at {file_size} of {declared} bytes, and "
                    "the index comes after it).")
        if last.type == "mdat":
            return (f"The {name} file is incomplete: its index (moov atom) is missing; the recording "
                    "was interrupted before the index was written.")
        if cut:
            where = "its header ('ftyp' box)" if last.type == "ftyp" else f"its '{last.type}' box"
            return (f"The {name} file is truncated: it ends inside {where}, after "
                    f"{file_size} of {declared} bytes.")
        return f"The {name} file is incomplete: its index (moov atom) is missing."
    if cut:
        return (f"The {name} file is truncated: it ends inside its media data, after {file_size} of "
                f"{declared} bytes; the upload was cut short.")
    return None
