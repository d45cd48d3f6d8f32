from __future__ import annotations

from mboa.kit.pagination import CreatedRange, created_range
from mboa.kit.time import MAX_UNIX_TIME, from_unix


async def test_each_form_names_whole_seconds_as_a_half_open_interval() -> None:
    t = 1_800_000_000
    assert await created_range(created=t) == CreatedRange(from_unix(t), from_unix(t + 1))
    assert await created_range(created_gt=t) == CreatedRange(from_unix(t + 1), None)
    assert await created_range(created_gte=t) == CreatedRange(from_unix(t), None)
    assert await created_range(created_lt=t) == CreatedRange(None, from_unix(t))
    assert await created_range(created_lte=t) == CreatedRange(None, from_unix(t + 1))
    assert await created_range() == CreatedRange(None, None)


async def test_the_tightest_bounds_win() -> None:
    got = await created_range(created_gt=10, created_gte=20, created_lt=100, created_lte=50)
    assert got == CreatedRange(from_unix(20), from_unix(51))


async def test_the_last_representable_second_has_no_upper_bound_after_it() -> None:
    got = await created_range(created_lte=MAX_UNIX_TIME)
    assert got == CreatedRange(None, None)
    got = await created_range(created=MAX_UNIX_TIME)
    assert got == CreatedRange(from_unix(MAX_UNIX_TIME), None)
