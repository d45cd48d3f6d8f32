"""Prefixed, opaque, time-sortable object ids (`cus_01JD…`).

The body is a ULID: 48 bits of milliseconds then 80 random bits, in Crockford base32, so ids sort by
creation time and cursor pagination can order by id alone. Within one millisecond the generator is
monotonic (it increments the random part), so a process never hands out ids out of order, and
it rides out a small step back of the wall clock the same way. A large step back (the clock
corrected by more than `CLOCK_STEP_BACK_MS`) restarts from the clock: ids must keep saying when
they were made, since the dashboard's lists and exports bound their ranges by them
(docs/dashboard.md, "Payouts, balance, customers, reports").
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_random = 0
CLOCK_STEP_BACK_MS = 1_000


_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]


def _encode_130(value: int) -> str:
    """26 Crockford characters for a 130-bit value, ten bits (two characters) at a time: ids are
    made on hot paths (ledger postings, every request id) and this is ~7x the naive loop."""
    pairs = _PAIRS
    return "".join(pairs[(value >> shift) & 1023] for shift in range(120, -1, -10))


def ulid() -> str:
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if _last_ms - CLOCK_STEP_BACK_MS <= now_ms <= _last_ms:
            now_ms = _last_ms
            _last_random = (_last_random + 1) & ((1 << 80) - 1)
        else:
            _last_ms = now_ms
            _last_random = int.from_bytes(os.urandom(10), "big")
        value = (now_ms << 80) | _last_random
    return _encode_130(value)


def new_id(prefix: str) -> str:
    return f"{prefix}_{ulid()}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27


class Prefix:
    """Every object prefix in one place (docs/api-conventions.md §D1)."""

    user = "usr"
    merchant = "acct"
    member = "mem"
    api_key = "key"
    session = "ses"
    customer = "cus"
    request = "req"
    outbox = "obx"
    provider_event = "pev"
    event = "evt"
    payment_intent = "pi"
    payment_attempt = "pat"
    payout = "po"
    disbursement = "dsb"
    # refunds (issue 13 point 4)
    refund = "re"
    refund_disbursement = "rdsb"
    operator_discrepancy = "odis"
    # webhooks (issue 14)
    webhook_endpoint = "we"
    webhook_delivery = "whd"
    notification = "ntf"
    # checkout (issue 15)
    checkout_session = "cs"
    payment_link = "plink"
    # team and e-mail (issue 16)
    invitation = "inv"
    password_reset = "pwr"
    # KYC and the staff console (issue 17)
    kyc_document = "kdoc"
    risk_note = "rnote"
    # audit log (issue 17 item 4)
    audit_log = "aud"


def lowest_id_at(prefix: str, instant: dt.datetime) -> str:
    """The smallest id `prefix` could have been given at `instant`: every id minted before it
    sorts below (the ULID's first 48 bits are the milliseconds)."""
    return f"{prefix}_{_encode_130(int(instant.timestamp() * 1000) << 80)}"
