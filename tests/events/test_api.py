"""The Events API through the real API (no worker): the event object, the list's filters and
pagination, bad filters, permissions and tenant isolation."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from mboa.events.schemas import API_VERSION
from tests.events.helpers import MTN_OK, cancel_intent, create_intent, list_events
from tests.helpers import Api, assert_error, bearer


async def test_an_event_carries_its_object_sequence_and_request(api: Api) -> None:
    account = await api.signup()
    created = await create_intent(
        api.http, account.secret_key, idempotency_key="order-42", reference="order-42"
    )
    intent = created.json()
    canceled = await cancel_intent(api.http, account.secret_key, intent["id"])

    page = await list_events(api.http, account.secret_key)
    assert [e["type"] for e in page["data"]] == [
        "payment_intent.canceled",
        "payment_intent.created",
    ]
    assert page["object"] == "list"
    assert page["url"] == "/v1/events"
    assert page["has_more"] is False
    cancel_event, create_event = page["data"]

    assert create_event["id"].startswith("evt_")
    assert create_event["object"] == "event"
    assert create_event["api_version"] == API_VERSION
    assert create_event["livemode"] is False
    assert abs(create_event["created"] - intent["created"]) <= 1
    assert create_event["sequence"] == 1
    assert create_event["data"] == {"object": intent, "previous_attributes": None}
    assert create_event["request"] == {
        "id": created.headers["x-request-id"],
        "idempotency_key": "order-42",
    }

    assert cancel_event["sequence"] == 2
    assert cancel_event["data"]["object"] == canceled
    assert cancel_event["data"]["previous_attributes"] == {"status": "requires_payment_method"}
    assert cancel_event["request"]["idempotency_key"] is None
    assert cancel_event["request"]["id"].startswith("req_")

    # The read path renders the same object as the list.
    response = await api.http.get(
        f"/v1/events/{cancel_event['id']}", headers=bearer(account.secret_key)
    )
    assert response.status_code == 200, response.text
    assert response.json() == cancel_event


async def test_one_flush_numbers_its_events_in_order(api: Api) -> None:
    """Create with a phone writes `.created` and `.processing` in one statement: 1 then 2."""
    account = await api.signup()
    intent = (await create_intent(api.http, account.secret_key, phone=MTN_OK)).json()
    page = await list_events(api.http, account.secret_key, object_id=intent["id"])
    assert [(e["type"], e["sequence"]) for e in page["data"]] == [
        ("payment_intent.processing", 2),
        ("payment_intent.created", 1),
    ]


async def test_type_filters_and_wildcards(api: Api) -> None:
    account = await api.signup()
    key = account.secret_key
    first = (await create_intent(api.http, key)).json()
    await cancel_intent(api.http, key, first["id"])
    second = (await create_intent(api.http, key)).json()

    def types(page: dict[str, object]) -> list[tuple[str, str]]:
        return [(e["type"], e["data"]["object"]["id"]) for e in page["data"]]  # type: ignore[attr-defined, index]

    assert types(await list_events(api.http, key, type="payment_intent.created")) == [
        ("payment_intent.created", second["id"]),
        ("payment_intent.created", first["id"]),
    ]
    everything = await list_events(api.http, key, type="payment_intent.*")
    assert len(everything["data"]) == 3
    assert (await list_events(api.http, key, type="*"))["data"] == everything["data"]
    assert (await list_events(api.http, key, type="*.canceled"))["data"] == [everything["data"][1]]
    # `_` is a letter of a type, not LIKE's one-character wildcard.
    assert (await list_events(api.http, key, type="payment_intent.c_nceled"))["data"] == []
    assert (await list_events(api.http, key, type="refund.*"))["data"] == []
    assert types(
        await list_events(api.http, key, **{"types[]": ["payment_intent.canceled", "refund.*"]})
    ) == [("payment_intent.canceled", first["id"])]
    assert types(await list_events(api.http, key, object_id=second["id"])) == [
        ("payment_intent.created", second["id"])
    ]


async def test_created_range_and_cursor_pagination(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    key = account.secret_key
    for _ in range(5):
        await create_intent(api.http, key)
    everything = (await list_events(api.http, key, limit=100))["data"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True), "newest first"

    first_page = await list_events(api.http, key, limit=2)
    assert [e["id"] for e in first_page["data"]] == ids[:2]
    assert first_page["has_more"] is True
    second_page = await list_events(api.http, key, limit=2, starting_after=ids[1])
    assert [e["id"] for e in second_page["data"]] == ids[2:4]
    last_page = await list_events(api.http, key, limit=2, starting_after=ids[3])
    assert [e["id"] for e in last_page["data"]] == ids[4:]
    assert last_page["has_more"] is False
    before = await list_events(api.http, key, limit=2, ending_before=ids[4])
    assert [e["id"] for e in before["data"]] == ids[2:4]

    # Backdate the oldest event by a day: the created range finds it alone.
    await owner_connection.execute(
        "UPDATE events SET created_at = created_at - interval '1 day' WHERE id = $1", ids[4]
    )
    old = everything[4]["created"] - 86_400
    assert [
        e["id"] for e in (await list_events(api.http, key, **{"created[lte]": old}))["data"]
    ] == [ids[4]]
    recent = await list_events(api.http, key, limit=100, **{"created[gt]": old})
    assert [e["id"] for e in recent["data"]] == ids[:4]
    assert (await list_events(api.http, key, created=old))["data"][0]["id"] == ids[4]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"type": "Payment_Intent.created"}, "type"),
        ({"type": "payment intent"}, "type"),
        ({"type": "payment_intent.%"}, "type"),
        ({"types[]": ["payment_intent.created", "refund.*!"]}, "types"),
        ({"types[]": ["false"]}, "types"),  # found by schemathesis: no type has no dot
        ({"type": "payment_intent"}, "type"),
        ({"types[]": [f"t{i}.x" for i in range(21)]}, "types"),
        ({"type": "payment_intent.created", "types[]": ["refund.*"]}, "types"),
        ({"created[gte]": "yesterday"}, "created[gte]"),
        ({"limit": 0}, "limit"),
        ({"object_id": "x" * 41}, "object_id"),
        ({"starting_after": "evt_01JD0000000000000000000000"}, "starting_after"),
        ({"delivery_success": "maybe"}, "delivery_success"),
        ({"typ": "payment_intent.created"}, "typ"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(
    api: Api, params: dict[str, object], param: str
) -> None:
    account = await api.signup()
    response = await api.http.get("/v1/events", params=params, headers=bearer(account.secret_key))
    assert_error(response, 400, param=param)


async def test_tenant_isolation_and_modes(api: Api) -> None:
    mine, theirs = await api.signup(), await api.signup()
    await create_intent(api.http, mine.secret_key)
    their_intent = (await create_intent(api.http, theirs.secret_key)).json()
    their_event = (await list_events(api.http, theirs.secret_key))["data"][0]
    assert their_event["data"]["object"]["id"] == their_intent["id"]

    response = await api.http.get(
        f"/v1/events/{their_event['id']}", headers=bearer(mine.secret_key)
    )
    assert_error(response, 404, code="resource_missing", param="id")
    page = await list_events(api.http, mine.secret_key, limit=100)
    assert their_event["id"] not in {e["id"] for e in page["data"]}
    assert len(page["data"]) == 1
    assert (await list_events(api.http, mine.secret_key, object_id=their_intent["id"]))[
        "data"
    ] == []
    # Another merchant's event is no cursor either.
    response = await api.http.get(
        "/v1/events",
        params={"starting_after": their_event["id"]},
        headers=bearer(mine.secret_key),
    )
    assert_error(response, 400, param="starting_after")

    # Live mode sees none of the test-mode events (only its own: the submission's and the
    # approval's account.updated, written in each mode, docs/going-live.md).
    account, live_key = await api.live_account()
    await create_intent(api.http, account.secret_key)
    live = (await list_events(api.http, live_key))["data"]
    assert [(e["type"], e["livemode"]) for e in live] == [("account.updated", True)] * 2
    test_event = (await list_events(api.http, account.secret_key))["data"][0]
    response = await api.http.get(f"/v1/events/{test_event['id']}", headers=bearer(live_key))
    assert_error(response, 404)


async def test_unknown_event_is_404(api: Api) -> None:
    account = await api.signup()
    response = await api.http.get(
        "/v1/events/evt_01JD0000000000000000000000", headers=bearer(account.secret_key)
    )
    assert_error(response, 404, code="resource_missing", param="id")


async def test_permissions(api: Api) -> None:
    account = await api.signup()
    await create_intent(api.http, account.secret_key)
    reader = await api.create_key(account, type="restricted", scopes=["events:read"])
    other = await api.create_key(account, type="restricted", scopes=["payment_intents:read"])

    assert len((await list_events(api.http, reader["secret"]))["data"]) == 1
    for key in (other["secret"], account.publishable_key):
        for path in ("/v1/events", "/v1/events/evt_01JD0000000000000000000000"):
            response = await api.http.get(path, headers=bearer(key))
            assert_error(response, 403)
    response = await api.http.get("/v1/events")
    assert_error(response, 401)


async def test_concurrent_requests_number_an_objects_events_in_commit_order(api: Api) -> None:
    """Two cancels race on one intent: the row lock serialises them, one wins, and the events
    of the intent are numbered 1, 2 with no gap or duplicate."""
    account = await api.signup()
    key = account.secret_key
    intent = (await create_intent(api.http, key)).json()
    results = await asyncio.gather(
        *(
            api.http.post(f"/v1/payment_intents/{intent['id']}/cancel", headers=bearer(key))
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    page = await list_events(api.http, key, object_id=intent["id"])
    assert [(e["type"], e["sequence"]) for e in page["data"]] == [
        ("payment_intent.canceled", 2),
        ("payment_intent.created", 1),
    ]
