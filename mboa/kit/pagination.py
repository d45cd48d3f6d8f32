"""Cursor pagination (docs/api-conventions.md §A10): `limit`, `starting_after`, `ending_before`; and
the `created` range filter every list takes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import Query
from sqlalchemy import ColumnElement
from sqlalchemy.orm import QueryableAttribute

from mboa.exceptions import BadRequest
from mboa.kit.time import MAX_UNIX_TIME, from_unix


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


@dataclasses.dataclass(frozen=True, slots=True)
class CreatedRange:
    """The `created` filter of a list, as a half-open interval [gte, lt) of instants.

    Stripe's forms (`created=<t>`, `created[gt|gte|lt|lte]=<t>`) name whole seconds while rows
    carry microseconds: `gt t` is "created in a later second" (≥ t + 1) and `lte t` "in that
    second or before" (< t + 1). Several bounds combine (the tightest wins)."""

    gte: dt.datetime | None = None
    lt: dt.datetime | None = None

    def clauses(self, column: QueryableAttribute[dt.datetime]) -> list[ColumnElement[bool]]:
        """The range as WHERE clauses on `column` (none when unbounded)."""
        bounds = []
        if self.gte is not None:
            bounds.append(column >= self.gte)
        if self.lt is not None:
            bounds.append(column < self.lt)
        return bounds


async def created_range(
    created: Annotated[
        int | None, Query(ge=0, le=MAX_UNIX_TIME, description="Created in this second.")
    ] = None,
    created_gt: Annotated[
        int | None,
        Query(alias="created[gt]", ge=0, le=MAX_UNIX_TIME - 1, description="Created after."),
    ] = None,
    created_gte: Annotated[
        int | None,
        Query(alias="created[gte]", ge=0, le=MAX_UNIX_TIME, description="Created at or after."),
    ] = None,
    created_lt: Annotated[
        int | None,
        Query(alias="created[lt]", ge=0, le=MAX_UNIX_TIME, description="Created before."),
    ] = None,
    created_lte: Annotated[
        int | None,
        Query(alias="created[lte]", ge=0, le=MAX_UNIX_TIME, description="Created at or before."),
    ] = None,
) -> CreatedRange:
    lower = [t for t in (created, created_gte) if t is not None]
    lower += [t + 1 for t in (created_gt,) if t is not None]
    upper = [t for t in (created_lt,) if t is not None]
    # The second after MAX_UNIX_TIME is not representable, and nothing is created in it.
    upper += [t + 1 for t in (created, created_lte) if t is not None and t < MAX_UNIX_TIME]
    return CreatedRange(
        from_unix(max(lower)) if lower else None, from_unix(min(upper)) if upper else None
    )
