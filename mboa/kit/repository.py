"""Repository base: the only place SQL lives. Built per call with `Repo.from_session(session)`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Self, TypeVar, cast

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from mboa.exceptions import BadRequest
from mboa.kit.db import Model
from mboa.kit.pagination import ListParams

M = TypeVar("M", bound=Model)


class RepositoryBase(Generic[M]):
    model: type[M]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)

    @property
    def id_column(self) -> ColumnElement[str]:
        return cast(ColumnElement[str], getattr(self.model, "id"))  # noqa: B009

    async def get(self, object_id: str) -> M | None:
        return await self.session.get(self.model, object_id)

    async def get_one_or_none(self, statement: Select[M]) -> M | None:
        result = await self.session.execute(statement)
        return result.scalar_one_or_none()

    async def add(self, obj: M, *, flush: bool = True) -> M:
        self.session.add(obj)
        if flush:
            await self.session.flush()
        return obj

    async def paginate(self, statement: Select[M], params: ListParams) -> tuple[Sequence[M], bool]:
        """Newest first by id (ids are time-sortable). Returns (page, has_more).

        A cursor must name an object the caller can see (row-level security scopes the look-up),
        otherwise it is a 400 on that parameter. It need not match the list's filters: as on
        Stripe, the page is the objects after (or before) it in the list's order.
        """
        id_column = self.id_column
        if params.starting_after is not None:
            await self._require_cursor(params.starting_after, "starting_after")
            statement = statement.where(id_column < params.starting_after).order_by(
                id_column.desc()
            )
        elif params.ending_before is not None:
            await self._require_cursor(params.ending_before, "ending_before")
            statement = statement.where(id_column > params.ending_before).order_by(id_column.asc())
        else:
            statement = statement.order_by(id_column.desc())
        result = await self.session.execute(statement.limit(params.limit + 1))
        rows: list[M] = list(result.scalars().all())
        has_more = len(rows) > params.limit
        rows = rows[: params.limit]
        if params.ending_before is not None:
            rows.reverse()
        return rows, has_more

    async def _require_cursor(self, cursor: str, param: str) -> None:
        found = await self.session.execute(
            select(self.id_column).where(self.id_column == cursor).limit(1)
        )
        if found.scalar_one_or_none() is None:
            raise BadRequest(f"No such object: '{cursor}'", param=param, code="resource_missing")

    def select(self) -> Select[M]:
        return select(self.model)
