"""Shapes of nested parameters (the API checks every rule; these only help editors)."""

from __future__ import annotations

from typing import Literal

from typing_extensions import NotRequired, TypedDict

Provider = Literal["mtn_momo", "orange_money"]


class PayoutDestination(TypedDict):
    phone: str
    provider: NotRequired[Provider]


class CustomAmount(TypedDict):
    minimum: int
    maximum: int


class AfterCompletion(TypedDict):
    type: Literal["redirect", "hosted_confirmation"]
    redirect: NotRequired[dict[str, str]]
    hosted_confirmation: NotRequired[dict[str, str]]


class CreatedRange(TypedDict, total=False):
    gt: int
    gte: int
    lt: int
    lte: int
