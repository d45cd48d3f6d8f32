"""Lists that fetch their next page as they are iterated (cursor pagination,
docs/api-conventions.md §D8)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from .client import AsyncClient

T = TypeVar("T", bound=BaseModel)


class AsyncListIterator(Generic[T]):
    """Every object of a list, page after page (`limit` objects per request), newest first; with
    `ending_before`, pages towards newer objects instead. Nothing is fetched before iterating."""

    def __init__(
        self, client: AsyncClient, path: str, model: type[T], params: Mapping[str, Any]
    ) -> None:
        self._client = client
        self._path = path
        self._model = model
        self._params = {k: v for k, v in params.items() if v is not None}

    def __aiter__(self) -> AsyncIterator[T]:
        return self._objects()

    async def _objects(self) -> AsyncIterator[T]:
        params = dict(self._params)
        newer = "ending_before" in params
        while True:
            page = await self._client.request("GET", self._path, params=params)
            data: list[dict[str, Any]] = page["data"]
            for item in data:
                yield self._model.model_validate(item)
            if not page["has_more"] or not data:
                return
            if newer:
                params["ending_before"] = data[0]["id"]
            else:
                params["starting_after"] = data[-1]["id"]

    async def first_page(self) -> list[T]:
        """Only the first page (one request)."""
        page = await self._client.request("GET", self._path, params=self._params)
        return [self._model.model_validate(item) for item in page["data"]]
