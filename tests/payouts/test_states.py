"""The payout's transition table (mboa/payouts/states.py), explored by Hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mboa.payouts.states import TRANSITIONS, Action, Status, transition


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


def test_nothing_cancels_a_payout_in_transit() -> None:
    assert transition(Status.in_transit, Action.cancel) is None
    assert transition(Status.in_transit, Action.reject) is None
    assert transition(Status.pending, Action.succeed) is None  # sent first, always


@given(st.lists(st.sampled_from(list(Action)), max_size=30))
def test_any_sequence_follows_the_table(actions: list[Action]) -> None:
    status = Status.pending
    for action in actions:
        after = transition(status, action)
        assert after == TRANSITIONS.get((status, action))
        if status.is_final:
            assert after is None
        status = after or status


AMOUNT = 5000
BALANCE = 8000


class PayoutMachine(RuleBasedStateMachine):
    """One payout and the merchant's money, applying the ledger calls the service makes on each
    transition (reserve at creation, post on `succeed`, release on `fail`/`cancel`/`reject`):
    whatever the order of merchant, staff, worker and operator actions, the amount is held while
    the payout is open, leaves exactly once if paid, and comes back exactly once otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.pending
        self.available = BALANCE - AMOUNT  # reserved at creation
        self.reserved = AMOUNT
        self.sent_out = 0
        self.final_seen: Status | None = None

    def _apply(self, action: Action) -> None:
        after = transition(self.status, action)
        if after is None:
            return  # refused: nothing written
        if after == Status.paid:
            self.reserved -= AMOUNT
            self.sent_out += AMOUNT
        elif after in (Status.failed, Status.canceled):
            self.reserved -= AMOUNT
            self.available += AMOUNT
        self.status = after

    @rule(action=st.sampled_from([Action.cancel, Action.approve, Action.reject]))
    def people(self, action: Action) -> None:
        self._apply(action)

    @rule()
    def worker_sends(self) -> None:
        self._apply(Action.send)

    @rule(success=st.booleans(), repeats=st.integers(min_value=1, max_value=3))
    def operator_answers(self, success: bool, repeats: int) -> None:
        for _ in range(repeats):  # duplicate callbacks and status reads
            self._apply(Action.succeed if success else Action.fail)

    @invariant()
    def money_is_conserved(self) -> None:
        assert self.available + self.reserved + self.sent_out == BALANCE
        assert min(self.available, self.reserved, self.sent_out) >= 0
        assert self.reserved == (0 if self.status.is_final else AMOUNT)
        assert self.sent_out == (AMOUNT if self.status == Status.paid else 0)
        if self.final_seen is not None:
            assert self.status == self.final_seen
        if self.status.is_final:
            self.final_seen = self.status


TestPayoutMachine = PayoutMachine.TestCase
