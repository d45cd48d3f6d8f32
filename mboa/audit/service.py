"""Recording and reading the audit log (docs/audit.md).

`audit.record(session, action=…, target=…, before=…, after=…)` appends one row in the
caller's transaction, so the row commits with the action or not at all. Who acted and from
where come from the request being served (`AuditContext.current()`: its authenticated subject,
client address, user agent and request id) unless the caller passes an `actor` (a task, the
CLI: `Actor.system(…)`). `before` and `after` go through `scrub` first: `Secret` fields of a
schema, credential-looking keys and full phone numbers never reach the table.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.exceptions import AuditLogNotFound
from mboa.audit.repository import AuditChainRepository, AuditFilters, AuditLogRepository
from mboa.auth.subject import AuthSubject
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import ListParams
from mboa.kit.request_context import current_request
from mboa.kit.schemas import REDACTED, redact_secrets
from mboa.logging import mask_text
from mboa.models import AuditLog
from mboa.models.audit import GENESIS_HASH
from mboa.postgres import Database
from mboa.providers.masking import PHONE_KEYS, mask_phone

MAX_USER_AGENT = 512


class ActorType(enum.StrEnum):
    user = "user"
    """A merchant's team member (or someone signing in)."""
    api_key = "api_key"
    staff = "staff"
    """Platform staff acting through the staff API or console."""
    system = "system"
    """The platform itself: a task, the CLI, sign-up."""


class Action(enum.StrEnum):
    """Every action name recorded, stable: lists filter on them and reports are built on them."""

    auth_login = "auth.login"
    auth_login_failed = "auth.login_failed"
    staff_granted = "staff.granted"
    staff_role_changed = "staff.role_changed"
    staff_revoked = "staff.revoked"
    api_key_created = "api_key.created"
    api_key_rolled = "api_key.rolled"
    api_key_revoked = "api_key.revoked"
    member_added = "member.added"
    member_role_changed = "member.role_changed"
    member_removed = "member.removed"
    merchant_updated = "merchant.updated"
    merchant_submitted = "merchant.submitted"
    merchant_approved = "merchant.approved"
    merchant_rejected = "merchant.rejected"
    merchant_suspended = "merchant.suspended"
    merchant_reactivated = "merchant.reactivated"
    fee_plan_set = "fee_plan.set"
    fee_plan_removed = "fee_plan.removed"
    webhook_endpoint_created = "webhook_endpoint.created"
    webhook_endpoint_updated = "webhook_endpoint.updated"
    webhook_endpoint_deleted = "webhook_endpoint.deleted"
    webhook_endpoint_secret_rolled = "webhook_endpoint.secret_rolled"
    refund_created = "refund.created"
    payout_requested = "payout.requested"
    payout_approved = "payout.approved"
    payout_rejected = "payout.rejected"
    auth_totp_enabled = "auth.totp_enabled"
    auth_totp_disabled = "auth.totp_disabled"
    auth_recovery_codes_regenerated = "auth.recovery_codes_regenerated"
    auth_recovery_code_used = "auth.recovery_code_used"
    auth_password_reset_requested = "auth.password_reset_requested"
    auth_password_reset = "auth.password_reset"
    member_invited = "member.invited"
    member_invitation_resent = "member.invitation_resent"
    member_invitation_revoked = "member.invitation_revoked"
    member_invitation_accepted = "member.invitation_accepted"
    merchant_payout_wallet_set = "merchant.payout_wallet_set"
    member_preferences_updated = "member.preferences_updated"
    merchant_logo_set = "merchant.logo_set"
    merchant_logo_removed = "merchant.logo_removed"
    kyc_document_uploaded = "kyc.document_uploaded"
    risk_note_added = "risk_note.added"


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str | None = None
    label: str | None = None
    """An email or a key's redacted form; looked up by the database from `id` when None."""

    @classmethod
    def of(cls, subject: AuthSubject | None) -> Actor:
        if subject is None:
            return cls(ActorType.system)
        if subject.key_id is not None:
            return cls(ActorType.api_key, subject.key_id)
        if subject.user_id is not None:
            staff = subject.is_platform_admin and subject.merchant_id is None
            return cls(ActorType.staff if staff else ActorType.user, subject.user_id)
        return cls(ActorType.system)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(ActorType.system, None, name)


