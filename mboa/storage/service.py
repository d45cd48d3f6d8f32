"""Storing and serving merchants' files: the one entry point the domains use (logos, receipts,
KYC documents). The store itself is the process's (`AppState.storage`, `runtime.build_store`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.config import StorageSettings
from mboa.storage.backends import ObjectStore, StoredObject
from mboa.storage.exceptions import ObjectNotFound
from mboa.storage.keys import Purpose, check_key, new_name, object_key, owner_of
from mboa.storage.signing import UrlSigner, bucketed_expiry
from mboa.storage.uploads import clean_upload

log = structlog.get_logger("mboa.storage")
_cleanups: set[asyncio.Task[None]] = set()


@dataclasses.dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    content_type: str
    size: int


class StorageService:
    async def upload(
        self,
        store: ObjectStore,
        settings: StorageSettings,
        *,
        merchant_id: str,
        purpose: Purpose,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredFile:
        """Check and clean an upload (`uploads.clean_upload`: size, sniffed type, re-encoded
        image, scan hook), then store it under a new key of the merchant's."""
        cleaned = await clean_upload(data, purpose, settings)
        key = object_key(merchant_id, purpose, new_name(cleaned.extension))
        await store.put(key, cleaned.data, content_type=cleaned.content_type, metadata=metadata)
        return StoredFile(key, cleaned.content_type, len(cleaned.data))

    def key_of(self, merchant_id: str, key: str) -> str:
        """`key` if it is the merchant's; otherwise a 404 as for a key that does not exist."""
        check_key(key)
        if owner_of(key) != merchant_id:
            raise ObjectNotFound("No such file.", param="key")
        return key

    async def get(self, store: ObjectStore, *, merchant_id: str, key: str) -> StoredObject:
        return await store.get(self.key_of(merchant_id, key))

    async def delete(self, store: ObjectStore, *, merchant_id: str, key: str) -> None:
        await store.delete(self.key_of(merchant_id, key))

    async def signed_url(
        self,
        store: ObjectStore,
        settings: StorageSettings,
        *,
        merchant_id: str,
        key: str,
        download_name: str | None = None,
    ) -> str:
        """A short-lived URL (`MBOA_STORAGE__SIGNED_URL_SECONDS`) for one of the merchant's
        objects: S3 presigned, or our HMAC-signed `/files/…` route."""
        return await store.signed_url(
            self.key_of(merchant_id, key),
            expires_in=settings.signed_url_seconds,
            download_name=download_name,
        )

    def delete_after_transaction(
        self,
        session: AsyncSession,
        store: ObjectStore,
        *,
        on_commit: str | None = None,
        on_rollback: str | None = None,
    ) -> None:
        """Objects are not transactional: an object a row stops naming (`on_commit`: a replaced
        logo) is deleted once the row's change is committed, and an object stored for a change
        that is rolled back (`on_rollback`) is deleted then. Both in the background; a failed
        delete leaves an unreachable private object, logged."""
        loop = asyncio.get_running_loop()
        settled: list[bool] = []  # the first outcome of the transaction decides, once

        def later(key: str | None) -> Any:
            def run(*_: object) -> None:
                if settled:
                    return
                settled.append(True)
                if key is not None:
                    task = loop.create_task(self._delete_quietly(store, key))
                    _cleanups.add(task)
                    task.add_done_callback(_cleanups.discard)

            return run

        sync = session.sync_session
        event.listen(sync, "after_commit", later(on_commit), once=True)
        event.listen(sync, "after_rollback", later(on_rollback), once=True)

    async def _delete_quietly(self, store: ObjectStore, key: str) -> None:
        try:
            await store.delete(key)
        except Exception:
            log.warning("storage.delete_failed", key=key, exc_info=True)

    def page_image_path(self, signer: UrlSigner, settings: StorageSettings, key: str) -> str:
        """A same-origin signed path for an image on a public page (a logo): stable for
        `public_image_seconds` and valid at least that long, so the page and the browser can
        cache it."""
        check_key(key)
        return signer.path(key, expires_at=bucketed_expiry(settings.public_image_seconds))


storage = StorageService()
