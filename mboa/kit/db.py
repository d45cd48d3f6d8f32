"""SQLAlchemy declarative base, the constraint naming convention, shared column mixins, and
reading PostgreSQL's error codes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, MetaData, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        dict[str, str]: JSONB,
        int: BigInteger,
    }


class CreatedMixin:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class MerchantOwnedMixin(CreatedMixin):
    """A row that belongs to one merchant in one mode. Row-level security keys on both columns."""

    merchant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False)


class MetadataMixin:
    metadata_: Mapped[dict[str, str]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default="{}"
    )


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of an asyncpg error, raw or wrapped by SQLAlchemy."""
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None
