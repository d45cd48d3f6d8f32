"""Object keys: `merchants/<merchant id>/<purpose>/<name>`, every part ours.

A key never holds anything a user typed: the merchant id comes from the authenticated caller,
the purpose from our code, the name from `new_name` (a random id) or from one of our own ids
(a receipt: the payment intent's). `check_key` refuses anything else before a backend sees it,
so no key can climb out of its directory or bucket prefix."""

from __future__ import annotations

import enum
import re
import secrets

from mboa.storage.exceptions import ObjectNotFound

_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,96}(\.[a-z0-9]{1,8})?$")
_KEY = re.compile(
    r"^merchants/[A-Za-z0-9_]{1,64}/[a-z_]{1,32}/[A-Za-z0-9_-]{1,96}(\.[a-z0-9]{1,8})?$"
)


class Purpose(enum.StrEnum):
    """What a file is for: its folder, its allowed types and size (`uploads.POLICIES`)."""

    logo = "logo"
    receipt = "receipts"
    kyc_document = "kyc_documents"


def new_name(extension: str) -> str:
    return f"{secrets.token_hex(12)}.{extension}"


def object_key(merchant_id: str, purpose: Purpose, name: str) -> str:
    if not _ID.match(merchant_id) or not _NAME.match(name):
        raise ValueError(f"not a key part: {merchant_id!r} / {name!r}")
    return f"merchants/{merchant_id}/{purpose.value}/{name}"


def check_key(key: str) -> None:
    """Only keys `object_key` builds reach a backend."""
    if not _KEY.match(key):
        raise ObjectNotFound("No such file.", param="key")


def owner_of(key: str) -> str:
    """The merchant a (checked) key belongs to."""
    check_key(key)
    return key.split("/", 2)[1]
