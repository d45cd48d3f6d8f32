from __future__ import annotations

from typing import Literal

from pydantic import EmailStr, Field

from mboa.kit.schemas import InputSchema, Metadata, Schema, UnixTimestamp
from mboa.models import MemberRole, MerchantStatus


class Account(Schema):
    """A merchant account (`acct_…`)."""

    id: str
    object: Literal["account"] = "account"
    livemode: bool = False
    name: str
    country: str
    default_currency: str
    status: MerchantStatus
    live_enabled: bool = False
    created: UnixTimestamp = Field(validation_alias="created_at")
    approved_at: UnixTimestamp | None = None
    suspended_at: UnixTimestamp | None = None
    metadata: dict[str, str] = Field(default_factory=dict, validation_alias="metadata_")
    logo_url: str | None = None
    """The merchant's logo (WebP, at most 256 px a side) by a signed URL valid at least an hour;
    null without a logo. Set it with `POST /v1/merchants/{id}/logo`."""


class AccountAdmin(Account):
    """What platform staff see."""

    suspension_reason: str | None = None
    approved_by: str | None = None
    submitted_at: UnixTimestamp | None = None
    rejection_reason: str | None = None


class MerchantCreate(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    metadata: Metadata | None = None


class MerchantUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: Metadata | None = None


class Member(Schema):
    id: str
    object: Literal["team_member"] = "team_member"
    merchant_id: str
    user_id: str
    email: str | None = None
    role: MemberRole
    created: UnixTimestamp = Field(validation_alias="created_at")


class MemberCreate(InputSchema):
    email: EmailStr = Field(max_length=320)
    role: MemberRole


class MemberUpdate(InputSchema):
    role: MemberRole
