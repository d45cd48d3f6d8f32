"""The transaction boundary of a request.

`ApiRoute` opens one session per request, lets dependencies and the endpoint use it (a POST route
claims its Idempotency-Key right after its own dependencies, the authenticator among them), then:
stores the Idempotency-Key response in that same transaction and commits (success); or rolls back
and answers the error object (an `MboaError`: stored for the key as Stripe does, except invalid
parameters); or rolls back, releases the key and re-raises (validation failures and unexpected
errors: nothing was written, so a retry with the same key is safe). Services flush, never commit.

The session is opened on first use. A route may instead read through the lean read path
(`ReadsDep`): a read-only transaction on a bare asyncpg connection, also opened on first use and
ended here when the request ends.

A POST route may write through the lean write path instead (`WritesDep`, declared after its
authenticator): a read-write transaction on such a connection, and no session. Its
Idempotency-Key is claimed with the response, as the transaction's last write, then one commit
(docs/decisions/0004-idempotency-claimed-at-commit.md). Its endpoint raises an `MboaError` only
before it writes, or with `commit_writes`: the route rolls the transaction back on any other.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar

import asyncpg
import structlog
from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from mboa.auth.cache import take_invalidations
from mboa.exception_handlers import error_response, request_id_of
from mboa.exceptions import BadRequest, MboaError, UnknownParameter
from mboa.idempotency import service as idempotency
from mboa.idempotency.dependencies import claim_idempotency_key
from mboa.kit.db import sqlstate
from mboa.kit.schemas import carries_secrets, redact_secrets
from mboa.state import get_state

log = structlog.get_logger("mboa.routing")


def _stored(response: Response, response_model: Any = None) -> idempotency.StoredResponse:
    """What an Idempotency-Key keeps of a route's response (the one place that decides it).

    Never a secret: every `Secret` field of the route's response model is kept as `"redacted"`,
    so a credential exists only in the one response that created it (docs/architecture.md,
    "Secrets")."""
    content_type = response.headers.get("content-type", "application/json")
    return idempotency.StoredResponse(
        response.status_code,
        _without_secrets(bytes(response.body), response.status_code, response_model),
        {"content-type": content_type},
    )


def _without_secrets(body: bytes, status: int, response_model: Any) -> bytes:
    # Errors carry no secret; a success body is the route's response model.
    if response_model is None or not 200 <= status < 300:
        return body
    return redact_secrets(body, response_model)


def replay_response(stored: idempotency.StoredResponse, response_model: Any = None) -> Response:
    """The stored answer, sent again. Redacted again too: a response stored before secrets
    were redacted at storage must not hand one out either."""
    headers = {k: v for k, v in stored.headers.items() if k != "content-type"}
    headers[idempotency.REPLAYED_HEADER] = "true"
    return Response(
        _without_secrets(stored.body, stored.status, response_model),
        status_code=stored.status,
        media_type=stored.headers.get("content-type", "application/json"),
        headers=headers,
    )


def query_parameter_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter a route declares, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_parameter_names(sub)
    return frozenset(names)


def uses_dependency(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or uses_dependency(sub, call) for sub in dependant.dependencies)


_CLAIM_PARAMETER = "_mboa_idempotency_claim"


def claiming_idempotency_key(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` with `claim_idempotency_key` as its last dependency.

    FastAPI solves an endpoint's dependencies in the order of its parameters, and rebuilds them
    from the endpoint whenever a router is included: a trailing parameter is the one place that
    runs after the authenticator, whatever the endpoint declares and however it is mounted."""
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"POST endpoint {endpoint.__qualname__} must be `async def`")
    signature = inspect.signature(endpoint, eval_str=True)
    claim = inspect.Parameter(
        _CLAIM_PARAMETER,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[None, Depends(claim_idempotency_key)],
    )

    @functools.wraps(endpoint)
    async def claimed(**values: Any) -> Any:
        del values[_CLAIM_PARAMETER]
        return await endpoint(**values)

    claimed.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), claim]
    )
    return claimed


