"""Small real files of each accepted type (and one that is not), for the upload tests."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


JPEG = _jpeg()
"""A small JPEG that decodes (uploads re-encode images, docs/storage.md)."""


def png(width: int = 4, height: int = 4) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PROFILE = {
    "legal_name": "Mama Ngono Couture SARL",
    "rccm_number": "RC/DLA/2024/B/1234",
    "niu_number": "M012345678901A",
    "address": "Rue Joss, Akwa",
    "city": "Douala",
    "activity": "Couture et prêt-à-porter",
    "expected_monthly_volume": 2_500_000,
    "settlement_phone": "670000001",
    "settlement_operator": "mtn_momo",
    "representative_name": "Ngono Marie",
}
