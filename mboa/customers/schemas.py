from __future__ import annotations

from typing import Literal

from pydantic import EmailStr, Field

from mboa.kit.schemas import ApiObject, InputSchema, Metadata, Schema


class Customer(ApiObject):
    """A customer of the merchant (`cus_…`)."""

    object: Literal["customer"] = "customer"
    name: str | None
    email: str | None
    phone: str | None
    description: str | None


class CustomerCreate(InputSchema):
    name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=320)
    phone: str | None = Field(
        default=None, max_length=20, description="Mobile-money number, e.g. +237670000000."
    )
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata | None = None


class CustomerUpdate(CustomerCreate):
    pass


class DeletedCustomer(Schema):
    id: str
    object: Literal["customer"] = "customer"
    deleted: Literal[True] = True
