"""The audit log's SQL: the append (one call of the definer function), the lists, the chain walk."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import AuditChainHead, AuditLog, User

_APPEND = text(
    "SELECT seq, created_at, hash FROM mboa_audit_append("
    ":id, :merchant_id, :livemode, :actor_type, :actor_id, :actor_label, :action,"
    " :target_type, :target_id, :before, :after, :ip, :user_agent, :request_id)"
).bindparams(
    bindparam("before", type_=JSONB),
    bindparam("after", type_=JSONB),
    bindparam("merchant_id", type_=String),
    bindparam("actor_id", type_=String),
    bindparam("actor_label", type_=String),
    bindparam("target_type", type_=String),
    bindparam("target_id", type_=String),
    bindparam("ip", type_=String),
    bindparam("user_agent", type_=String),
    bindparam("request_id", type_=String),
)


@dataclasses.dataclass(frozen=True, slots=True)
class AuditFilters:
    """What a list may be narrowed to (every field optional)."""

    action: str | None = None
    """An action name (`api_key.created`) or a prefix ending in `*` (`api_key.*`)."""
    actor: str | None = None
    """An actor's id (`usr_…`, `key_…`) or email."""
    target: str | None = None
    """A target object's id."""
    created: CreatedRange = dataclasses.field(default_factory=CreatedRange)
    merchant_id: str | None = None
    """Staff lists only (row-level security already narrows a merchant's)."""
    livemode: bool | None = None
    """Rows of this mode and rows of no mode (team and sign-in actions)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChainRow:
    seq: int
    id: str
    prev_hash: str
    hash: str
    computed: str
    """The hash as the database's `mboa_audit_hash` computes it now."""
    values: tuple[Any, ...]
    """The row's hashed columns in canonical order, `created_at` as integer microseconds and
    `before`/`after` as PostgreSQL's jsonb text (`service.canonical` serialises them)."""


class AuditLogRepository(RepositoryBase[AuditLog]):
    model = AuditLog

    async def append(self, **values: Any) -> tuple[int, dt.datetime, str]:
        """One row at the chain's end, in this session's transaction (the head stays locked
        until it ends)."""
        row = (await self.session.execute(_APPEND, values)).one()
        return int(row.seq), row.created_at, str(row.hash)

    def list_statement(self, filters: AuditFilters) -> Select[AuditLog]:
        statement = select(AuditLog)
        if filters.merchant_id is not None:
            statement = statement.where(AuditLog.merchant_id == filters.merchant_id)
        if filters.livemode is not None:
            statement = statement.where(
                or_(AuditLog.livemode.is_(None), AuditLog.livemode == filters.livemode)
            )
        if filters.action is not None:
            if filters.action.endswith("*"):
                prefix = filters.action[:-1].replace("\\", "\\\\").replace("%", "\\%")
                prefix = prefix.replace("_", "\\_")
                statement = statement.where(AuditLog.action.like(prefix + "%", escape="\\"))
            else:
                statement = statement.where(AuditLog.action == filters.action)
        if filters.actor is not None:
            if "@" in filters.actor:
                statement = statement.where(
                    func.lower(AuditLog.actor_label) == filters.actor.lower()
                )
            else:
                statement = statement.where(AuditLog.actor_id == filters.actor)
        if filters.target is not None:
            statement = statement.where(AuditLog.target_id == filters.target)
        bounds = filters.created.clauses(AuditLog.created_at)
        if bounds:
            statement = statement.where(and_(*bounds))
        return statement

    async def user_id_by_email(self, email: str) -> str | None:
        """The user a failed sign-in named, if there is one (platform session)."""
        found = await self.session.execute(
            select(User.id).where(User.email == email.lower()).limit(1)
        )
        return found.scalar_one_or_none()


class AuditChainRepository:
    """The chain walk of `mboa audit verify` (platform role: every row)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> AuditChainRepository:
        return cls(session)

    async def rows_after(self, seq: int, limit: int) -> Sequence[ChainRow]:
        """The next rows in chain order, each with the hash recomputed from its columns."""
        result = await self.session.execute(
            text(
                "SELECT seq, id, prev_hash, hash, mboa_audit_hash(seq, id, created_at,"
                " merchant_id, livemode, actor_type, actor_id, actor_label, action, target_type,"
                " target_id, before, after, ip, user_agent, request_id, prev_hash) AS computed,"
                " (extract(epoch FROM created_at) * 1000000)::bigint AS created_us,"
                " merchant_id, livemode, actor_type, actor_id, actor_label, action, target_type,"
                " target_id, before::text AS before_text, after::text AS after_text, ip,"
                " user_agent, request_id"
                " FROM audit_log WHERE seq > :seq ORDER BY seq LIMIT :limit"
            ),
            {"seq": seq, "limit": limit},
        )
        return [
            ChainRow(
                r.seq,
                r.id,
                r.prev_hash,
                r.hash,
                r.computed,
                (
                    r.seq,
                    r.id,
                    r.created_us,
                    r.merchant_id,
                    r.livemode,
                    r.actor_type,
                    r.actor_id,
                    r.actor_label,
                    r.action,
                    r.target_type,
                    r.target_id,
                    r.before_text,
                    r.after_text,
                    r.ip,
                    r.user_agent,
                    r.request_id,
                    r.prev_hash,
                ),
            )
            for r in result
        ]

    async def head(self) -> tuple[int, str]:
        row = (await self.session.execute(select(AuditChainHead.seq, AuditChainHead.hash))).one()
        return int(row.seq), str(row.hash)
