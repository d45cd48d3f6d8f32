"""The storage suite runs once per backend: the filesystem store of the test API (served by
its `/files/…` route), and the S3 store against a real S3-protocol server on 127.0.0.1
(moto's server mode, `ThreadedMotoServer`: HTTP, SigV4, buckets and objects; not a mock
object in our process's calls)."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from moto.server import ThreadedMotoServer
from PIL import Image

from mboa.state import AppState
from mboa.storage.backends import ObjectStore, S3Store


@dataclasses.dataclass
class Backend:
    name: str
    store: ObjectStore


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_store(endpoint: str, bucket: str = "mboa-test") -> S3Store:
    return S3Store(
        bucket=bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="test-access",
        secret_access_key="test-secret",
        path_style=True,
        create_bucket=True,
    )


@pytest_asyncio.fixture(params=["filesystem", "s3"], loop_scope="session")
async def backend(
    request: pytest.FixtureRequest, app_state: AppState, clean: None
) -> AsyncIterator[Backend]:
    if request.param == "filesystem":
        yield Backend("filesystem", app_state.storage)
        return
    store = s3_store(request.getfixturevalue("s3_server"))
    try:
        yield Backend("s3", store)
    finally:
        await store.close()


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (800, 600), *, exif: bool = False
) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SpyCam"  # Make
        tags[0x0110] = "Model X"  # Model
        tags[0x0131] = "secret-editor"  # Software
        tags[0x0112] = 6  # Orientation: rotate 90° CW to display
        image.save(out, fmt, exif=tags.tobytes())
    else:
        image.save(out, fmt)
    return out.getvalue()
