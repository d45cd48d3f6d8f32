"""README's "A first API session" stays true to the API: every `curl` in it names an operation the
server's OpenAPI document has (path, method and query parameters), every JSON body it sends uses
only fields that operation's request schema declares, and every field its `python3 -c` snippets
read from an answer is one the operation's success response declares. The payment, refund and
payout requests themselves are replayed, with the same bodies, by
tests/payments/test_settled_payouts.py."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path
from typing import Any

import httpx

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## A first API session"
READS = re.compile(r"json\.load\(sys\.stdin\)\[\"(\w+)\"\]")
# Placeholders the session's shell variables stand for in a body.
SHELL_VALUES = {"$PI": "pi_readme"}


@dataclasses.dataclass(frozen=True)
class Call:
    line: str
    method: str
    path: str
    body: dict[str, Any] | None
    reads: tuple[str, ...]
    query: tuple[str, ...] = ()


def session_block() -> str:
    text = README.read_text()
    start = text.index("```sh", text.index(SECTION)) + len("```sh")
    return text[start : text.index("```", start)]


def commands(block: str) -> list[str]:
    """The shell commands that call the API: continuation lines joined, and lines joined while
    a quote is open (a body may span lines); comments dropped."""
    found: list[str] = []
    pending = ""
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        if not pending and line.lstrip().startswith("#"):
            continue
        pending = f"{pending} {line.strip()}" if pending else line.strip()
        try:
            shlex.split(pending.replace("$(", "( "))
        except ValueError:
            continue  # a quote is still open
        if "curl " in pending:
            found.append(pending)
        pending = ""
    assert not pending, pending
    return found


def parse(command: str) -> Call:
    curl = command[command.index("curl ") :]
    # The `| python3 -c '…'` after the curl reads fields of its answer.
    reads = tuple(READS.findall(curl))
    curl = curl.split(" | ", 1)[0].rstrip(")")
    words = shlex.split(curl)
    url = next(w for w in words if w.startswith("$API/"))
    method = "POST" if "-d" in words else "GET"
    if "-X" in words:
        method = words[words.index("-X") + 1]
    body = None
    if "-d" in words:
        raw = words[words.index("-d") + 1]
        for variable, value in SHELL_VALUES.items():
            raw = raw.replace(variable, value)
        body = json.loads(raw)
    path, _, query = url.removeprefix("$API").partition("?")
    names = tuple(pair.split("=", 1)[0] for pair in query.split("&") if pair)
    return Call(command, method.lower(), path, body, reads, names)


def operation(spec: dict[str, Any], call: Call) -> dict[str, Any]:
    """The OpenAPI operation a README path (with `$VARIABLE` or literal ids) stands for."""
    segments = call.path.strip("/").split("/")
    for template, item in spec["paths"].items():
        parts = template.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        variable = [p.startswith("{") and p.endswith("}") for p in parts]
        same = all(v or p == s for v, p, s in zip(variable, parts, segments, strict=True))
        if same and call.method in item:
            return dict(item[call.method])
    raise AssertionError(f"README calls {call.method.upper()} {call.path}, not in the API")


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def properties(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = resolve(spec, schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            names |= properties(spec, part)
    return names


def find_property(spec: dict[str, Any], schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    schema = resolve(spec, schema)
    if name in schema.get("properties", {}):
        return dict(schema["properties"][name])
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            found = find_property(spec, part, name)
            if found is not None:
                return found
    return None


def test_the_session_block_is_found_and_parsed() -> None:
    calls = [parse(c) for c in commands(session_block())]
    assert len(calls) >= 15
    paths = {(c.method, c.path) for c in calls}
    for expected in [
        ("post", "/v1/payment_intents"),
        ("get", "/v1/payment_intents/$PI"),
        ("post", "/v1/refunds"),
        ("post", "/v1/payouts"),
        ("get", "/v1/balance"),
    ]:
        assert expected in paths, paths


async def test_every_request_of_the_session_matches_the_api(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    for call in (parse(c) for c in commands(session_block())):
        op = operation(spec, call)
        accepted = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert set(call.query) <= accepted, (call.line, set(call.query) - accepted)
        if call.body is not None:
            content = op["requestBody"]["content"]["application/json"]["schema"]
            declared = properties(spec, content)
            assert set(call.body) <= declared, (call.line, set(call.body) - declared)
            for key, value in call.body.items():
                nested = find_property(spec, content, key)
                if isinstance(value, dict) and nested is not None and properties(spec, nested):
                    inner = properties(spec, nested)
                    assert set(value) <= inner, (call.line, key, set(value) - inner)
        if call.reads:
            ok = next(str(s) for s in op["responses"] if str(s).startswith("2"))
            schema = op["responses"][ok]["content"]["application/json"]["schema"]
            assert call.reads[0] in properties(spec, schema), (call.line, call.reads[0])