class ApiRoute(APIRoute):
    """Tenant routes: the session is the API role's (row-level security applies)."""

    claims_idempotency_header: ClassVar[bool] = True
    """Whether a POST claims its `Idempotency-Key` header. The dashboard's forms claim the key
    their page rendered instead (`mboa.dashboard.submits`), on the same claim, store and replay
    below."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {method.upper() for method in kwargs.get("methods") or ()}
        if "POST" in methods and self.claims_idempotency_header:
            endpoint = claiming_idempotency_key(endpoint)
        super().__init__(path, endpoint, **kwargs)

    # As Stripe does, a query parameter the route does not know is a 400: a misspelt or
    # unsupported filter (`created[after]`, `tpye`) would otherwise return an unfiltered list.
    rejects_unknown_query_parameters = True

    def sessions(self, request: Request) -> async_sessionmaker[AsyncSession]:
        return get_state(request).db.app_sessions

    def error_response(self, request: Request, exc: MboaError) -> Response:
        """How an `MboaError` reaches the client, once the transaction is rolled back: the
        error object (the payment pages answer with HTML instead)."""
        return error_response(exc, request_id_of(request))

    def store(
        self, request: Request, response: Response, secrets: Any
    ) -> idempotency.StoredResponse:
        """What the key keeps of a response (`_stored`; the dashboard keeps its redirect)."""
        return _stored(response, secrets)

    def replay(
        self, request: Request, stored: idempotency.StoredResponse, secrets: Any
    ) -> Response:
        """The answer to a request whose key already answered (the dashboard: its redirect)."""
        return replay_response(stored, secrets)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        known = query_parameter_names(self.dependant)
        strict = self.rejects_unknown_query_parameters
        # The response model, when its responses can carry a secret (`_stored` redacts them).
        secrets = self.response_model if carries_secrets(self.response_model) else None
        lean = uses_dependency(self.dependant, get_writes)

        async def handler(request: Request) -> Response:
            if strict:
                unknown = next((name for name in request.query_params if name not in known), None)
                if unknown is not None:
                    return error_response(UnknownParameter(unknown), request_id_of(request))
            request.state.session = None
            request.state.sessions = self.sessions(request)
            request.state.reads = None
            request.state.writes = None
            request.state.idempotency_claim = None
            request.state.claim_at_commit = lean
            request.state.idempotency_pending = None
            try:
                return await (lean_transaction(request) if lean else in_transaction(request))
            finally:
                try:
                    reads = request.state.reads
                    if reads is not None:
                        await get_state(request).db.close_tenant_reads(reads)
                    writes = request.state.writes
                    if writes is not None:
                        await get_state(request).db.end_tenant_writes(writes)
                finally:
                    session = request.state.session
                    if session is not None:
                        await session.close()

        async def in_transaction(request: Request) -> Response:
            state = get_state(request)
            claim_sessions = state.db.app_sessions
            try:
                response = await _refusing_text_postgres_cannot_store(original, request)
            except idempotency.IdempotentReplay as replay:
                await _rollback(request)
                return self.replay(request, replay.response, secrets)
            except MboaError as exc:
                session = request.state.session
                invalidations = take_invalidations(session) if session is not None else []
                if exc.commit_writes and session is not None:
                    await session.commit()
                    await state.key_cache.invalidate(invalidations)
                else:
                    await _rollback(request)
                response = self.error_response(request, exc)
                if isinstance(exc, BadRequest):
                    # A parameter was invalid: like Stripe, store nothing, so the client
                    # can fix the request and retry with the same key.
                    await _release(request, claim_sessions)
                elif (claim := request.state.idempotency_claim) is not None:
                    await idempotency.complete_alone(
                        claim_sessions, claim, self.store(request, response, secrets)
                    )
                return response
            except BaseException:
                await _rollback(request)
                await _release(request, claim_sessions)
                raise
            claim = request.state.idempotency_claim
            if claim is None and request.state.session is None:
                return response
            session = await get_session(request)
            try:
                if claim is not None:
                    await idempotency.complete(
                        session, claim, self.store(request, response, secrets)
                    )
                await session.commit()
            except BaseException:
                await session.rollback()
                await _release(request, claim_sessions)
                raise
            invalidations = take_invalidations(session)
            if invalidations:
                await state.key_cache.invalidate(invalidations)
            return response

        async def lean_transaction(request: Request) -> Response:
            """The lean write path: the endpoint's writes, the key claimed with the response,
            one commit."""
            try:
                response = await _refusing_text_postgres_cannot_store(original, request)
            except (MboaError, RequestValidationError) as exc:
                return await lean_error(request, exc)
            pending: idempotency.PendingKey | None = request.state.idempotency_pending
            writes: asyncpg.Connection | None = request.state.writes
            if pending is None and writes is None:
                return response
            writes = await get_writes(request)
            if pending is not None:
                try:
                    await idempotency.claim_at_commit(
                        writes, pending, _stored(response, secrets), stale_after=_stale(request)
                    )
                except idempotency.IdempotentReplay as replay:
                    # A duplicate committed first: its answer, not this request's writes.
                    return replay_response(replay.response, secrets)
                except MboaError as exc:
                    return error_response(exc, request_id_of(request))
            await get_state(request).db.commit_tenant_writes(writes)
            return response

        async def lean_error(request: Request, exc: MboaError | RequestValidationError) -> Response:
            """As on the session path: the key's stored answer first (keys used to be claimed
            before the work), then invalid parameters store nothing, and any other error is
            stored for the key, the endpoint's writes rolled back (unless `commit_writes`)."""
            state = get_state(request)
            pending: idempotency.PendingKey | None = request.state.idempotency_pending
            writes: asyncpg.Connection | None = request.state.writes
            keeps_writes = isinstance(exc, MboaError) and exc.commit_writes
            if pending is None:
                if writes is not None and keeps_writes:
                    await get_state(request).db.commit_tenant_writes(writes)
                if isinstance(exc, RequestValidationError):
                    raise exc
                return error_response(exc, request_id_of(request))
            if writes is not None and not keeps_writes:
                await state.db.restart_tenant_writes(writes, request.state.auth.tenant)
            writes = await get_writes(request)
            try:
                if isinstance(exc, (BadRequest, RequestValidationError)):
                    await idempotency.check(writes, pending, stale_after=_stale(request))
                    if isinstance(exc, RequestValidationError):
                        raise exc
                    return error_response(exc, request_id_of(request))
                response = error_response(exc, request_id_of(request))
                await idempotency.claim_at_commit(
                    writes, pending, _stored(response, secrets), stale_after=_stale(request)
                )
                await get_state(request).db.commit_tenant_writes(writes)
                return response
            except idempotency.IdempotentReplay as replay:
                return replay_response(replay.response, secrets)
            except MboaError as key_error:
                return error_response(key_error, request_id_of(request))

        return handler


