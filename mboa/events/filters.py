"""The `type` / `types[]` filter of the Events API and the stream (docs/events.md)."""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated

from fastapi import Query

from mboa.events.repository import EventFilters, delivery_success_restriction
from mboa.exceptions import BadRequest
from mboa.kit.pagination import CreatedRange

MAX_TYPES = 20
_TYPE_PATTERN = re.compile(r"(?=[a-z0-9_.*]*[.*])[a-z0-9_.*]{1,80}")
"""Every event type has a dot (`<object>.<what happened>`), a pattern has a dot or a `*`: a word
such as `false` names no type and is refused, not answered with an empty list."""


@dataclasses.dataclass(frozen=True, slots=True)
class TypeFilter:
    patterns: tuple[str, ...] = ()
    """Type names, or patterns where `*` stands for any characters; empty: every type."""

    def filters(
        self,
        *,
        created: CreatedRange,
        object_id: str | None,
        delivery_success: bool | None = None,
    ) -> EventFilters:
        return EventFilters(
            types=self.patterns,
            created=created,
            object_id=object_id,
            restrict=(
                delivery_success_restriction(delivery_success)
                if delivery_success is not None
                else None
            ),
        )


def _checked(value: str, param: str) -> str:
    if not _TYPE_PATTERN.fullmatch(value):
        raise BadRequest(
            f"{param} takes an event type such as 'payment_intent.succeeded', or a pattern with"
            f" '*' such as 'payment_intent.*' (lowercase letters, digits, '_', '.', '*', with a"
            f" '.' or a '*');"
            f" got {value[:100]!r}",
            param=param,
        )
    return value


async def type_filter(
    type: Annotated[
        str | None,
        Query(
            max_length=80,
            description="An event type, or a pattern with `*` (`payment_intent.*`).",
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        Query(
            alias="types[]",
            description=f"Up to {MAX_TYPES} event types or patterns; an event of any matches.",
        ),
    ] = None,
) -> TypeFilter:
    if type is not None and types:
        raise BadRequest("Filter with type or with types[], not both.", param="types")
    if types is not None:
        if not types:
            return TypeFilter()
        if len(types) > MAX_TYPES:
            raise BadRequest(
                f"types[] takes at most {MAX_TYPES} types; got {len(types)}", param="types"
            )
        return TypeFilter(tuple(_checked(t, "types") for t in types))
    if type is not None:
        return TypeFilter((_checked(type, "type"),))
    return TypeFilter()
