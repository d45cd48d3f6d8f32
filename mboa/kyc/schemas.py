"""The going-live objects (docs/going-live.md): the business profile, its documents, the KYC
state the owner reads."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictInt

from mboa.kit.schemas import InputSchema, Schema, UnixTimestamp
from mboa.models import MerchantStatus
from mboa.providers.types import ProviderName

DocumentKind = Literal["representative_id", "business_registration", "proof_of_address"]
DOCUMENT_KINDS: tuple[str, ...] = ("representative_id", "business_registration", "proof_of_address")
PROFILE_FIELDS: tuple[str, ...] = (
    "legal_name",
    "rccm_number",
    "niu_number",
    "address",
    "city",
    "activity",
    "expected_monthly_volume",
    "settlement_phone",
    "settlement_operator",
    "representative_name",
)


class KycProfileUpdate(InputSchema):
    """Any subset of the profile; an empty string clears a field."""

    legal_name: str | None = Field(default=None, max_length=200)
    rccm_number: str | None = Field(
        default=None, max_length=60, description="RCCM, e.g. RC/DLA/2024/B/1234"
    )
    niu_number: str | None = Field(
        default=None, max_length=30, description="NIU (tax number), e.g. M012345678901A"
    )
    address: str | None = Field(default=None, max_length=300)
    city: str | None = Field(default=None, max_length=100)
    activity: str | None = Field(default=None, max_length=200)
    expected_monthly_volume: StrictInt | None = Field(
        default=None, ge=0, le=10**13, description="In XAF (no minor unit)."
    )
    settlement_phone: str | None = Field(default=None, max_length=20)
    settlement_operator: ProviderName | None = None
    representative_name: str | None = Field(default=None, max_length=200)


class KycProfile(Schema):
    model_config = ConfigDict(from_attributes=True)

    legal_name: str | None = None
    rccm_number: str | None = None
    niu_number: str | None = None
    address: str | None = None
    city: str | None = None
    activity: str | None = None
    expected_monthly_volume: int | None = None
    settlement_phone: str | None = None
    settlement_operator: str | None = None
    representative_name: str | None = None


class KycDocumentObject(Schema):
    """An uploaded document (`kdoc_…`); its bytes are never in the API's answers."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["kyc_document"] = "kyc_document"
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created: UnixTimestamp = Field(validation_alias="created_at")


class Kyc(Schema):
    """Where the account stands on going live, and what is still missing."""

    object: Literal["kyc"] = "kyc"
    account: str
    status: MerchantStatus
    editable: bool
    profile: KycProfile
    documents: list[KycDocumentObject]
    missing: list[str]
    """Profile fields (`legal_name`) and documents (`documents[proof_of_address]`) still to give."""
    submitted_at: UnixTimestamp | None = None
    rejection_reason: str | None = None


class StaffDecision(InputSchema):
    reason: str = Field(min_length=1, max_length=500)
