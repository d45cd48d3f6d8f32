"""Secrets exist in the one response that creates them: never in a stored Idempotency-Key
response, never replayed (docs/architecture.md, "Secrets"; issue 12 finding 1)."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import asyncpg
import httpx
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from mboa.app import create_app
from mboa.kit.schemas import REDACTED, Secret, is_secret_field
from mboa.state import AppState
from tests.helpers import Account, Api, assert_error, bearer

# A field of one of these names holding text is a credential until a reviewer says otherwise
# (`NOT_SECRET`, with the reason).
SECRET_LIKE = re.compile(r"secret|token|password|passphrase|credential|private|api_?key|\bpin\b")
NOT_SECRET: dict[str, str] = {}


async def _stored_rows(owner: asyncpg.Connection) -> list[str]:
    rows = await owner.fetch("SELECT * FROM idempotency_keys")
    return [str(dict(row)) + bytes(row["response_body"] or b"").decode() for row in rows]


async def _assert_nowhere_stored(owner: asyncpg.Connection, secret: str) -> None:
    rows = await _stored_rows(owner)
    assert rows, "the key was not stored at all"
    assert all(secret not in row for row in rows)
    assert all(secret[-12:] not in row for row in rows)


async def _post(
    api: Api, url: str, account: Account, key: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {**account.user_headers, "Idempotency-Key": key}
    return await api.http.post(url, json=body or {}, headers=headers)


def _assert_redacted_replay(replay: httpx.Response, first: httpx.Response) -> None:
    assert replay.status_code == 200, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == {**first.json(), "secret": REDACTED}


async def test_created_key_secret_is_neither_stored_nor_replayed(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    owner = await api.signup()
    admin = await api.add_member(owner, "admin")
    url = f"/v1/merchants/{owner.merchant_id}/api_keys"
    first = await _post(api, url, owner, "create-backend-key", {"name": "backend"})
    assert first.status_code == 200, first.text
    secret = first.json()["secret"]
    assert secret.startswith("sk_test_")
    await _assert_nowhere_stored(owner_connection, secret)

    # The owner's retry, and another admin of the team with the same key and path.
    _assert_redacted_replay(
        await _post(api, url, owner, "create-backend-key", {"name": "backend"}), first
    )
    _assert_redacted_replay(
        await _post(api, url, admin, "create-backend-key", {"name": "backend"}), first
    )
    # One key was created, and it works.
    keys = await owner_connection.fetchval(
        "SELECT count(*) FROM api_keys WHERE merchant_id = $1 AND name = 'backend'",
        owner.merchant_id,
    )
    assert keys == 1
    assert (await api.http.get("/v1/account", headers=bearer(secret))).status_code == 200

    revoked = await api.http.post(f"{url}/{first.json()['id']}/revoke", headers=owner.user_headers)
    assert revoked.status_code == 200
    _assert_redacted_replay(
        await _post(api, url, admin, "create-backend-key", {"name": "backend"}), first
    )


async def test_rolled_key_secret_is_neither_stored_nor_replayed(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    owner = await api.signup()
    admin = await api.add_member(owner, "admin")
    key_id = (await api.create_key(owner))["id"]
    url = f"/v1/merchants/{owner.merchant_id}/api_keys/{key_id}/roll"
    first = await _post(api, url, owner, "roll-1", {"expires_in": 60})
    assert first.status_code == 200, first.text
    secret = first.json()["secret"]
    await _assert_nowhere_stored(owner_connection, secret)
    _assert_redacted_replay(await _post(api, url, admin, "roll-1", {"expires_in": 60}), first)
    assert (await api.http.get("/v1/account", headers=bearer(secret))).status_code == 200


async def test_a_response_stored_before_redaction_is_redacted_when_replayed(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    """Rows written before this rule (kept 24 h) must not hand a secret out either."""
    owner = await api.signup()
    url = f"/v1/merchants/{owner.merchant_id}/api_keys"
    first = await _post(api, url, owner, "old-row")
    await owner_connection.execute(
        "UPDATE idempotency_keys SET response_body = $1 WHERE key = 'old-row'", first.content
    )
    _assert_redacted_replay(await _post(api, url, owner, "old-row"), first)


async def test_errors_are_stored_and_replayed_unchanged(api: Api) -> None:
    owner = await api.signup()
    url = f"/v1/merchants/{owner.merchant_id}/api_keys/key_01M8DH00000000000000000000/roll"
    first = await _post(api, url, owner, "roll-missing")
    assert_error(first, 404)
    replay = await _post(api, url, owner, "roll-missing")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()


# -- every response model declares its secrets -----------------------------------------------------


def _models(annotation: Any, seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            seen.add(annotation)
            yield annotation
            for field in annotation.model_fields.values():
                yield from _models(field.annotation, seen)
        return
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        args = args[:1]
    elif get_origin(annotation) is Literal:
        args = ()
    for arg in args:
        yield from _models(arg, seen)


def _holds_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _holds_text(args[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_holds_text(arg) for arg in args)
    return False


def unmarked_secret_fields(annotations: list[Any]) -> tuple[set[str], set[str]]:
    """(marked, unmarked): `Model.field` names of secret-looking text fields."""
    marked: set[str] = set()
    unmarked: set[str] = set()
    seen: set[type[BaseModel]] = set()
    for annotation in annotations:
        for model in _models(annotation, seen):
            for name, field in model.model_fields.items():
                qualified = f"{model.__name__}.{name}"
                if is_secret_field(field):
                    marked.add(qualified)
                elif (
                    SECRET_LIKE.search(name.lower())
                    and _holds_text(field.annotation)
                    and qualified not in NOT_SECRET
                ):
                    unmarked.add(qualified)
    return marked, unmarked


def test_every_response_field_that_looks_secret_is_marked(app_state: AppState) -> None:
    app = create_app(app_state)
    response_models = [
        route.original_route.response_model
        for route in iter_route_contexts(app.router.routes)
        if isinstance(route.original_route, APIRoute)
        and route.original_route.response_model is not None
    ]
    assert len(response_models) > 20
    marked, unmarked = unmarked_secret_fields(response_models)
    assert not unmarked, (
        f"mark these `Secret` (mboa.kit.schemas) or list them in NOT_SECRET: {unmarked}"
    )
    assert {"ApiKey.secret", "Tokens.access_token", "Tokens.refresh_token"} <= marked


def test_the_check_finds_an_unmarked_secret() -> None:
    class WebhookEndpoint(BaseModel):
        id: str
        signing_secret: str | None = None
        token_type: Literal["bearer"] = "bearer"

    class Marked(BaseModel):
        signing_secret: Secret | None = None

    class Page(BaseModel):
        data: list[WebhookEndpoint]

    assert unmarked_secret_fields([Page]) == (set(), {"WebhookEndpoint.signing_secret"})
    assert unmarked_secret_fields([Marked]) == ({"Marked.signing_secret"}, set())
