"""`GET /files/<key>`: one object, for whoever holds its signed URL (`signing.UrlSigner`).

The filesystem backend's signed URLs point here, and so do the logos on the payment pages
whatever the backend. No API key: the signature is the permission, checked before the store
is touched; an expired or altered URL is a 403, a key that names nothing a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from mboa.routing import ApiRoute
from mboa.state import get_state
from mboa.storage.keys import check_key
from mboa.storage.signing import FILES_PATH

router = APIRouter(route_class=ApiRoute, include_in_schema=False)


@router.get(FILES_PATH + "/{key:path}")
async def signed_file(
    request: Request,
    key: str,
    expires: Annotated[str, Query(max_length=20)],
    signature: Annotated[str, Query(max_length=100)],
    name: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """Serve the object a signed URL names, until the URL expires."""
    state = get_state(request)
    check_key(key)
    left = state.url_signer.verify(key, expires, signature, name)
    info = await state.storage.info(key)
    disposition = f'attachment; filename="{name}"' if name else "inline"
    return StreamingResponse(
        state.storage.stream(key),
        media_type=info.content_type,
        headers={
            "content-length": str(info.size),
            "content-disposition": disposition,
            # Private: the URL is the permission; a shared cache must not keep the object.
            "cache-control": f"private, max-age={min(left, 86_400)}",
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )
