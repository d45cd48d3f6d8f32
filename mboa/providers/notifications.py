"""Helpers shared by the adapters' callback parsers."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl

import orjson

from mboa.providers.errors import InvalidNotification
from mboa.providers.types import ProviderName


def decode_body(body: bytes, *, provider: ProviderName) -> dict[str, Any]:
    """JSON object, or a form-encoded body as a fallback (some gateways post forms)."""
    text = body.strip()
    if not text:
        raise InvalidNotification("empty callback body", provider=provider)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            pairs = parse_qsl(text.decode(), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidNotification(
                "callback body is neither JSON nor a form", provider=provider
            ) from exc
        return dict(pairs)
    if not isinstance(data, dict):
        raise InvalidNotification("callback body is not a JSON object", provider=provider)
    return data


def dedupe_key(provider: ProviderName, our_id: str | None, payload: dict[str, Any]) -> str:
    """The same callback delivered twice has the same key; a different final state does not."""
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(
        provider.value.encode() + b"|" + (our_id or "").encode() + b"|" + canonical
    )
    return f"{provider.value}:{digest.hexdigest()[:32]}"
