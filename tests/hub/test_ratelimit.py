"""The shared limiters, with time passed in."""

from __future__ import annotations

from hub.ratelimit import SlidingWindows, TokenBucket


def test_token_bucket_takes_spends_into_debt_and_waits() -> None:
    bucket = TokenBucket(rate=4.0, burst=2)
    assert [bucket.take(10.0) for _ in range(3)] == [True, True, False]
    assert bucket.wait(10.0) == 0.25  # one token at 4/s
    bucket.spend(10.25, 3.0)  # one refilled, three spent: two in debt
    assert bucket.wait(10.25, 0.0) == 0.5
    assert bucket.refill(100.0) == 2.0  # capped at the burst


def test_sliding_windows_count_per_key_and_forget_the_oldest_key() -> None:
    windows = SlidingWindows(limit=2, window=10.0, max_keys=2)
    windows.add("a", 0.0)
    windows.add("a", 4.0)
    assert windows.retry_after("a", 5.0) == 5.0  # full until the first ages out at 10
    assert windows.retry_after("a", 10.0) == 0.0
    windows.add("b", 11.0)
    windows.add("c", 11.0)  # a third key: the least recently used ("a") is dropped
    assert len(windows) == 2 and windows.retry_after("a", 11.0) == 0.0
    windows.add("b", 12.0)
    assert windows.retry_after("b", 12.0) == 9.0
    windows.forget("b")
    assert windows.retry_after("b", 12.0) == 0.0
