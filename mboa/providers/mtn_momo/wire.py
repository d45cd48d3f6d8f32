"""MTN MoMo Open API bodies, as on the wire (docs/providers-wire.md §1). Field names are MTN's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Wire(BaseModel):
    # MTN adds fields over time; unknown ones are kept, never fatal.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Party(_Wire):
    partyIdType: str = "MSISDN"
    partyId: str


class RequestToPay(_Wire):
    """Body of `POST /collection/v1_0/requesttopay`; every value is a string (§1.5)."""

    amount: str
    currency: str
    externalId: str
    payer: Party
    payerMessage: str
    payeeNote: str


class Transfer(_Wire):
    """Body of `POST /disbursement/v1_0/transfer` (§1.8)."""

    amount: str
    currency: str
    externalId: str
    payee: Party
    payerMessage: str
    payeeNote: str


class ErrorReason(_Wire):
    code: str | None = None
    message: str | None = None


class TransactionStatusBody(_Wire):
    """`GET …/requesttopay/{id}` and `…/transfer/{id}`, and the callback body (§1.6, §1.9).

    Everything is optional: callbacks seen in the wild omit fields (§1.9)."""

    financialTransactionId: str | None = None
    externalId: str | None = None
    amount: str | None = None
    currency: str | None = None
    payer: Party | None = None
    payee: Party | None = None
    payerMessage: str | None = None
    payeeNote: str | None = None
    status: str | None = None
    reason: str | ErrorReason | None = None
    referenceId: str | None = None

    @field_validator("amount", "financialTransactionId", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # The swagger says string; accept a JSON number too rather than drop a callback.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @property
    def reason_code(self) -> str | None:
        # `reason` is a plain string in MTN's examples and an object in the swagger (§1.6).
        if isinstance(self.reason, ErrorReason):
            return self.reason.code or self.reason.message
        return self.reason


class TokenResponse(_Wire):
    access_token: str
    token_type: str | None = None
    expires_in: int = Field(default=3600)

    @field_validator("expires_in", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value


class BalanceBody(_Wire):
    availableBalance: str
    currency: str

    @field_validator("availableBalance", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class AccountHolderActive(_Wire):
    # MTN's SDK mock shows "1" where the docs say true (§1.7).
    result: bool | str | int

    @property
    def active(self) -> bool:
        if isinstance(self.result, bool):
            return self.result
        return str(self.result).strip().lower() in {"1", "true", "yes"}


class ErrorBody(_Wire):
    """`{"code", "message"}`; older captures use `status` for the code, and the SDK models
    `errorCode`/`errorDescription` (§1.10). Read whichever is present."""

    code: str | int | None = None
    status: str | int | None = None
    message: str | None = None
    errorCode: str | None = None
    errorDescription: str | None = None
    error: str | None = None

    @property
    def any_code(self) -> str | None:
        for value in (self.code, self.errorCode, self.status, self.error):
            if value is not None and str(value).strip():
                return str(value)
        return None

    @property
    def any_message(self) -> str | None:
        return self.message or self.errorDescription
