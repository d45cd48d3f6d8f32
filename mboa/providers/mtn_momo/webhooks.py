"""MTN MoMo callbacks -> `ProviderNotification` (docs/providers-wire.md §1.9).

MTN sends one callback per transaction (PUT or POST, no retry, no signature) whose body is the
status resource, often without the reference id. So our own id travels in the callback URL path,
and the notification is only a hint to go and read the status.
"""

from __future__ import annotations

from pydantic import ValidationError

from mboa.providers.amounts import from_wire_amount
from mboa.providers.errors import InvalidNotification
from mboa.providers.mtn_momo.mapping import map_reason, map_status
from mboa.providers.mtn_momo.wire import TransactionStatusBody
from mboa.providers.notifications import decode_body, dedupe_key
from mboa.providers.types import ProviderName, ProviderNotification, TransactionStatus


def parse_callback(body: bytes, *, our_id: str | None = None) -> ProviderNotification:
    payload = decode_body(body, provider=ProviderName.mtn_momo)
    try:
        wire = TransactionStatusBody.model_validate(payload)
    except ValidationError as exc:
        raise InvalidNotification(
            "MTN MoMo callback does not look like a status resource",
            provider=ProviderName.mtn_momo,
        ) from exc
    status = map_status(wire.status)
    amount: int | None = None
    if wire.amount is not None and wire.currency:
        try:
            amount = from_wire_amount(wire.amount, wire.currency)
        except ValueError:
            amount = None
    return ProviderNotification(
        provider=ProviderName.mtn_momo,
        our_id=our_id,
        reference=wire.referenceId,
        external_id=wire.externalId,
        status=status,
        failure_code=map_reason(wire.reason_code) if status is TransactionStatus.failed else None,
        raw_status=wire.status,
        raw_reason=wire.reason_code,
        operator_transaction_id=wire.financialTransactionId,
        amount=amount,
        currency=wire.currency,
        dedupe_key=dedupe_key(ProviderName.mtn_momo, our_id, payload),
        payload=payload,
    )
