"""Cameroonian mobile numbers: parse, normalise, guess the operator (docs/providers-wire.md §3).

The one place phone numbers are read: `parse_phone` for a number that is to pay or be paid,
`normalise_phone` for a contact number (a customer's), which need not have a wallet.

Prefixes are only a hint because Cameroon has mobile number portability, so an explicit
`provider` always wins. Numbers on networks without MTN MoMo / Orange Money wallets (Nexttel,
Camtel) and foreign numbers are refused, naming the parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from mboa.exceptions import BadRequest
from mboa.providers.exceptions import InvalidPhoneNumber, UnsupportedPhoneNumber
from mboa.providers.masking import mask_phone
from mboa.providers.registry import SPECS
from mboa.providers.types import ProviderName

CAMEROON_CODE = 237

# docs/providers-wire.md §3.2/§3.3: mobile networks without MoMo/OM wallets via these APIs.
_OTHER_NETWORKS = (
    ("684", "Nexttel"),
    ("685", "Nexttel"),
    ("688", "Nexttel"),
    ("689", "Nexttel"),
    ("66", "Nexttel"),
    ("62", "Camtel"),
    ("242", "Camtel"),
    ("243", "Camtel"),
)
# Camtel's CDMA fixed-wireless ranges are not portable to a mobile-money operator.
_NEVER_A_WALLET = ("242", "243")

# MTN's own sandbox numbers (docs/providers-wire.md §1.11), accepted only in test mode.
MTN_SANDBOX_NUMBERS = frozenset(f"+46733123{n}" for n in range(450, 464))


# The characters a written phone number may use (after `strip()`), and how many.
_PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ().-]{6,20}$")


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    e164: str
    """`+2376XXXXXXXX` (or an MTN sandbox number in test mode)."""
    likely_provider: ProviderName | None
    """Guessed from the prefix; None when the prefix is not one of our operators'."""
    network: str | None = None
    """Name of a non-wallet network the prefix belongs to (Nexttel, Camtel), if any."""

    @property
    def national(self) -> str:
        """9 digits without 237: Orange omcoreapis' format (docs/providers-wire.md §2.2)."""
        return self.e164.removeprefix("+237")

    @property
    def msisdn(self) -> str:
        """Country code and number, no `+`: MTN's format (docs/providers-wire.md §1.5)."""
        return self.e164.removeprefix("+")

    @property
    def masked(self) -> str:
        return mask_phone(self.e164)


def _longest_match(national: str, table: tuple[tuple[str, str], ...]) -> str | None:
    best: tuple[int, str] | None = None
    for prefix, value in table:
        if national.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), value)
    return best[1] if best else None


def detect_provider(national: str) -> ProviderName | None:
    """The operator that usually owns this 9-digit national number (a hint)."""
    table = tuple(
        (prefix, name.value) for name, spec in SPECS.items() for prefix in spec.phone_prefixes
    )
    found = _longest_match(national, table)
    return ProviderName(found) if found else None


def parse_phone(raw: str, *, param: str = "phone", allow_sandbox: bool = False) -> PhoneNumber:
    """Parse any usual writing (`6 70 00 00 01`, `+237…`, `00237…`, `237…`) of a Cameroonian
    mobile number. Raises `InvalidPhoneNumber`/`UnsupportedPhoneNumber` naming `param`."""
    text = (raw or "").strip()
    if allow_sandbox:
        candidate = "+" + "".join(c for c in text if c.isdigit())
        if candidate in MTN_SANDBOX_NUMBERS:
            return PhoneNumber(e164=candidate, likely_provider=ProviderName.mtn_momo)
    number = _read(text)
    if number is None:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number", param=param)
    if number.country_code != CAMEROON_CODE:
        raise UnsupportedPhoneNumber(
            "only Cameroonian mobile numbers (+237 6…) can pay with MTN MoMo or Orange Money",
            param=param,
        )
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid Cameroonian number", param=param)
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise UnsupportedPhoneNumber(f"{mask_phone(text)} is not a mobile number", param=param)
    national = str(number.national_number)
    return PhoneNumber(
        e164=f"+237{national}",
        likely_provider=detect_provider(national),
        network=_longest_match(national, _OTHER_NETWORKS),
    )


def normalise_phone(raw: str, *, param: str = "phone") -> str:
    """A contact number in E.164: any country's valid number, a bare national number read as
    Cameroonian. Raises `BadRequest` (`parameter_invalid`) naming `param`."""
    number = _read(raw) if _PHONE_CHARACTERS.match(raw) else None
    if number is None or not phonenumbers.is_valid_number(number):
        raise BadRequest(f"Invalid phone number: '{raw}'", param=param)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _read(text: str) -> phonenumbers.PhoneNumber | None:
    """The number `text` writes (Cameroonian unless it says otherwise), valid or not."""
    try:
        return phonenumbers.parse(text, "CM")
    except phonenumbers.NumberParseException:
        return None


def resolve_provider(
    raw_phone: str,
    provider: ProviderName | str | None = None,
    *,
    param: str = "phone",
    provider_param: str = "provider",
    allow_sandbox: bool = False,
) -> tuple[PhoneNumber, ProviderName]:
    """The phone and the operator to use: the explicit `provider` when given (numbers are
    portable), else the prefix's operator; refuse when neither says MTN or Orange."""
    phone = parse_phone(raw_phone, param=param, allow_sandbox=allow_sandbox)
    if provider is not None:
        try:
            chosen = ProviderName(provider)
        except ValueError:
            allowed = ", ".join(p.value for p in ProviderName)
            raise BadRequest(
                f"unknown provider {provider!r}; use one of {allowed}", param=provider_param
            ) from None
        if phone.national.startswith(_NEVER_A_WALLET):
            raise UnsupportedPhoneNumber(
                f"{phone.masked} is a Camtel fixed-wireless number; it has no mobile-money wallet",
                param=param,
            )
        return phone, chosen
    if phone.likely_provider is not None:
        return phone, phone.likely_provider
    if phone.network is not None:
        raise UnsupportedPhoneNumber(
            f"{phone.masked} looks like a {phone.network} number; only MTN Mobile Money and "
            f"Orange Money are supported (pass {provider_param} if the number was ported)",
            param=param,
        )
    raise UnsupportedPhoneNumber(
        f"cannot tell the operator of {phone.masked} from its prefix; pass {provider_param}",
        param=param,
    )
