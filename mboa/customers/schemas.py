from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, EmailStr, Field

from mboa.kit.schemas import ApiObject, InputSchema, Metadata, Schema


class Customer(ApiObject):
    """A customer of the merchant (`cus_…`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "cus_01JD5Z8Q4Y2V6N3K7M9P1R0S2T",
                    "object": "customer",
                    "livemode": False,
                    "created": 1795750600,
                    "metadata": {"order_id": "6735"},
                    "name": "Ama Nkeng",
                    "email": "ama@example.cm",
                    "phone": "+237677123456",
                    "description": None,
                }
            ]
        }
    )

    object: Literal["customer"] = "customer"
    name: str | None
    email: str | None
    phone: str | None
    description: str | None


class CustomerCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Ama Nkeng",
                    "email": "ama@example.cm",
                    "phone": "+237677123456",
                    "metadata": {"order_id": "6735"},
                }
            ]
        }
    )

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
