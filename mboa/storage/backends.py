"""The object store: one async interface, two backends.

- `FilesystemStore`: files under a directory (`MBOA_DATA_DIR/objects` by default), each with a
  `.meta.json` beside it (content type, metadata); its signed URLs point at our own route
  (`GET /files/…`, HMAC-signed with an expiry, `mboa.storage.signing`).
- `S3Store`: any S3-compatible server (AWS S3, MinIO, Cloudflare R2) through aiobotocore; its
  signed URLs are S3 presigned GET URLs (SigV4, `X-Amz-Expires`).

Keys are built by `mboa.storage.keys` only (merchant and purpose first, names we generate):
never a path a user typed. Every object is private: nothing is listable or public.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from mboa.storage.exceptions import ObjectNotFound
from mboa.storage.keys import check_key
from mboa.storage.signing import UrlSigner

CHUNK = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    data: bytes
    content_type: str
    metadata: Mapping[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    metadata: Mapping[str, str]


class ObjectStore(abc.ABC):
    """Private objects by key. Implementations are safe to share across tasks."""

    @abc.abstractmethod
    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store `data` under `key`, replacing any object there."""

    @abc.abstractmethod
    async def get(self, key: str) -> StoredObject:
        """The whole object; `ObjectNotFound` if there is none."""

    @abc.abstractmethod
    async def info(self, key: str) -> ObjectInfo:
        """Size, content type and metadata; `ObjectNotFound` if there is none."""

    @abc.abstractmethod
    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object in chunks (check `info` first: a missing key fails mid-iteration)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens if there is none."""

    async def exists(self, key: str) -> bool:
        try:
            await self.info(key)
        except ObjectNotFound:
            return False
        return True

    @abc.abstractmethod
    async def signed_url(
        self, key: str, *, expires_in: int, download_name: str | None = None
    ) -> str:
        """A URL that serves the object to whoever holds it, for `expires_in` seconds.
        `download_name`: served as an attachment with this file name (else inline)."""

    async def close(self) -> None:  # noqa: B027 (most backends hold nothing to release)
        """Release connections (the S3 client)."""


def _missing(key: str) -> ObjectNotFound:
    return ObjectNotFound("No such file.", param="key")


class FilesystemStore(ObjectStore):
    """Objects as files under `root`. Writes are atomic (a temporary file, then a rename), so a
    reader sees the old object or the new one, never half of one."""

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.signer = signer

    def _path(self, key: str) -> Path:
        check_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):  # check_key forbids it; belt and braces
            raise _missing(key)
        return path

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + ".meta.json")

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        path = self._path(key)
        meta = orjson.dumps({"content_type": content_type, "metadata": dict(metadata or {})})
        await asyncio.to_thread(self._write, path, data, meta)

    def _write(self, path: Path, data: bytes, meta: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for target, content in ((self._meta_path(path), meta), (path, data)):
            temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
            with open(temporary, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)

    def _read_meta(self, path: Path, key: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = orjson.loads(self._meta_path(path).read_bytes())
            size = path.stat().st_size
        except FileNotFoundError:
            raise _missing(key) from None
        meta["size"] = size
        return meta

    async def info(self, key: str) -> ObjectInfo:
        path = self._path(key)
        meta = await asyncio.to_thread(self._read_meta, path, key)
        return ObjectInfo(key, meta["size"], meta["content_type"], meta["metadata"])

    async def get(self, key: str) -> StoredObject:
        path = self._path(key)

        def read() -> tuple[dict[str, Any], bytes]:
            meta = self._read_meta(path, key)
            try:
                return meta, path.read_bytes()
            except FileNotFoundError:
                raise _missing(key) from None

        meta, data = await asyncio.to_thread(read)
        return StoredObject(key, data, meta["content_type"], meta["metadata"])

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise _missing(key) from None
        try:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
        finally:
            file.close()

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def remove() -> None:
            for target in (path, self._meta_path(path)):
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()

        await asyncio.to_thread(remove)

    async def signed_url(
        self, key: str, *, expires_in: int, download_name: str | None = None
    ) -> str:
        check_key(key)
        return self.signer.url(key, expires_in=expires_in, download_name=download_name)


class S3Store(ObjectStore):
    """Any S3-compatible server through one aiobotocore client, opened on first use."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        path_style: bool,
        create_bucket: bool = False,
    ) -> None:
        self.bucket = bucket
        self._client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._path_style = path_style
        self._create_bucket = create_bucket
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if self._path_style else "virtual"},
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                )
                client = await self._stack.enter_async_context(
                    get_session().create_client("s3", config=config, **self._client_args)
                )
                if self._create_bucket:
                    await self._ensure_bucket(client)
                self._client = client
        return self._client

    async def _ensure_bucket(self, client: Any) -> None:
        from botocore.exceptions import ClientError

        try:
            await client.head_bucket(Bucket=self.bucket)
        except ClientError:
            region = self._client_args["region_name"]
            if region in (None, "us-east-1", "auto"):  # AWS's default region; R2's "auto"
                await client.create_bucket(Bucket=self.bucket)
            else:
                await client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": region},
                )

    @staticmethod
    def _not_found(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in {"NoSuchKey", "404", "NotFound"}

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        check_key(key)
        client = await self._s3()
        await client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata=dict(metadata or {}),
        )

    async def _get_object(self, key: str) -> Any:
        from botocore.exceptions import ClientError

        check_key(key)
        client = await self._s3()
        try:
            return await client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if self._not_found(exc):
                raise _missing(key) from None
            raise

    async def get(self, key: str) -> StoredObject:
        response = await self._get_object(key)
        async with response["Body"] as body:
            data = await body.read()
        return StoredObject(key, data, response["ContentType"], response.get("Metadata", {}))

    async def info(self, key: str) -> ObjectInfo:
        from botocore.exceptions import ClientError

        check_key(key)
        client = await self._s3()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if self._not_found(exc):
                raise _missing(key) from None
            raise
        return ObjectInfo(
            key, int(head["ContentLength"]), head["ContentType"], head.get("Metadata", {})
        )

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        response = await self._get_object(key)
        async with response["Body"] as body:
            while chunk := await body.read(CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        check_key(key)
        client = await self._s3()
        await client.delete_object(Bucket=self.bucket, Key=key)

    async def signed_url(
        self, key: str, *, expires_in: int, download_name: str | None = None
    ) -> str:
        check_key(key)
        client = await self._s3()
        params = {"Bucket": self.bucket, "Key": key}
        if download_name is not None:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        url: str = await client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )
        return url

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
