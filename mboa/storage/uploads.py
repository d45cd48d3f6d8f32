"""What an upload must be before it is stored: a size within its purpose's limit, a type
sniffed from its bytes (never the file name or the client's Content-Type) on its purpose's
allow-list, images decoded and re-encoded by Pillow (no EXIF, GPS or other metadata survives,
no polyglot tail, the size bounded), then the scan hook (docs/storage.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import io
from collections.abc import Callable
from typing import Any

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

from mboa.config import StorageSettings
from mboa.storage.exceptions import FileEmpty, FileInvalid, FileTooLarge, FileTypeNotAllowed
from mboa.storage.keys import Purpose

PNG, JPEG, WEBP, PDF = "image/png", "image/jpeg", "image/webp", "application/pdf"
EXTENSIONS = {PNG: "png", JPEG: "jpg", WEBP: "webp", PDF: "pdf"}
NAMES = {PNG: "PNG", JPEG: "JPEG", WEBP: "WebP", PDF: "PDF"}


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    allowed: tuple[str, ...]
    max_bytes: Callable[[StorageSettings], int]
    max_side: Callable[[StorageSettings], int]
    output: str | None
    """Images are re-encoded to this type (None: to their own type)."""


POLICIES: dict[Purpose, Policy] = {
    Purpose.logo: Policy(
        allowed=(PNG, JPEG, WEBP),
        max_bytes=lambda s: s.max_logo_bytes,
        max_side=lambda s: s.logo_max_side,
        output=WEBP,
    ),
    Purpose.kyc_document: Policy(
        allowed=(PDF, PNG, JPEG),
        max_bytes=lambda s: s.max_document_bytes,
        max_side=lambda s: s.document_max_side,
        output=None,
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class CleanFile:
    data: bytes
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None


def sniff(data: bytes) -> str | None:
    """The type the bytes are (magic numbers), whatever the upload said it was."""
    kind = filetype.guess(data[:8192])
    return str(kind.mime) if kind is not None else None


async def clean_upload(data: bytes, purpose: Purpose, settings: StorageSettings) -> CleanFile:
    """Check and clean one upload for `purpose`; 4xx errors name what is wrong."""
    policy = POLICIES[purpose]
    limit = policy.max_bytes(settings)
    if not data:
        raise FileEmpty("The file is empty.", param="file")
    if len(data) > limit:
        raise FileTooLarge(f"The file is larger than {limit // 1024} KB.", param="file")
    content_type = sniff(data)
    if content_type not in policy.allowed:
        allowed = ", ".join(NAMES[t] for t in policy.allowed)
        raise FileTypeNotAllowed(
            f"This file type is not accepted here: send {allowed}.", param="file"
        )
    if content_type == PDF:
        cleaned = _check_pdf(data)
    else:
        cleaned = await asyncio.to_thread(
            reencode, data, policy.output or content_type, policy.max_side(settings), settings
        )
    await scan(cleaned, purpose=purpose, settings=settings)
    return cleaned


def _check_pdf(data: bytes) -> CleanFile:
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise FileInvalid("The file is not a complete PDF.", param="file")
    return CleanFile(data, PDF, "pdf")


def reencode(data: bytes, output: str, max_side: int, settings: StorageSettings) -> CleanFile:
    """Decode, orient, shrink to `max_side`, and encode anew from the pixels alone."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size  # read from the header: nothing decoded yet
            if width * height > settings.max_image_pixels:
                raise FileInvalid("The image has too many pixels.", param="file")
            image.load()
            oriented = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise FileInvalid("The image cannot be read.", param="file") from None
    keeps_alpha = output in (PNG, WEBP) and (
        oriented.mode in ("RGBA", "LA", "PA") or "transparency" in oriented.info
    )
    mode = "RGBA" if keeps_alpha else "RGB"
    pixels = oriented.convert(mode)
    pixels.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    # A new image from the raw pixels: nothing of the original's `info` (EXIF, XMP, ICC, text
    # chunks, comments) can follow it into the file we store.
    fresh = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if output == WEBP:
        fresh.save(out, "WEBP", quality=85, method=4)
    elif output == JPEG:
        fresh.save(out, "JPEG", quality=88, optimize=True)
    else:
        fresh.save(out, "PNG", optimize=True)
    return CleanFile(out.getvalue(), output, EXTENSIONS[output], fresh.width, fresh.height)


ScanHook = Callable[..., Any]


def _load_hook(spec: str) -> ScanHook:
    module, _, name = spec.partition(":")
    hook = getattr(importlib.import_module(module), name, None)
    if not callable(hook):
        raise RuntimeError(f"MBOA_STORAGE__SCAN_HOOK: {spec!r} is not a callable")
    return hook  # type: ignore[no-any-return]


_hooks: dict[str, ScanHook] = {}


async def scan(cleaned: CleanFile, *, purpose: Purpose, settings: StorageSettings) -> None:
    """The virus-scan hook (`MBOA_STORAGE__SCAN_HOOK`, none by default): called with the bytes
    that will be stored; it raises `UploadRejected` to refuse them. A sync hook runs in a
    thread."""
    if not settings.scan_hook:
        return
    hook = _hooks.get(settings.scan_hook)
    if hook is None:
        hook = _hooks[settings.scan_hook] = _load_hook(settings.scan_hook)
    kwargs = {"content_type": cleaned.content_type, "purpose": purpose.value}
    if inspect.iscoroutinefunction(hook):
        await hook(cleaned.data, **kwargs)
    else:
        await asyncio.to_thread(hook, cleaned.data, **kwargs)
