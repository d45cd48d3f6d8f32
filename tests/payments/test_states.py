"""The payment intent's transition table (mboa/payments/states.py), explored by Hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mboa.payments.states import LATE_SUCCESS, TRANSITIONS, Action, Status, transition


def test_every_status_is_reachable_and_only_final_ones_are_dead_ends() -> None:
    reachable = {Status.requires_payment_method}
    frontier = [Status.requires_payment_method]
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


def test_merchants_cannot_cancel_while_an_attempt_runs() -> None:
    assert transition(Status.processing, Action.cancel) is None
    assert transition(Status.processing, Action.expire) is Status.canceled


@given(st.lists(st.sampled_from(list(Action)), max_size=30))
def test_any_sequence_follows_the_table(actions: list[Action]) -> None:
    status = Status.requires_payment_method
    for action in actions:
        after = transition(status, action)
        assert after == TRANSITIONS.get((status, action))
        if status.is_final:
            assert after is None
        status = after or status


class IntentMachine(RuleBasedStateMachine):
    """A model of one intent and its attempts: whatever the order of confirmations, operator
    answers, cancels and expiries, money is counted at most once per attempt, a success is
    never lost, and a final status never changes."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.requires_payment_method
        self.pending: list[int] = []  # attempts with the operator
        self.next_attempt = 0
        self.collected: set[int] = set()  # attempts whose success was posted
        self.late: set[int] = set()
        self.watched: list[int] = []  # failed for an unknown outcome: still read (24 h)
        self.final_seen: Status | None = None

    @rule()
    def confirm(self) -> None:
        after = transition(self.status, Action.confirm)
        if after is not None:
            self.status = after
            self.pending.append(self.next_attempt)
            self.next_attempt += 1

    @rule(data=st.data(), success=st.booleans())
    def operator_answers(self, data: st.DataObject, success: bool) -> None:
        if not self.pending:
            return
        attempt = data.draw(st.sampled_from(self.pending))
        self.pending.remove(attempt)
        if success:
            assert attempt not in self.collected
            self.collected.add(attempt)  # posted whatever the status: never dropped
            after = transition(self.status, Action.attempt_succeeded)
            if after is None:
                assert self.status in LATE_SUCCESS
                self.late.add(attempt)
            else:
                self.status = after
        else:
            self.status = transition(self.status, Action.attempt_failed) or self.status

    @rule(data=st.data())
    def operator_unreachable(self, data: st.DataObject) -> None:
        """The sending gave up on an outage: failed, but the operator may hold it."""
        if not self.pending:
            return
        attempt = data.draw(st.sampled_from(self.pending))
        self.pending.remove(attempt)
        self.watched.append(attempt)
        self.status = transition(self.status, Action.attempt_failed) or self.status

    @rule(data=st.data())
    def a_failed_attempt_is_read_succeeded(self, data: st.DataObject) -> None:
        if not self.watched:
            return
        attempt = data.draw(st.sampled_from(self.watched))
        self.watched.remove(attempt)
        assert attempt not in self.collected
        self.collected.add(attempt)
        after = transition(self.status, Action.failed_attempt_succeeded)
        if after is None:
            assert self.status in LATE_SUCCESS
            self.late.add(attempt)
        else:
            # The intent is paid by it; an attempt still with the operator would be late.
            assert after is Status.succeeded
            self.status = after

    @rule(action=st.sampled_from([Action.cancel, Action.expire]))
    def stop(self, action: Action) -> None:
        self.status = transition(self.status, action) or self.status

    @invariant()
    def consistent(self) -> None:
        if self.final_seen is not None:
            assert self.status == self.final_seen
        if self.status.is_final:
            self.final_seen = self.status
        assert len(self.pending) <= 1  # one attempt at a time
        if self.status == Status.succeeded:
            assert len(self.collected - self.late) == 1, (self.collected, self.late)
        else:
            assert not (self.collected - self.late)


TestIntentMachine = IntentMachine.TestCase
