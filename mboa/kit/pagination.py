"""Cursor pagination (api-conventions.md §A10): `limit`, `starting_after`, `ending_before`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Query

from mboa.exceptions import BadRequest


@dataclasses.dataclass(frozen=True, slots=True)
class ListParams:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None


async def list_params(
    limit: Annotated[
        int,
        Query(ge=1, le=100, description="How many objects to return, 1 to 100 (default 10)."),
    ] = 10,
    starting_after: Annotated[
        str | None,
        Query(max_length=64, description="Cursor: return objects older than this id."),
    ] = None,
    ending_before: Annotated[
        str | None,
        Query(max_length=64, description="Cursor: return objects newer than this id."),
    ] = None,
) -> ListParams:
    if starting_after is not None and ending_before is not None:
        raise BadRequest(
            "starting_after and ending_before cannot be used together", param="ending_before"
        )
    return ListParams(limit, starting_after or None, ending_before or None)
