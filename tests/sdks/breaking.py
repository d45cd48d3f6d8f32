"""What an SDK built on one OpenAPI document would trip over in a later one (docs/api-conventions.md
§D13), walked operation by operation (paths by methods) so that every schema a call sends or
receives is checked, whatever its name.

What breaks, and why:
- an operation gone;
- a parameter (query, path, header) gone, newly required, of another type, or accepting fewer
  values (an enum value gone): calls that worked are refused;
- a request body: a field gone, a field newly required (or the body itself), a field of another
  type, an enum value no longer accepted, null no longer accepted;
- a success answer: gone, no longer JSON, a field gone or of another type, a field that was
  always there now optional, a field that was never null now nullable.

What does not break (clients must tolerate it, and both SDKs do):
- new operations, new optional parameters and request fields, new response fields;
- enum values added anywhere: in a request they are only more choices; in an answer they are
  the "new values of an enum" §D13 allows (a new status, a new event type). The Python models
  accept an unknown value as a plain string (scripts/sdk_models.py), TypeScript types are
  erased at run time; integrations must have a branch for a value they do not know;
- enum values removed from an answer (the client simply never sees them again).
"""

from __future__ import annotations

import json
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch")
JSON = "application/json"
Schema = dict[str, Any]


class _Walk:
    def __init__(self, old_doc: dict[str, Any], new_doc: dict[str, Any]) -> None:
        self.old_doc = old_doc
        self.new_doc = new_doc
        self.found: list[str] = []
        # Schemas reached by a $ref on both sides, per direction: each pair is compared once
        # (recursive schemas end, and a shared schema's break is reported once).
        self.seen: set[tuple[str, str, bool]] = set()

    def _resolve(self, schema: Schema, doc: dict[str, Any]) -> Schema:
        while "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = doc["components"]["schemas"].get(name, {})
        return schema

    def _variants(self, schema: Schema, doc: dict[str, Any]) -> tuple[list[Schema], bool]:
        """The non-null alternatives of a schema, and whether null is one of them."""
        members = schema.get("anyOf") or schema.get("oneOf")
        if members is None:
            resolved = self._resolve(schema, doc)
            if "anyOf" in resolved or "oneOf" in resolved:  # a named union
                return self._variants(resolved, doc)
            is_null = resolved.get("type") == "null"
            return ([] if is_null else [schema]), is_null
        nullable = False
        out: list[Schema] = []
        for member in members:
            inner, member_nullable = self._variants(member, doc)
            out += inner
            nullable = nullable or member_nullable
        return out, nullable

    def _kind(self, schema: Schema, doc: dict[str, Any]) -> str:
        """What an alternative is, without its prose: its JSON type (objects by their $ref)."""
        if "$ref" in schema:
            resolved = self._resolve(schema, doc)
            if resolved.get("type", "object") == "object" or "properties" in resolved:
                return schema["$ref"]
            return self._kind(resolved, doc)
        kind: dict[str, Any] = {"type": schema.get("type")}
        if "items" in schema:
            kind["items"] = self._kind(schema["items"], doc)
        return json.dumps(kind, sort_keys=True)

    def compare(self, old: Schema, new: Schema, where: str, *, request: bool) -> None:
        """`old` against `new` at `where`; `request`: the client sends it (else receives it)."""
        old_variants, old_nullable = self._variants(old, self.old_doc)
        new_variants, new_nullable = self._variants(new, self.new_doc)
        if request and old_nullable and not new_nullable:
            self.found.append(f"{where} no longer accepts null")
        if not request and new_nullable and not old_nullable:
            self.found.append(f"{where} may now be null")
        if len(old_variants) == 1 and len(new_variants) == 1:
            old_ref, new_ref = old_variants[0].get("$ref"), new_variants[0].get("$ref")
            if old_ref is not None and new_ref is not None:
                if (old_ref, new_ref, request) in self.seen:
                    return
                self.seen.add((old_ref, new_ref, request))
            self._compare_one(
                self._resolve(old_variants[0], self.old_doc),
                self._resolve(new_variants[0], self.new_doc),
                where,
                request=request,
            )
            return
        old_kinds = {self._kind(v, self.old_doc): v for v in old_variants}
        new_kinds = {self._kind(v, self.new_doc): v for v in new_variants}
        # A request may send any old alternative; an answer may hold any new one.
        lost = set(old_kinds) - set(new_kinds) if request else set(new_kinds) - set(old_kinds)
        if lost:
            self.found.append(f"{where} changed type ({' | '.join(sorted(lost))})")
        for kind in set(old_kinds) & set(new_kinds):
            self.compare(old_kinds[kind], new_kinds[kind], where, request=request)

    def _compare_one(self, old: Schema, new: Schema, where: str, *, request: bool) -> None:
        old_type, new_type = old.get("type"), new.get("type")
        if "properties" in old and old_type is None:
            old_type = "object"
        if "properties" in new and new_type is None:
            new_type = "object"
        if old_type != new_type and not (
            # An integer is a number: a request field widened to number still takes integers.
            request and (old_type, new_type) == ("integer", "number")
        ):
            self.found.append(f"{where} changed type ({old_type} to {new_type})")
            return
        if request:
            old_values = old.get("enum", [old["const"]] if "const" in old else None)
            new_values = new.get("enum", [new["const"]] if "const" in new else None)
            if new_values is not None:
                if old_values is None:
                    self.found.append(f"{where} now accepts only {sorted(map(str, new_values))}")
                elif lost := [v for v in old_values if v not in new_values]:
                    self.found.append(f"{where} lost values {lost}")
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for prop, schema in old_props.items():
            if prop not in new_props:
                self.found.append(f"{where}.{prop} is gone")
                continue
            if not request and prop in old_required and prop not in new_required:
                self.found.append(f"{where}.{prop} may now be absent")
            self.compare(schema, new_props[prop], f"{where}.{prop}", request=request)
        if request:
            for prop in sorted(new_required - old_required):
                self.found.append(f"{where}.{prop} is newly required")
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            self.compare(old["items"], new["items"], f"{where}[]", request=request)
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.compare(old_extra, new_extra, f"{where}{{}}", request=request)

    def operation(self, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        old_params = {(p["in"], p["name"]): p for p in old.get("parameters", [])}
        new_params = {(p["in"], p["name"]): p for p in new.get("parameters", [])}
        for key, param in old_params.items():
            label = f"{name}: {key[0]} parameter {key[1]}"
            if key not in new_params:
                self.found.append(f"{label} is gone")
                continue
            if new_params[key].get("required") and not param.get("required"):
                self.found.append(f"{label} is newly required")
            self.compare(
                param.get("schema", {}), new_params[key].get("schema", {}), label, request=True
            )
        for key, param in new_params.items():
            if key not in old_params and param.get("required"):
                self.found.append(f"{name}: {key[0]} parameter {key[1]} is newly required")

        old_body = old.get("requestBody", {})
        new_body = new.get("requestBody", {})
        if new_body.get("required") and not old_body.get("required"):
            self.found.append(f"{name}: the request body is newly required")
        old_schema = old_body.get("content", {}).get(JSON, {}).get("schema")
        if old_schema is not None:
            new_schema = new_body.get("content", {}).get(JSON, {}).get("schema")
            if new_schema is None:
                self.found.append(f"{name}: the JSON request body is gone")
            else:
                self.compare(old_schema, new_schema, f"{name} request", request=True)

        for status, answer in old.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            new_answer = new.get("responses", {}).get(status)
            if new_answer is None:
                self.found.append(f"{name}: the {status} answer is gone")
                continue
            old_content, new_content = answer.get("content", {}), new_answer.get("content", {})
            for media in old_content:
                if media not in new_content:
                    self.found.append(f"{name}: the {status} answer is no longer {media}")
            old_schema = old_content.get(JSON, {}).get("schema")
            new_schema = new_content.get(JSON, {}).get("schema")
            if old_schema is not None and new_schema is not None:
                self.compare(old_schema, new_schema, f"{name} {status}", request=False)


def breaking_changes(committed: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """Every change from `committed` to `live` that breaks a client built on `committed`."""
    walk = _Walk(committed, live)
    for path, item in committed.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            name = f"{method.upper()} {path}"
            new_operation = live.get("paths", {}).get(path, {}).get(method)
            if new_operation is None:
                walk.found.append(f"{name} is gone")
                continue
            walk.operation(name, operation, new_operation)
    return walk.found
