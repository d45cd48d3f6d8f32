"""Where KYC documents' bytes go, and what their bytes say they are.

The documents live in the platform's object storage (`mboa.storage`: the filesystem under
`.mboa/objects` by default, or any S3-compatible server). Objects are private: they are read back
only through the permission-checked streaming routes (the dashboard's go-live page, the staff
console).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.config import StorageSettings
from mboa.storage.backends import ObjectStore
from mboa.storage.keys import Purpose
from mboa.storage.service import StoredFile, storage

if TYPE_CHECKING:
    from mboa.state import AppState

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
_MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))


def sniff(data: bytes) -> str | None:
    """The content type the bytes themselves say (never the upload's header): PDF, PNG or JPEG,
    else None."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DocumentStore:
    """KYC documents in the platform's object storage (`mboa.storage`, docs/storage.md): the
    upload rules of `Purpose.kyc_document` apply (type read from the bytes, size, images
    re-encoded without their metadata, the scan hook), keys are the merchant's own, and an
    object stored for a transaction that rolls back is deleted again."""

    def __init__(self, store: ObjectStore, settings: StorageSettings) -> None:
        self.store = store
        self.settings = settings

    async def put(self, session: AsyncSession, merchant_id: str, data: bytes) -> StoredFile:
        stored = await storage.upload(
            self.store,
            self.settings,
            merchant_id=merchant_id,
            purpose=Purpose.kyc_document,
            data=data,
        )
        storage.delete_after_transaction(session, self.store, on_rollback=stored.key)
        return stored

    async def get(self, merchant_id: str, key: str) -> bytes:
        return (await storage.get(self.store, merchant_id=merchant_id, key=key)).data


def document_store(state: AppState) -> DocumentStore:
    return DocumentStore(state.storage, state.settings.storage)
