"""What the API answers when a phone number cannot pay (`phone.py`).

Operator failures are not API errors: they are `errors.py`'s `ProviderError`s, which services
turn into `MboaError`s.
"""

from __future__ import annotations

from mboa.exceptions import BadRequest


class InvalidPhoneNumber(BadRequest):
    code = "phone_number_invalid"


class UnsupportedPhoneNumber(BadRequest):
    code = "phone_number_unsupported"
