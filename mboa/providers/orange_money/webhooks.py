"""Orange Money notifications -> `ProviderNotification` (docs/providers-wire.md §2.1, §2.2).

Neither API signs its notifications and the omcoreapis payload is UNVERIFIED, so every known
field spelling is read, flat or inside `data`. WebPay's `notif_token` is the one thing we can
check (`verify_token`); the status read remains the proof.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import ValidationError

from mboa.providers.amounts import from_wire_amount
from mboa.providers.errors import InvalidNotification
from mboa.providers.notifications import decode_body, dedupe_key
from mboa.providers.orange_money.mapping import map_failure, map_status
from mboa.providers.orange_money.wire import Notification
from mboa.providers.types import ProviderName, ProviderNotification, TransactionStatus


def parse_notification(
    body: bytes, *, our_id: str | None = None, currency: str = "XAF"
) -> ProviderNotification:
    payload = decode_body(body, provider=ProviderName.orange_money)
    fields: dict[str, Any] = dict(payload)
    if isinstance(payload.get("data"), dict):
        fields = {**payload["data"], **{k: v for k, v in payload.items() if k != "data"}}
    try:
        wire = Notification.model_validate(fields)
    except ValidationError as exc:
        raise InvalidNotification(
            "unreadable Orange Money notification", provider=ProviderName.orange_money
        ) from exc
    status = map_status(wire.status)
    amount: int | None = None
    if wire.amount is not None:
        try:
            amount = from_wire_amount(wire.amount, currency)
        except ValueError:
            amount = None
    raw_reason = wire.confirmtxnstatus or wire.inittxnstatus or wire.confirmtxnmessage
    return ProviderNotification(
        provider=ProviderName.orange_money,
        our_id=our_id,
        reference=wire.payToken or wire.pay_token,
        external_id=wire.orderId or wire.order_id,
        status=status,
        failure_code=(
            map_failure(
                wire.status,
                (wire.confirmtxnstatus, wire.inittxnstatus),
                (wire.confirmtxnmessage, wire.message),
            )
            if status is TransactionStatus.failed
            else None
        ),
        raw_status=wire.status,
        raw_reason=raw_reason,
        operator_transaction_id=wire.txnid,
        amount=amount,
        currency=currency if amount is not None else None,
        notification_token=wire.notif_token,
        dedupe_key=dedupe_key(ProviderName.orange_money, our_id, payload),
        payload=payload,
    )


def verify_token(notification: ProviderNotification, expected_token: str | None) -> None:
    """WebPay echoes the `notif_token` it returned at init (docs/providers-wire.md §2.1)."""
    if expected_token is None:
        return
    received = notification.notification_token or ""
    if not hmac.compare_digest(received.encode(), expected_token.encode()):
        raise InvalidNotification(
            "notif_token does not match the one Orange returned at init",
            provider=ProviderName.orange_money,
        )
