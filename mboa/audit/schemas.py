from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mboa.kit.schemas import Schema, UnixTimestamp
from mboa.models import AuditLog


class AuditActor(Schema):
    type: Literal["user", "api_key", "staff", "system"]
    id: str | None
    label: str | None = Field(description="The user's email, or the key's redacted form.")


class AuditTarget(Schema):
    type: str | None
    id: str | None


class AuditLogEntry(Schema):
    """One recorded action (docs/audit.md). `before`/`after` never hold a secret: credentials
    are `redacted` and phone numbers keep their last three digits."""

    id: str
    object: Literal["audit_log"] = "audit_log"
    created: UnixTimestamp
    account: str | None = Field(description="The merchant the action concerns (null: platform).")
    livemode: bool | None = Field(description="The mode acted in; null for account-wide actions.")
    action: str = Field(description="A stable dotted name, such as `api_key.created`.")
    actor: AuditActor
    target: AuditTarget
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    seq: int = Field(description="The row's position in the hash chain.")
    prev_hash: str
    hash: str = Field(description="SHA-256 of the row's canonical form and `prev_hash`.")

    @classmethod
    def of(cls, row: AuditLog) -> AuditLogEntry:
        return cls(
            id=row.id,
            created=row.created_at,
            account=row.merchant_id,
            livemode=row.livemode,
            action=row.action,
            actor=AuditActor(
                type=row.actor_type,  # type: ignore[arg-type]
                id=row.actor_id,
                label=row.actor_label,
            ),
            target=AuditTarget(type=row.target_type, id=row.target_id),
            before=row.before,
            after=row.after,
            ip=row.ip,
            user_agent=row.user_agent,
            request_id=row.request_id,
            seq=row.seq,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )
