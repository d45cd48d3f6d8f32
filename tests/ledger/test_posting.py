from __future__ import annotations

import pytest

from mboa.ledger.posting import BalanceTransactionType as T


def test_a_reversal_is_named_after_what_it_undoes_and_undoing_it_restores_the_name() -> None:
    assert T.payment.reversed() is T.payment_reversal
    assert T.adjustment.reversed() is T.adjustment_reversal
    assert T.payment_reversal.reversed() is T.payment
    assert T.refund.reversed().reversed() is T.refund


def test_only_payouts_and_refunds_can_fail() -> None:
    assert T.payout.failed() is T.payout_failure
    assert T.refund.failed() is T.refund_failure
    with pytest.raises(ValueError, match="payment_failure"):
        T.payment.failed()


def test_every_type_has_a_reversal_type() -> None:
    for member in T:
        assert member.reversed() in T
    assert T.payout_failure.reversed() is T.payout
