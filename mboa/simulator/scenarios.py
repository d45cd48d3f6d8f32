"""Magic phone numbers -> scripted outcomes (the table in docs/sandbox.md).

Two families:
* MTN's own sandbox numbers 46733123450-463 (docs/providers-wire.md §1.11), MTN simulator only,
  with their request-to-pay / transfer / account-holder meanings;
* Cameroonian numbers `PPP 0000 NN`: any operator prefix PPP, then `0000`, then a two-digit
  outcome code NN. They mean the same on both simulators, e.g. 670000001 (MTN) and 690000001
  (Orange) both run out of funds.
Every other number succeeds after `auto_approve_seconds`, like MTN's sandbox.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    success = "success"
    insufficient_funds = "insufficient_funds"
    rejected = "rejected"
    expired = "expired"
    pending_forever = "pending_forever"
    delayed_success = "delayed_success"
    callback_lost = "callback_lost"
    callback_duplicated = "callback_duplicated"
    late_success = "late_success"
    operator_5xx = "operator_5xx"
    operator_timeout = "operator_timeout"
    not_found = "not_found"
    transient_5xx = "transient_5xx"
    manual = "manual"
    limit_reached = "limit_reached"
    # MTN sandbox only.
    failed = "failed"
    payee_not_allowed = "payee_not_allowed"
    could_not_perform = "could_not_perform"
    not_allowed = "not_allowed"
    not_allowed_target_environment = "not_allowed_target_environment"
    invalid_callback_url_host = "invalid_callback_url_host"
    invalid_currency = "invalid_currency"
    internal_error = "internal_error"
    inactive = "inactive"


CAMEROON_CODES: dict[str, Outcome] = {
    "00": Outcome.success,
    "01": Outcome.insufficient_funds,
    "02": Outcome.rejected,
    "03": Outcome.expired,
    "04": Outcome.pending_forever,
    "05": Outcome.delayed_success,
    "06": Outcome.callback_lost,
    "07": Outcome.callback_duplicated,
    "08": Outcome.late_success,
    "09": Outcome.operator_5xx,
    "10": Outcome.operator_timeout,
    "11": Outcome.not_found,
    "12": Outcome.transient_5xx,
    "13": Outcome.manual,
    "14": Outcome.limit_reached,
}

# docs/providers-wire.md §1.11, "Sandbox Use Cases".
MTN_REQUEST_TO_PAY: dict[int, Outcome] = {
    450: Outcome.failed,
    451: Outcome.rejected,
    452: Outcome.expired,
    453: Outcome.pending_forever,
    454: Outcome.delayed_success,
    455: Outcome.not_found,
    456: Outcome.payee_not_allowed,
    457: Outcome.not_allowed,
    458: Outcome.not_allowed_target_environment,
    459: Outcome.invalid_callback_url_host,
    460: Outcome.invalid_currency,
    461: Outcome.internal_error,
    462: Outcome.operator_5xx,
    463: Outcome.could_not_perform,
}
MTN_TRANSFER: dict[int, Outcome] = {
    450: Outcome.failed,
    451: Outcome.rejected,
    452: Outcome.expired,
    453: Outcome.pending_forever,
    454: Outcome.delayed_success,
    455: Outcome.insufficient_funds,
    456: Outcome.limit_reached,
    457: Outcome.not_found,
    458: Outcome.not_allowed,
    459: Outcome.not_allowed_target_environment,
    460: Outcome.invalid_callback_url_host,
    461: Outcome.invalid_currency,
    462: Outcome.internal_error,
    463: Outcome.operator_5xx,
}
MTN_ACCOUNT_HOLDER: dict[int, Outcome] = {
    450: Outcome.not_found,
    451: Outcome.inactive,
    452: Outcome.not_allowed,
    453: Outcome.not_allowed_target_environment,
    454: Outcome.internal_error,
    455: Outcome.operator_5xx,
}

# Outcomes refused at once with an HTTP error instead of becoming a transaction.
IMMEDIATE_ERRORS = frozenset(
    {
        Outcome.operator_5xx,
        Outcome.not_allowed,
        Outcome.not_allowed_target_environment,
        Outcome.invalid_callback_url_host,
        Outcome.invalid_currency,
        Outcome.internal_error,
    }
)


@dataclass(frozen=True, slots=True)
class Plan:
    outcome: Outcome
    magic: bool


def national_digits(msisdn: str) -> str | None:
    """9-digit Cameroonian national number from `2376…`, `+2376…` or `6…`."""
    digits = msisdn.removeprefix("+")
    if len(digits) == 12 and digits.startswith("237"):
        digits = digits[3:]
    if len(digits) == 9 and digits.isdigit():
        return digits
    return None


def cameroon_outcome(msisdn: str) -> Outcome | None:
    national = national_digits(msisdn)
    if national is None or national[3:7] != "0000":
        return None
    return CAMEROON_CODES.get(national[7:])


def mtn_sandbox_outcome(msisdn: str, table: dict[int, Outcome]) -> Outcome | None:
    digits = msisdn.removeprefix("+")
    if digits.startswith("46733123") and len(digits) == 11:
        return table.get(int(digits[-3:]))
    return None


def plan_for(msisdn: str, *, operator: str, kind: str) -> Plan:
    """`kind` is `collection`, `disbursement` or `account_holder`."""
    if operator == "mtn_momo":
        table = {
            "collection": MTN_REQUEST_TO_PAY,
            "disbursement": MTN_TRANSFER,
            "account_holder": MTN_ACCOUNT_HOLDER,
        }[kind]
        sandbox = mtn_sandbox_outcome(msisdn, table)
        if sandbox is not None:
            return Plan(sandbox, magic=True)
    outcome = cameroon_outcome(msisdn)
    if outcome is not None:
        return Plan(outcome, magic=True)
    return Plan(Outcome.success, magic=False)
