"""Images for upload tests, made on the spot: photos with GPS EXIF, a PNG bomb, files in disguise."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from typing import Any

import httpx
from PIL import Image

# GPS IFD tag and a position (Paris), as a phone writes them.
GPS_IFD = 0x8825
GPS_POSITION = {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)}


def photo(size: tuple[int, int] = (640, 480), fmt: str = "JPEG", *, gps: bool = True,
          orientation: int | None = None, color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    """An image with EXIF metadata a phone would leave in it (GPS, make, orientation)."""
    img = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 12"
    if gps:
        exif[GPS_IFD] = GPS_POSITION
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    img.save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@functools.cache
def png_bomb(side: int = 50_000) -> bytes:
    """A real PNG of side x side black pixels (1 bit each): about 300 KB on disk, 2.5 gigapixels
    (10 GB as RGBA) once decoded."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\0" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


PHP = b"<?php system($_GET['c']); ?>\n"


def files(data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg") -> dict[str, Any]:
    return {"file": (filename, data, content_type)}


async def upload(http: httpx.AsyncClient, data: bytes, filename: str = "photo.jpg",
                 content_type: str = "image/jpeg") -> httpx.Response:
    return await http.post("/v1/uploads", files=files(data, filename, content_type))


def exif_of(data: bytes) -> dict[int, Any]:
    with Image.open(io.BytesIO(data)) as img:
        return dict(img.getexif())


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size
