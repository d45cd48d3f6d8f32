"""The SDKs' contract: the committed sdks/openapi.json is the live API's (any drift fails: run
`make sdk-models`), the live API does not break it (tests/sdks/breaking.py, docs/api-conventions.md
§D13), and the generated models are those of the committed document."""

from __future__ import annotations

import copy
import difflib
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sdks.breaking import JSON, breaking_changes

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sdk_models.py"
_spec = importlib.util.spec_from_file_location("sdk_models", SCRIPT)
assert _spec is not None
assert _spec.loader is not None
sdk_models = importlib.util.module_from_spec(_spec)
sys.modules["sdk_models"] = sdk_models
_spec.loader.exec_module(sdk_models)


async def _served(base_url: str) -> dict[str, Any]:
    """The SDKs' part of the document the running API serves."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = sdk_models.sdk_document(response.json())
    return document


async def test_the_committed_document_is_the_live_one(base_url: str) -> None:
    live = await _served(base_url)
    committed = json.loads(sdk_models.DOCUMENT.read_text())
    if live != committed:
        drift = "".join(
            list(
                difflib.unified_diff(
                    sdk_models.dump(committed).splitlines(keepends=True),
                    sdk_models.dump(live).splitlines(keepends=True),
                    "sdks/openapi.json",
                    "live /openapi.json",
                )
            )[:80]
        )
        breaks = breaking_changes(committed, live)
        pytest.fail(
            "sdks/openapi.json is not the live API's document: run `make sdk-models` and commit "
            f"(breaking changes: {breaks or 'none'})\n{drift}"
        )
    # What `make sdk-models` writes is what the running API serves.
    assert sdk_models.sdk_document(sdk_models.live_document()) == live


async def test_the_live_document_does_not_break_the_committed_one(base_url: str) -> None:
    committed = json.loads(sdk_models.DOCUMENT.read_text())
    assert breaking_changes(committed, await _served(base_url)) == []


def test_the_generated_files_match_the_committed_document() -> None:
    generated = sdk_models.generate(sdk_models.DOCUMENT)
    assert sdk_models.NODE_TYPES in generated, "sdks/node's devDependencies: make install"
    stale = [
        str(path.relative_to(sdk_models.ROOT))
        for path, content in generated.items()
        if not path.exists() or path.read_text() != content
    ]
    assert stale == [], "regenerate with `make sdk-models`"


# The checker itself, on small documents made by hand: each kind of break is seen, each kind of
# compatible change is not.


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {JSON: {"schema": schema}}}


def _document() -> dict[str, Any]:
    nullable_status = {"anyOf": [_ref("ThingStatus"), {"type": "null"}]}
    return {
        "paths": {
            "/v1/things": {
                "get": {
                    "parameters": [
                        {"in": "query", "name": "status", "schema": nullable_status},
                        {"in": "query", "name": "limit", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": _json(_ref("ThingList")), "400": _json(_ref("Error"))},
                },
            },
            "/v1/things/{thing_id}/confirm": {
                "post": {
                    "parameters": [
                        {"in": "path", "name": "thing_id", "required": True, "schema": {}}
                    ],
                    # As FastAPI writes an optional body.
                    "requestBody": _json({"anyOf": [_ref("ThingConfirm"), {"type": "null"}]}),
                    "responses": {"200": _json(_ref("Thing"))},
                },
            },
        },
        "components": {
            "schemas": {
                "ThingStatus": {"type": "string", "enum": ["open", "done"]},
                "Thing": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "status": _ref("ThingStatus"),
                        "mode": {"type": "string", "enum": ["push", "redirect"]},
                        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "parent": {"anyOf": [_ref("Thing"), {"type": "null"}]},  # recursive
                    },
                    "required": ["id", "status", "mode", "note"],
                },
                "ThingList": {
                    "type": "object",
                    "properties": {"data": {"type": "array", "items": _ref("Thing")}},
                    "required": ["data"],
                },
                "ThingConfirm": {
                    "type": "object",
                    "properties": {
                        "phone": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "method": {"type": "string", "enum": ["push", "redirect"]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Error": {"type": "object", "properties": {"code": {"type": "string"}}},
            }
        },
    }


Change = Callable[[dict[str, Any]], None]
CONFIRM = "POST /v1/things/{thing_id}/confirm"


def _schemas(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def _list_op(document: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"]["/v1/things"]["get"]
    return operation


def _confirm_op(document: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"]["/v1/things/{thing_id}/confirm"]["post"]
    return operation


BREAKS: dict[str, tuple[Change, list[str]]] = {
    "operation removed": (
        lambda d: d["paths"]["/v1/things"].pop("get"),
        ["GET /v1/things is gone"],
    ),
    "inline request enum value removed": (
        lambda d: _schemas(d)["ThingConfirm"]["properties"]["method"].update(enum=["push"]),
        [f"{CONFIRM} request.method lost values ['redirect']"],
    ),
    "field newly required in a body not named *Create": (
        lambda d: _schemas(d)["ThingConfirm"].update(required=["phone"]),
        [f"{CONFIRM} request.phone is newly required"],
    ),
    "new required field in a request body": (
        lambda d: _schemas(d)["ThingConfirm"].update(
            properties={**_schemas(d)["ThingConfirm"]["properties"], "pin": {"type": "string"}},
            required=["pin"],
        ),
        [f"{CONFIRM} request.pin is newly required"],
    ),
    "request field removed": (
        lambda d: _schemas(d)["ThingConfirm"]["properties"].pop("phone"),
        [f"{CONFIRM} request.phone is gone"],
    ),
    "request field no longer nullable": (
        lambda d: _schemas(d)["ThingConfirm"]["properties"].update(phone={"type": "string"}),
        [f"{CONFIRM} request.phone no longer accepts null"],
    ),
    "request array items of another type": (
        lambda d: _schemas(d)["ThingConfirm"]["properties"]["tags"].update(
            items={"type": "integer"}
        ),
        [f"{CONFIRM} request.tags[] changed type (string to integer)"],
    ),
    "request body newly required": (
        lambda d: _confirm_op(d)["requestBody"].update(required=True),
        [f"{CONFIRM}: the request body is newly required"],
    ),
    "query parameter removed": (
        lambda d: _list_op(d)["parameters"].pop(1),
        ["GET /v1/things: query parameter limit is gone"],
    ),
    "query parameter newly required": (
        lambda d: _list_op(d)["parameters"][1].update(required=True),
        ["GET /v1/things: query parameter limit is newly required"],
    ),
    "new required query parameter": (
        lambda d: _list_op(d)["parameters"].append(
            {"in": "query", "name": "region", "required": True, "schema": {"type": "string"}}
        ),
        ["GET /v1/things: query parameter region is newly required"],
    ),
    "query parameter enum value removed (a shared enum: answers may drop it)": (
        lambda d: _schemas(d)["ThingStatus"].update(enum=["open"]),
        ["GET /v1/things: query parameter status lost values ['done']"],
    ),
    "query parameter of another type": (
        lambda d: _list_op(d)["parameters"][1].update(schema={"type": "string"}),
        ["GET /v1/things: query parameter limit changed type (integer to string)"],
    ),
    "200 answer replaced by another schema": (
        lambda d: _confirm_op(d)["responses"].update({"200": _json(_ref("Error"))}),
        [
            f"{CONFIRM} 200.id is gone",
            f"{CONFIRM} 200.status is gone",
            f"{CONFIRM} 200.mode is gone",
            f"{CONFIRM} 200.note is gone",
            f"{CONFIRM} 200.parent is gone",
        ],
    ),
    "200 answer gone": (
        lambda d: _list_op(d)["responses"].pop("200"),
        ["GET /v1/things: the 200 answer is gone"],
    ),
    "200 answer no longer JSON": (
        lambda d: _list_op(d)["responses"].update({"200": {"content": {"text/csv": {}}}}),
        ["GET /v1/things: the 200 answer is no longer application/json"],
    ),
    "response field removed (reached through a list's items)": (
        lambda d: _schemas(d)["Thing"]["properties"].pop("note"),
        ["GET /v1/things 200.data[].note is gone"],
    ),
    "response field of another type": (
        lambda d: _schemas(d)["Thing"]["properties"].update(id={"type": "integer"}),
        ["GET /v1/things 200.data[].id changed type (string to integer)"],
    ),
    "response field now nullable": (
        lambda d: _schemas(d)["Thing"]["properties"].update(
            id={"anyOf": [{"type": "string"}, {"type": "null"}]}
        ),
        ["GET /v1/things 200.data[].id may now be null"],
    ),
    "response field may hold another type": (
        lambda d: _schemas(d)["Thing"]["properties"].update(
            id={"anyOf": [{"type": "string"}, {"type": "integer"}]}
        ),
        ['GET /v1/things 200.data[].id changed type ({"type": "integer"})'],
    ),
    "response field no longer always there": (
        lambda d: _schemas(d)["Thing"].update(required=["id", "status", "note"]),
        ["GET /v1/things 200.data[].mode may now be absent"],
    ),
}


@pytest.mark.parametrize("change", list(BREAKS), ids=list(BREAKS))
def test_the_check_sees_each_kind_of_break(change: str) -> None:
    apply, expected = BREAKS[change]
    live = _document()
    apply(live)
    assert breaking_changes(_document(), live) == expected


COMPATIBLE: dict[str, Change] = {
    "new operation": lambda d: d["paths"].update({"/v1/other": {"get": {"responses": {}}}}),
    "new optional query parameter": lambda d: _list_op(d)["parameters"].append(
        {"in": "query", "name": "region", "schema": {"type": "string"}}
    ),
    "new optional request field": lambda d: _schemas(d)["ThingConfirm"]["properties"].update(
        pin={"type": "string"}
    ),
    "request enum value added": lambda d: _schemas(d)["ThingConfirm"]["properties"][
        "method"
    ].update(enum=["push", "redirect", "ussd"]),
    "request field made nullable": lambda d: _schemas(d)["ThingConfirm"]["properties"].update(
        tags={"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}
    ),
    "request field takes another type too": lambda d: _schemas(d)["ThingConfirm"][
        "properties"
    ].update(phone={"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}),
    "new response field": lambda d: _schemas(d)["Thing"]["properties"].update(
        created={"type": "integer"}
    ),
    # §D13: a new status is compatible; the SDKs pass an unknown value through.
    "response enum value added (a shared enum)": lambda d: _schemas(d)["ThingStatus"].update(
        enum=["open", "done", "archived"]
    ),
    "response enum value removed": lambda d: _schemas(d)["Thing"]["properties"]["mode"].update(
        enum=["push"]
    ),
    "response field always there now": lambda d: _schemas(d)["Thing"].update(
        required=["id", "status", "mode", "note", "parent"]
    ),
    "an error answer changed": lambda d: _schemas(d)["Error"]["properties"].pop("code"),
    "prose changed": lambda d: _schemas(d)["Thing"].update(description="A thing."),
}


@pytest.mark.parametrize("change", list(COMPATIBLE), ids=list(COMPATIBLE))
def test_the_check_lets_compatible_changes_through(change: str) -> None:
    live = _document()
    COMPATIBLE[change](live)
    assert live != _document()
    assert breaking_changes(_document(), live) == []


def test_the_check_sees_breaks_in_the_real_document() -> None:
    """On sdks/openapi.json itself: the request bodies the old name-based check missed."""
    committed = json.loads(sdk_models.DOCUMENT.read_text())
    live = copy.deepcopy(committed)
    schemas = live["components"]["schemas"]
    del live["paths"]["/v1/refunds"]["post"]
    schemas["PaymentIntentConfirm"]["required"] = ["phone"]
    schemas["WebhookEndpointUpdate"]["properties"]["enabled_events"]["anyOf"][0]["items"][
        "enum"
    ].remove("account.updated")
    del schemas["PaymentIntent"]["properties"]["net"]
    live["paths"]["/v1/events"]["get"]["parameters"] = [
        p for p in live["paths"]["/v1/events"]["get"]["parameters"] if p["name"] != "object_id"
    ]
    assert breaking_changes(committed, live) == [
        "GET /v1/events: query parameter object_id is gone",
        # A schema shared by several operations is reported at the first that reaches it.
        "GET /v1/payment_intents 200.data[].net is gone",
        "POST /v1/payment_intents/{intent_id}/confirm request.phone is newly required",
        "POST /v1/refunds is gone",
        "PATCH /v1/webhook_endpoints/{endpoint_id} request.enabled_events[] lost values "
        "['account.updated']",
    ]
