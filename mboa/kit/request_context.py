"""The API request being served, for code far from it (the event writer records which request
caused an event, docs/events.md). Set by `mboa.middlewares.RequestContextMiddleware`; `None` in
the worker, the scheduler and anything else that serves no request."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

IDEMPOTENCY_HEADER = b"idempotency-key"


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRef:
    id: str
    headers: Iterable[tuple[bytes, bytes]] = ()
    """The raw ASGI headers: the key is looked up only when something asks for it (most
    requests write no event)."""
    state: Mapping[str, Any] | None = None
    """The request's ASGI state (`request.state`): its client address and, once authenticated,
    its `auth` subject, read by the audit log (`mboa.audit.service.AuditContext.current`)."""

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    @property
    def idempotency_key(self) -> str | None:
        for name, value in self.headers:
            if name == IDEMPOTENCY_HEADER:
                return value.decode("latin-1")
        return None


CURRENT_REQUEST: ContextVar[RequestRef | None] = ContextVar("mboa_current_request", default=None)


def current_request() -> RequestRef | None:
    return CURRENT_REQUEST.get()
