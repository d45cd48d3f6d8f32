"""Orange Money bodies as on the wire (docs/providers-wire.md §2). Field names are Orange's."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

T = TypeVar("T")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class TokenResponse(_Wire):
    access_token: str
    token_type: str | None = None
    expires_in: int = 3600

    @field_validator("expires_in", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        # omcoreapis sends a number, WebPay a string ("7776000") (§2.1, §2.2).
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value


class Envelope(_Wire, Generic[T]):
    """omcoreapis wraps everything as `{"message": …, "data": …}` (§2.2)."""

    message: str | None = None
    data: T | None = None


class PayTokenData(_Wire):
    payToken: str


class PayBody(_Wire):
    """`mp/pay` and `cashin/pay`; every value is a string (§2.2)."""

    notifUrl: str | None = None
    channelUserMsisdn: str
    amount: str
    subscriberMsisdn: str
    pin: str
    orderId: str
    description: str
    payToken: str


def _str_or_none(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class MpTransaction(_Wire):
    """The transaction object in `data` (orangemoney-go `merchant_payment.go`, §2.2)."""

    id: str | None = None
    createtime: str | None = None
    subscriberMsisdn: str | None = None
    amount: str | None = None
    payToken: str | None = None
    txnid: str | None = None
    txnmode: str | None = None
    inittxnmessage: str | None = None
    inittxnstatus: str | None = None
    confirmtxnstatus: str | None = None
    confirmtxnmessage: str | None = None
    txnmessage: str | None = None
    status: str | None = None
    notifUrl: str | None = None
    description: str | None = None
    channelUserMsisdn: str | None = None
    orderId: str | None = None

    _coerce = field_validator(
        "id", "amount", "createtime", "inittxnstatus", "confirmtxnstatus", mode="before"
    )(_str_or_none)

    @property
    def was_submitted(self) -> bool:
        """Whether a `pay` reached Orange for this payToken: an init-only token has only
        `payToken` and `status` filled (see the EXPIRED stub in orangemoney-go)."""
        return self.subscriberMsisdn is not None or self.inittxnstatus is not None


class WebPayInit(_Wire):
    """`POST /orange-money-webpay/{country}/v1/webpayment` body; `amount` is a number (§2.1)."""

    merchant_key: str
    currency: str
    order_id: str
    amount: int
    return_url: str
    cancel_url: str
    notif_url: str
    lang: str
    reference: str | None = None


class WebPayInitResponse(_Wire):
    status: int | str | None = None
    message: str | None = None
    pay_token: str
    payment_url: str
    notif_token: str | None = None


class WebPayStatusQuery(_Wire):
    order_id: str
    amount: int
    pay_token: str


class WebPayStatusResponse(_Wire):
    status: str | None = None
    order_id: str | None = None
    txnid: str | None = None


class Notification(_Wire):
    """Callback to `notifUrl`/`notif_url`: the exact fields are UNVERIFIED (§2.1, §2.2), so
    every known spelling is accepted, flat or wrapped in `data`."""

    status: str | None = None
    payToken: str | None = Field(default=None, alias="payToken")
    pay_token: str | None = None
    txnid: str | None = None
    orderId: str | None = None
    order_id: str | None = None
    notif_token: str | None = None
    amount: str | None = None
    message: str | None = None
    inittxnstatus: str | None = None
    confirmtxnstatus: str | None = None
    confirmtxnmessage: str | None = None

    _coerce = field_validator("amount", "inittxnstatus", "confirmtxnstatus", mode="before")(
        _str_or_none
    )
