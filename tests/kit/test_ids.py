from __future__ import annotations

import datetime as dt
import time

import time_machine
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from mboa.kit.ids import _encode_130, has_prefix, new_id, ulid
from mboa.kit.money import format_amount


def test_ids_are_prefixed_sortable_and_monotonic_within_a_millisecond() -> None:
    ids = [new_id("cus") for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(has_prefix(i, "cus") for i in ids)


def test_ids_are_standard_ulids_carrying_the_time() -> None:
    before = time.time()
    decoded = ULID.from_str(ulid())
    assert before - 0.01 <= decoded.timestamp <= time.time() + 0.01


def test_ids_follow_the_clock_back_after_a_large_step_but_not_a_small_one() -> None:
    """A process whose clock ran days ahead (a test's time travel, a bad NTP source) must not go
    on making ids dated days ahead once the clock is right again: exports bound ranges by ids."""
    now = dt.datetime.now(dt.UTC)
    with time_machine.travel(now + dt.timedelta(days=3), tick=False):
        ahead = ulid()
    after = ulid()
    assert ULID.from_str(after).timestamp < ULID.from_str(ahead).timestamp - 86_400
    assert abs(ULID.from_str(after).timestamp - time.time()) < 5
    # Half a second back (within the step allowed): still after the last id.
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=500), tick=False):
        behind = ulid()
    assert behind > after


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_encoding_matches_the_ulid_reference(value: int) -> None:
    assert _encode_130(value) == str(ULID.from_int(value))


def test_money_formatting_uses_minor_units() -> None:
    assert format_amount(12_500, "XAF") == "12 500 XAF"
    assert format_amount(-1999, "EUR") == "-19.99 EUR"