@dataclasses.dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts, and the request they act through."""

    actor: Actor
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def current(cls, actor: Actor | None = None) -> AuditContext:
        """From the request being served (none in a task: the system acts)."""
        request = current_request()
        if request is None:
            return cls(actor or Actor(ActorType.system))
        state = request.state or {}
        agent = request.header(b"user-agent")
        return cls(
            actor or Actor.of(state.get("auth")),
            ip=state.get("client_address"),
            user_agent=agent[:MAX_USER_AGENT] if agent else None,
            request_id=request.id,
        )


Target = tuple[str, str | None]
"""(object type, id): `("api_key", "key_…")`."""

_SECRET_WORDS = ("secret", "password", "token", "hash", "authorization", "pin", "otp", "totp")


def _secret_name(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS) and lowered not in {"has_secret"}


def _scrub_value(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _scrub_item(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(key, item) for item in value]
    if isinstance(value, str):
        if key.lower() in PHONE_KEYS:
            return mask_phone(value)
        return mask_text(value)
    return value


def _scrub_item(key: str, value: Any) -> Any:
    if _secret_name(key) and value is not None:
        return REDACTED
    return _scrub_value(key, value)


def scrub(value: BaseModel | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What of `value` the audit log may keep: a schema's `Secret` fields as the API's
    redaction rules write them (`redacted`), then any key that names a credential (secret,
    password, token, hash, pin, otp) redacted, phone numbers cut to their last three digits and
    keys or tokens inside text masked as the logs mask them."""
    if value is None:
        return None
    if isinstance(value, BaseModel):
        body = redact_secrets(value.model_dump_json().encode(), type(value))
        value = orjson.loads(body)
    assert isinstance(value, Mapping)
    scrubbed: dict[str, Any] = _scrub_value("", value)
    return scrubbed


_JSONB_COLUMNS = (11, 12)
"""`before` and `after` in a chain row's values: already PostgreSQL's jsonb text."""


def canonical(values: Sequence[Any]) -> str:
    """The text a row's hash covers, computed here as `mboa_audit_canonical` computes it in
    the database (`jsonb_build_array(…)::text`): JSON values joined by ", " in brackets, text
    escaped as PostgreSQL escapes it (quote, backslash, control characters; other characters as
    they are), `before`/`after` in their own jsonb text. `verify` checks both agree, so a
    replaced database function cannot vouch for an altered row."""
    parts = []
    for index, value in enumerate(values):
        if index in _JSONB_COLUMNS:
            parts.append("null" if value is None else str(value))
        else:
            parts.append(json.dumps(value, ensure_ascii=False))
    return "[" + ", ".join(parts) + "]"


def row_hash(values: Sequence[Any]) -> str:
    return hashlib.sha256(canonical(values).encode()).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Recorded:
    id: str
    seq: int
    hash: str


@dataclasses.dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    rows: int
    head_hash: str
    broken_id: str | None = None
    broken_seq: int | None = None
    reason: str | None = None
    seconds: float = 0.0

    def render(self) -> str:
        if self.ok:
            return (
                f"audit verify: OK, {self.rows} rows, head {self.head_hash} ({self.seconds:.2f} s)"
            )
        return f"audit verify: FAIL at row {self.broken_id} (seq {self.broken_seq}): {self.reason}"


