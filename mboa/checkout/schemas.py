from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt

from mboa.kit.schemas import ApiObject, InputSchema, Metadata, Schema, UnixTimestamp

Locale = Literal["fr", "en", "auto"]
SessionStatus = Literal["open", "complete", "expired"]
LinkField = Literal["name", "note"]


class CheckoutSessionCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount": 12500,
                    "currency": "XAF",
                    "reference": "order-6735",
                    "description": "2 pagnes wax",
                    "success_url": "https://shop.example.cm/merci",
                    "cancel_url": "https://shop.example.cm/panier",
                    "locale": "auto",
                }
            ]
        }
    )

    amount: StrictInt = Field(description="In XAF (no minor unit): 12500 is 12 500 FCFA.")
    currency: str = Field(min_length=3, max_length=3)
    reference: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    success_url: str = Field(
        max_length=2000,
        description="Where the payer goes after paying, with `?session_id=cs_…` added; "
        "http(s), https in live mode.",
    )
    cancel_url: str | None = Field(default=None, max_length=2000)
    customer: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(default=None, max_length=20, description="Prefills the number.")
    locale: Locale = Field(
        default="auto", description="`auto` follows the browser's Accept-Language."
    )
    expires_in: StrictInt | None = Field(
        default=None, description="Seconds the page stays open (60 s to 7 days; default 1 h)."
    )
    metadata: Metadata | None = None


class CustomerDetails(Schema):
    name: str | None = None
    note: str | None = None


class CheckoutSession(ApiObject):
    """A hosted payment page for one payment intent (`cs_…`, docs/checkout.md)."""

    object: Literal["checkout.session"] = "checkout.session"
    url: str | None = Field(
        description="The payment page (`/pay/cs_…`) while the session is open; share it with "
        "the payer. Its last part is unguessable: treat it like the payment it opens."
    )
    status: SessionStatus
    payment_status: Literal["paid", "unpaid"]
    amount: int
    currency: str
    description: str | None
    success_url: str | None
    cancel_url: str | None
    locale: Locale
    customer: str | None
    customer_details: CustomerDetails | None
    payment_intent: str
    payment_link: str | None
    expires_at: UnixTimestamp
    completed_at: UnixTimestamp | None
    expired_at: UnixTimestamp | None


class CustomAmount(Schema):
    minimum: StrictInt
    maximum: StrictInt


class CustomAmountInput(InputSchema):
    minimum: StrictInt = Field(description="XAF; at least the payments minimum (100).")
    maximum: StrictInt


class Redirect(Schema):
    url: str


class HostedConfirmation(Schema):
    custom_message: str | None = None


class AfterCompletion(Schema):
    type: Literal["redirect", "hosted_confirmation"]
    redirect: Redirect | None = None
    hosted_confirmation: HostedConfirmation | None = None


class AfterCompletionInput(InputSchema):
    type: Literal["redirect", "hosted_confirmation"]
    redirect: dict[str, str] | None = Field(default=None, description='`{"url": …}`')
    hosted_confirmation: dict[str, str] | None = Field(
        default=None, description='`{"custom_message": …}` (up to 500 characters)'
    )


class PaymentLinkCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"currency": "XAF", "amount": 5000, "description": "Poulet DG"},
                {
                    "currency": "XAF",
                    "custom_amount": {"minimum": 500, "maximum": 50000},
                    "description": "Cotisation",
                    "fields": ["name", "note"],
                },
            ]
        }
    )

    currency: str = Field(min_length=3, max_length=3)
    amount: StrictInt | None = Field(default=None, description="A fixed amount, in XAF.")
    custom_amount: CustomAmountInput | None = Field(
        default=None, description="Instead of `amount`: the customer types one in this range."
    )
    description: str | None = Field(default=None, max_length=500)
    fields: list[LinkField] = Field(
        default_factory=list, max_length=2, description="Also ask for `name`, `note`."
    )
    active: StrictBool = True
    after_completion: AfterCompletionInput | None = None
    metadata: Metadata | None = None


class PaymentLinkUpdate(InputSchema):
    active: StrictBool | None = None
    description: str | None = Field(default=None, max_length=500)
    fields: list[LinkField] | None = Field(default=None, max_length=2)
    after_completion: AfterCompletionInput | None = None
    metadata: Metadata | None = None


class PaymentLink(ApiObject):
    """A reusable payment page (`plink_…`): each visit opens a checkout session."""

    object: Literal["payment_link"] = "payment_link"
    active: bool
    url: str
    currency: str
    amount: int | None
    custom_amount: CustomAmount | None
    description: str | None
    fields: list[LinkField]
    after_completion: AfterCompletion
