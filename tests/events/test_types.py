"""One list of event types (mboa/events/types.py): what the code writes, what the writer and
`enabled_events` accept, and what docs/webhooks.md lists with an example payload are the same."""

from __future__ import annotations

import ast
import json
import re

import pytest

from mboa.events.schemas import EventObject
from mboa.events.service import event as event_service
from mboa.events.types import EVENT_TYPES, UnknownEventType
from mboa.kit.migration import PACKAGE_ROOT
from mboa.kit.time import utc_now

ROOT = PACKAGE_ROOT.parent
# The helpers each domain writes its events through, and the writer itself: the event type is
# their `type=` keyword or their first argument after the session.
WRITERS = {"_event", "_record", "record", "add"}
# Any literal that looks like one of the objects' events, wherever it is (a second net).
LITERAL = re.compile(
    r'"((?:{})\.[a-z_]+)"'.format(
        "|".join(sorted({re.escape(t.rsplit(".", 1)[0]) for t in EVENT_TYPES}))
    )
)


def _types_written(tree: ast.Module) -> set[str]:
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in WRITERS:
            continue
        candidates = [k.value for k in node.keywords if k.arg == "type"]
        if node.func.attr in {"_event", "_record"} and len(node.args) >= 2:
            candidates.append(node.args[1])
        for candidate in candidates:
            if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                found.add(candidate.value)
            elif isinstance(candidate, ast.Name) and candidate.id in constants:
                found.add(constants[candidate.id])
    return found


def test_every_type_the_code_writes_is_listed_and_every_listed_type_is_written() -> None:
    sources = {path: path.read_text(encoding="utf-8") for path in PACKAGE_ROOT.rglob("*.py")}
    written = set().union(*(_types_written(ast.parse(text)) for text in sources.values()))
    assert len(written) >= 10, f"the scan found too little: {written}"
    assert written == EVENT_TYPES
    literals = {
        match
        for path, text in sources.items()
        # Audit actions (mboa/audit/) are a namespace of their own, named like event types.
        if path.name != "types.py" and "audit" not in path.parts
        for match in LITERAL.findall(text)
        if not match.endswith(("_id", ".id", ".py", ".html", ".css", ".js", ".csv", ".pdf"))
    }
    assert literals - EVENT_TYPES == set()


async def test_the_writer_refuses_a_type_not_listed() -> None:
    with pytest.raises(UnknownEventType, match=r"payment_intent\.teleported"):
        event_service.add(
            None,  # type: ignore[arg-type]  # refused before the session is touched
            merchant_id="acct_x",
            livemode=False,
            type="payment_intent.teleported",
            snapshot={"id": "pi_x", "created": utc_now().isoformat()},
        )


def test_docs_list_every_type_with_an_example() -> None:
    """docs/webhooks.md §Event types: a row and an example payload for every type, and one full
    event that the API's event object validates; docs/events.md points there."""
    webhooks = (ROOT / "docs/webhooks.md").read_text(encoding="utf-8")
    section = webhooks.split("\n## Event types\n", 1)[1].split("\n## ", 1)[0]
    table = set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \|", section, flags=re.M))
    assert table == EVENT_TYPES
    examples = set(re.findall(r'"type": "([a-z_]+(?:\.[a-z_]+)+)"', section))
    assert examples >= EVENT_TYPES, EVENT_TYPES - examples
    full = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    assert EventObject.model_validate(full).model_dump(mode="json") == full
    assert full["data"]["object"]["object"] == full["type"].split(".")[0]
    events = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    pointer = events.split("## Event types written today", 1)[1].split("\n## ", 1)[0]
    # docs/events.md points to the table with a relative link (its section: Event types).
    assert re.search(r"\]\(webhooks\.md\) §Event types", " ".join(pointer.split()))
