"""The refund's transition table (mboa/refunds/states.py), explored by Hypothesis, and the
share of the fee a refund gives back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mboa.refunds.service import fee_share
from mboa.refunds.states import TRANSITIONS, Action, Status, transition


def test_every_status_is_reachable_and_only_final_ones_are_dead_ends() -> None:
    reachable = {Status.pending}
    frontier = [Status.pending]
    while frontier:
        status = frontier.pop()
        for action in Action:
            after = transition(status, action)
            if after is not None and after not in reachable:
                reachable.add(after)
                frontier.append(after)
    assert reachable == set(Status)
    for status in Status:
        leaves = [a for a in Action if transition(status, a) is not None]
        assert (not leaves) == status.is_final, status


@given(st.lists(st.sampled_from(list(Action)), max_size=20))
def test_any_sequence_follows_the_table_and_moves_once(actions: list[Action]) -> None:
    status = Status.pending
    moves = 0
    for action in actions:
        after = transition(status, action)
        assert after == TRANSITIONS.get((status, action))
        if status.is_final:
            assert after is None
        if after is not None:
            moves += 1
        status = after or status
    assert moves <= 1


class RefundsOfOnePayment(RuleBasedStateMachine):
    """A model of one payment's refunds: whatever the order of creations and operator answers
    (duplicates included), what is reserved or refunded never exceeds what was received, the
    merchant's reservation is released exactly for failed refunds and posted exactly for
    succeeded ones."""

    received = 10_000

    def __init__(self) -> None:
        super().__init__()
        self.refunds: dict[int, tuple[int, Status]] = {}
        self.amount_refunded = 0  # what the intent shows: pending + succeeded
        self.posted = 0
        self.released = 0

    @rule(amount=st.integers(min_value=-5, max_value=12_000))
    def create(self, amount: int) -> None:
        if amount <= 0 or amount > self.received - self.amount_refunded:
            return  # refused with a 4xx, nothing written
        self.refunds[len(self.refunds)] = (amount, Status.pending)
        self.amount_refunded += amount

    @precondition(lambda self: bool(self.refunds))
    @rule(data=st.data(), action=st.sampled_from(list(Action)))
    def operator_answers(self, data: st.DataObject, action: Action) -> None:
        index = data.draw(st.sampled_from(sorted(self.refunds)))
        amount, status = self.refunds[index]
        after = transition(status, action)
        if after is None:
            return  # a duplicate or late answer changes nothing
        self.refunds[index] = (amount, after)
        if after is Status.succeeded:
            self.posted += amount
        else:
            self.released += amount
            self.amount_refunded -= amount

    @invariant()
    def never_more_than_received(self) -> None:
        assert 0 <= self.amount_refunded <= self.received
        assert self.posted <= self.received
        by_status = {s: sum(a for a, st_ in self.refunds.values() if st_ is s) for s in Status}
        assert self.posted == by_status[Status.succeeded]
        assert self.released == by_status[Status.failed]
        assert self.amount_refunded == by_status[Status.pending] + by_status[Status.succeeded]


TestRefundsOfOnePayment = RefundsOfOnePayment.TestCase


@given(
    received=st.integers(min_value=1, max_value=10**9),
    rate=st.integers(min_value=0, max_value=10_000),
    cuts=st.lists(st.tuples(st.floats(min_value=0, max_value=1), st.booleans()), max_size=8),
)
def test_fee_shares_never_exceed_the_fee_and_add_up_to_it(
    received: int, rate: int, cuts: list[tuple[float, bool]]
) -> None:
    """However a payment is refunded in parts, some of which fail (their share and amount come
    back), each part leaves the merchant at least 1 to pay, the fee returned never exceeds the
    fee, and a full refund whose last part is larger than the fee left returns all of it."""
    fee = received * rate // 10_000
    points = sorted({int(received * c) for c, _ in cuts})
    fails = [failed for _, failed in sorted(cuts)]
    refunded = returned = 0
    for point, failed in zip(points, fails, strict=False):
        amount = point - refunded
        if amount <= 0:
            continue
        share = fee_share(fee, received, refunded, amount, returned)
        assert 0 <= share <= amount - 1
        if not failed:
            refunded += amount
            returned += share
        assert returned <= fee
    last = received - refunded
    if last > 0:
        share = fee_share(fee, received, refunded, last, returned)
        assert 0 <= share <= last - 1
        returned += share
        if last > fee - (returned - share):
            assert returned == fee
    assert returned <= fee
