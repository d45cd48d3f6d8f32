"""Issuing, rolling and revoking API keys. The secret exists in memory only while it is shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.api_keys.exceptions import (
    ApiKeyNotActive,
    ApiKeyNotFound,
    InvalidScopes,
    LiveModeNotEnabled,
)
from mboa.api_keys.repository import ApiKeyRepository
from mboa.api_keys.schemas import to_schema
from mboa.audit.service import Action as AuditAction
from mboa.audit.service import Actor, ActorType, audit
from mboa.auth.cache import invalidate_after_commit
from mboa.auth.scopes import API_SCOPES
from mboa.exceptions import BadRequest
from mboa.kit.crypto import random_token, sha256_hex
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import ListParams
from mboa.kit.time import utc_now
from mboa.models import ApiKey, ApiKeyType, Merchant, MerchantStatus

_PREFIX = {ApiKeyType.secret: "sk", ApiKeyType.publishable: "pk", ApiKeyType.restricted: "rk"}
SECRET_BYTES = 32
_ROLLED = {"expires_at", "revoked_at", "rolled_to"}


def _new_secret(key_type: ApiKeyType, livemode: bool) -> tuple[str, str]:
    prefix = f"{_PREFIX[key_type]}_{'live' if livemode else 'test'}_"
    return prefix, prefix + random_token(SECRET_BYTES)


class ApiKeyService:
    async def create(
        self,
        session: AsyncSession,
        *,
        merchant: Merchant,
        livemode: bool,
        key_type: ApiKeyType,
        name: str | None = None,
        scopes: list[str] | None = None,
        expires_at: dt.datetime | None = None,
        created_by: str | None = None,
    ) -> tuple[ApiKey, str]:
        key, secret = await self._issue(
            session,
            merchant=merchant,
            livemode=livemode,
            key_type=key_type,
            name=name,
            scopes=scopes,
            expires_at=expires_at,
            created_by=created_by,
        )
        await audit.record(
            session,
            action=AuditAction.api_key_created,
            target=("api_key", key.id),
            merchant_id=merchant.id,
            livemode=livemode,
            after=to_schema(key),
            fallback_actor=Actor(ActorType.user, created_by) if created_by else None,
        )
        return key, secret

    async def _issue(
        self,
        session: AsyncSession,
        *,
        merchant: Merchant,
        livemode: bool,
        key_type: ApiKeyType,
        name: str | None = None,
        scopes: list[str] | None = None,
        expires_at: dt.datetime | None = None,
        created_by: str | None = None,
    ) -> tuple[ApiKey, str]:
        if livemode and merchant.status is not MerchantStatus.active:
            raise LiveModeNotEnabled(
                "Live keys exist only once platform staff have approved the account"
                + (" (it is suspended)." if merchant.status is MerchantStatus.suspended else ".")
            )
        if key_type is ApiKeyType.restricted:
            if not scopes:
                raise InvalidScopes("A restricted key needs at least one scope.", param="scopes")
            unknown = sorted(set(scopes) - API_SCOPES)
            if unknown:
                raise InvalidScopes(
                    f"Unknown scope '{unknown[0]}'. Valid scopes: {', '.join(sorted(API_SCOPES))}.",
                    param="scopes",
                )
        elif scopes:
            raise InvalidScopes("Only restricted keys take scopes.", param="scopes")
        if expires_at is not None and expires_at <= utc_now():
            raise BadRequest("expires_at must be in the future.", param="expires_at")
        prefix, secret = _new_secret(key_type, livemode)
        key = ApiKey(
            id=new_id(Prefix.api_key),
            merchant_id=merchant.id,
            livemode=livemode,
            type=key_type,
            name=name,
            secret_hash=sha256_hex(secret),
            prefix=prefix,
            last4=secret[-4:],
            scopes=sorted(set(scopes or [])),
            expires_at=expires_at,
            created_by=created_by,
            created_at=utc_now(),
        )
        await ApiKeyRepository.from_session(session).add(key)
        return key, secret

    async def get(
        self, session: AsyncSession, *, merchant_id: str, livemode: bool, key_id: str
    ) -> ApiKey:
        key = await ApiKeyRepository.from_session(session).get_in_tenant(
            merchant_id, livemode, key_id
        )
        if key is None:
            raise ApiKeyNotFound(f"No such API key: '{key_id}'", param="id")
        return key

    async def list(
        self, session: AsyncSession, *, merchant_id: str, livemode: bool, params: ListParams
    ) -> tuple[Sequence[ApiKey], bool]:
        repository = ApiKeyRepository.from_session(session)
        return await repository.paginate(repository.list_statement(merchant_id, livemode), params)

    def _require_active(self, key: ApiKey, now: dt.datetime) -> None:
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            raise ApiKeyNotActive(f"API key '{key.id}' is already revoked or expired.")

    async def roll(
        self,
        session: AsyncSession,
        *,
        merchant: Merchant,
        key: ApiKey,
        overlap_seconds: int,
        created_by: str | None,
    ) -> tuple[ApiKey, str]:
        """Issue a replacement; the old key keeps working for `overlap_seconds`, then expires."""
        now = utc_now()
        self._require_active(key, now)
        new_key, secret = await self._issue(
            session,
            merchant=merchant,
            livemode=key.livemode,
            key_type=key.type,
            name=key.name,
            scopes=list(key.scopes) or None,
            expires_at=None,
            created_by=created_by,
        )
        before = to_schema(key).model_dump(mode="json", include=_ROLLED)
        old_expiry = now + dt.timedelta(seconds=overlap_seconds)
        if key.expires_at is None or key.expires_at > old_expiry:
            key.expires_at = old_expiry
        if overlap_seconds == 0:
            key.revoked_at = now
        key.rolled_to = new_key.id
        await session.flush()
        invalidate_after_commit(session, key_id=key.id)
        await audit.record(
            session,
            action=AuditAction.api_key_rolled,
            target=("api_key", key.id),
            merchant_id=key.merchant_id,
            livemode=key.livemode,
            before=before,
            after={
                **to_schema(key).model_dump(mode="json", include=_ROLLED),
                "new_key": to_schema(new_key).model_dump(mode="json", include={"id", "redacted"}),
            },
        )
        return new_key, secret

    async def revoke(self, session: AsyncSession, *, key: ApiKey) -> ApiKey:
        if key.revoked_at is None:
            key.revoked_at = utc_now()
            await session.flush()
            invalidate_after_commit(session, key_id=key.id)
            await audit.record(
                session,
                action=AuditAction.api_key_revoked,
                target=("api_key", key.id),
                merchant_id=key.merchant_id,
                livemode=key.livemode,
                before={"revoked_at": None},
                after=to_schema(key).model_dump(
                    mode="json", include={"id", "redacted", "revoked_at"}
                ),
            )
        return key


api_key = ApiKeyService()