class AuditService:
    async def record(
        self,
        session: AsyncSession,
        *,
        action: Action | str,
        target: Target | None = None,
        merchant_id: str | None = None,
        livemode: bool | None = None,
        before: BaseModel | Mapping[str, Any] | None = None,
        after: BaseModel | Mapping[str, Any] | None = None,
        actor: Actor | None = None,
        context: AuditContext | None = None,
        fallback_actor: Actor | None = None,
    ) -> Recorded:
        """Append one row in `session`'s transaction. Call it last in the action (after its
        writes): the chain's head stays locked until the transaction ends. `fallback_actor`
        acts when the request has no authenticated caller (sign-up's first keys)."""
        context = context or AuditContext.current(actor)
        if actor is not None and context.actor != actor:
            context = dataclasses.replace(context, actor=actor)
        elif fallback_actor is not None and context.actor.type is ActorType.system:
            context = dataclasses.replace(context, actor=fallback_actor)
        audit_id = new_id(Prefix.audit_log)
        seq, _, digest = await AuditLogRepository.from_session(session).append(
            id=audit_id,
            merchant_id=merchant_id,
            livemode=livemode,
            actor_type=str(context.actor.type),
            actor_id=context.actor.id,
            actor_label=context.actor.label,
            action=str(action),
            target_type=target[0] if target else None,
            target_id=target[1] if target else None,
            before=scrub(before),
            after=scrub(after),
            ip=context.ip,
            user_agent=context.user_agent,
            request_id=context.request_id,
        )
        return Recorded(audit_id, seq, digest)

    async def record_failed_login(self, db: Database, *, email: str, reason: str) -> Recorded:
        """A refused sign-in, in a small platform transaction of its own: the request's own
        transaction rolls back with the error."""
        async with db.platform_transaction() as session:
            user_id = await AuditLogRepository.from_session(session).user_id_by_email(email)
            context = AuditContext.current(
                Actor(ActorType.user, user_id, email.lower() if user_id else None)
            )
            return await self.record(
                session,
                action=Action.auth_login_failed,
                target=("user", user_id),
                after={"reason": reason},
                context=context,
            )

    async def list(
        self, session: AsyncSession, params: ListParams, filters: AuditFilters
    ) -> tuple[Sequence[AuditLog], bool]:
        """Newest first; a merchant's session sees its own rows only (row-level security)."""
        repository = AuditLogRepository.from_session(session)
        return await repository.paginate(repository.list_statement(filters), params)

    async def get(
        self, session: AsyncSession, audit_id: str, *, livemode: bool | None = None
    ) -> AuditLog:
        row = await AuditLogRepository.from_session(session).get(audit_id)
        if row is None or (
            livemode is not None and row.livemode is not None and row.livemode != livemode
        ):
            raise AuditLogNotFound(f"No such audit log entry: '{audit_id}'", param="id")
        return row

    async def verify(self, session: AsyncSession, *, batch: int = 5000) -> ChainReport:
        """Walk the chain from its first row: each row must follow the previous one (`seq`
        without a gap, `prev_hash` equal to the previous `hash`) and hash to its stored `hash`;
        the head must name the last row. The first row that fails is reported."""
        started = time.perf_counter()
        repository = AuditChainRepository.from_session(session)
        expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
        while True:
            rows = await repository.rows_after(expected_seq - 1, batch)
            for row in rows:
                reason = None
                if row.seq != expected_seq:
                    reason = f"expected seq {expected_seq}: a row is missing before it"
                elif row.prev_hash != expected_prev:
                    reason = "prev_hash is not the previous row's hash"
                elif row_hash(row.values) != row.hash:
                    reason = "its columns do not hash to its stored hash: the row was altered"
                elif row.computed != row.hash:
                    reason = "the database's mboa_audit_hash disagrees with the documented hash"
                if reason is not None:
                    return ChainReport(False, count, expected_prev, row.id, row.seq, reason)
                expected_seq, expected_prev, count = row.seq + 1, row.hash, count + 1
            if len(rows) < batch:
                break
        head_seq, head_hash = await repository.head()
        if head_seq != count or head_hash != expected_prev:
            return ChainReport(
                False,
                count,
                expected_prev,
                None,
                head_seq,
                f"the chain head names seq {head_seq}, the last row is seq {count}:"
                " rows were removed at the end",
            )
        return ChainReport(True, count, expected_prev, seconds=time.perf_counter() - started)


audit = AuditService()
