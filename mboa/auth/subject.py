from __future__ import annotations

import dataclasses
import enum

from mboa.models import MemberRole
from mboa.postgres import TenantContext


class SubjectKind(enum.StrEnum):
    secret_key = "secret_key"
    publishable_key = "publishable_key"
    restricted_key = "restricted_key"
    user = "user"


@dataclasses.dataclass(frozen=True, slots=True)
class AuthSubject:
    """The authenticated caller of one request."""

    kind: SubjectKind
    permissions: frozenset[str]
    merchant_id: str | None = None
    livemode: bool = False
    key_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    role: MemberRole | None = None
    is_platform_admin: bool = False

    @property
    def tenant(self) -> TenantContext:
        assert self.merchant_id is not None, "subject has no merchant"
        return TenantContext(self.merchant_id, self.livemode)

    @property
    def rate_limit_identity(self) -> str:
        return self.key_id or self.user_id or "anonymous"

    def can(self, permission: str) -> bool:
        return permission in self.permissions
