"""The process's object store and URL signer, built from settings on first use."""

from __future__ import annotations

from mboa.config import Settings, StorageBackend
from mboa.storage.backends import FilesystemStore, ObjectStore, S3Store
from mboa.storage.signing import UrlSigner


def build_store(settings: Settings, secret: str) -> ObjectStore:
    config = settings.storage
    if config.backend is StorageBackend.s3:
        return S3Store(
            bucket=config.s3_bucket,
            endpoint_url=config.s3_endpoint_url,
            region=config.s3_region,
            access_key_id=(
                config.s3_access_key_id.get_secret_value() if config.s3_access_key_id else None
            ),
            secret_access_key=(
                config.s3_secret_access_key.get_secret_value()
                if config.s3_secret_access_key
                else None
            ),
            path_style=config.s3_path_style,
            create_bucket=config.s3_create_bucket,
        )
    root = config.directory or settings.data_dir / "objects"
    return FilesystemStore(root, build_signer(settings, secret))


def build_signer(settings: Settings, secret: str) -> UrlSigner:
    return UrlSigner(secret, settings.base_url)