def _stale(request: Request) -> dt.timedelta:
    return dt.timedelta(seconds=get_state(request).settings.idempotency.stale_lock_seconds)


class PlatformRoute(ApiRoute):
    """Staff routes that act across merchants: the session is the platform role's."""

    def sessions(self, request: Request) -> async_sessionmaker[AsyncSession]:
        return get_state(request).db.platform_sessions


class LedgerWriteRoute(PlatformRoute):
    """A merchant's API-key route whose transaction writes the ledger (a payout's or a refund's
    reservation): only the platform role may call the ledger's write functions, so the session
    is the platform role's, without row-level security. The service therefore states the
    caller's merchant and mode on every row it reads or writes (tenant-isolation tests cover
    each such route)."""


class OperatorCallbackRoute(PlatformRoute):
    """Where operators call us back: whatever they add to the URL is theirs, not a mistake of a
    developer's; the stored body and the status read decide (docs/providers-wire.md §1.9, §2.1)."""

    rejects_unknown_query_parameters = False


async def _release(request: Request, sessions: async_sessionmaker[AsyncSession]) -> None:
    claim = request.state.idempotency_claim
    if claim is None:
        return
    try:
        await idempotency.release(sessions, claim)
    except Exception:
        log.exception("idempotency_release_failed")


# PostgreSQL text cannot hold U+0000 (`\u0000` is valid JSON, `%00` a valid URL escape): the
# driver's error is the client's bad input, not ours.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})  # character_not_in_repertoire, untranslatable


async def _refusing_text_postgres_cannot_store(
    endpoint: Callable[[Request], Coroutine[Any, Any, Response]], request: Request
) -> Response:
    try:
        return await endpoint(request)
    except (DBAPIError, asyncpg.PostgresError) as exc:
        if sqlstate(exc) not in _UNSTORABLE_TEXT:
            raise
        raise BadRequest(
            "A parameter contains a character that text cannot hold: the NUL character"
            " (\\u0000) is not allowed.",
            code="parameter_invalid_string",
        ) from exc


async def _rollback(request: Request) -> None:
    session: AsyncSession | None = request.state.session
    if session is not None:
        await session.rollback()


async def get_session(request: Request) -> AsyncSession:
    """The request's session, opened on first use (a GET served by the read path never opens it).

    Async on purpose: FastAPI runs plain `def` dependencies in a thread pool."""
    session: AsyncSession | None = request.state.session
    if session is None:
        session = request.state.sessions()
        tenant = getattr(request.state, "session_tenant", None)
        if tenant is not None:
            session.info["tenant"] = tenant
        request.state.session = session
    return session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_reads(request: Request) -> asyncpg.Connection:
    """The request's read-only transaction, scoped to the authenticated merchant and mode.

    Declare it after the authentication dependency: it needs the caller's tenant."""
    reads: asyncpg.Connection | None = request.state.reads
    if reads is None:
        reads = await get_state(request).db.open_tenant_reads(request.state.auth.tenant)
        request.state.reads = reads
    return reads


ReadsDep = Annotated[asyncpg.Connection, Depends(get_reads)]


async def get_writes(request: Request) -> asyncpg.Connection:
    """The request's read-write transaction on the lean write path, scoped to the authenticated
    merchant and mode (declare it after the authentication dependency). The route commits it,
    with the request's Idempotency-Key, or rolls it back."""
    writes: asyncpg.Connection | None = request.state.writes
    if writes is None:
        writes = await get_state(request).db.open_tenant_writes(request.state.auth.tenant)
        request.state.writes = writes
    return writes


WritesDep = Annotated[asyncpg.Connection, Depends(get_writes)]
