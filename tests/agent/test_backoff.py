"""Backoff policy and error classification: pure, no I/O."""

from __future__ import annotations

import errno
import random
from itertools import islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courtroom_core.backoff import Backoff, BackoffPolicy, ErrorClass, classify


def test_backoff_delays_without_jitter_double_up_to_maximum() -> None:
    policy = BackoffPolicy(initial=0.5, maximum=5.0, factor=2.0, jitter=0.0)
    assert list(islice(policy.delays(), 7)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_backoff_delays_seeded_random_are_reproducible() -> None:
    policy = BackoffPolicy(initial=1.0, maximum=60.0, factor=3.0, jitter=0.5)
    first = list(islice(policy.delays(random=random.Random(7).random), 10))
    again = list(islice(policy.delays(random=random.Random(7).random), 10))
    other = list(islice(policy.delays(random=random.Random(8).random), 10))
    assert first == again
    assert first != other


def test_backoff_delays_jitter_uses_injected_random() -> None:
    policy = BackoffPolicy(initial=2.0, maximum=8.0, factor=2.0, jitter=0.5)
    assert list(islice(policy.delays(random=lambda: 0.5), 4)) == [1.5, 3.0, 6.0, 6.0]
    assert list(islice(policy.delays(random=lambda: 0.0), 3)) == [2.0, 4.0, 8.0]


@given(
    initial=st.floats(0.001, 10),
    spread=st.floats(1, 100),
    factor=st.floats(1, 4),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_backoff_delays_stay_within_bounds(
    initial: float, spread: float, factor: float, jitter: float, seed: int
) -> None:
    policy = BackoffPolicy(initial=initial, maximum=initial * spread, factor=factor, jitter=jitter)
    for n, delay in enumerate(islice(policy.delays(random=random.Random(seed).random), 40)):
        base = min(policy.maximum, initial * factor**n)
        assert base * (1 - jitter) - 1e-9 <= delay <= base + 1e-9
        assert 0 <= delay <= policy.maximum + 1e-9


def test_backoff_reset_starts_over_from_initial() -> None:
    backoff = Backoff(BackoffPolicy(initial=1.0, maximum=10.0, jitter=0.0))
    assert [backoff.next() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff.failures == 4
    backoff.reset()
    assert backoff.failures == 0
    assert [backoff.next() for _ in range(2)] == [1.0, 2.0]


@pytest.mark.parametrize(
    "options",
    [
        {"initial": 0},
        {"initial": 2.0, "maximum": 1.0},
        {"factor": 0.5},
        {"jitter": -0.1},
        {"jitter": 1.5},
    ],
)
def test_backoff_policy_rejects_bad_options(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        BackoffPolicy(**options)


class _Declared(Exception):
    error_class = ErrorClass.CONFIG


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ErrorClass.TRANSIENT),
        (ConnectionResetError(), ErrorClass.TRANSIENT),
        (TimeoutError(), ErrorClass.TRANSIENT),
        (FileNotFoundError(errno.ENOENT, "/dev/ttyUSB0"), ErrorClass.TRANSIENT),
        (OSError(errno.EHOSTUNREACH, "no route"), ErrorClass.TRANSIENT),
        (EOFError(), ErrorClass.TRANSIENT),
        (PermissionError(errno.EACCES, "/dev/ttyUSB0"), ErrorClass.CONFIG),
        (_Declared(), ErrorClass.CONFIG),
        (ValueError("bug"), ErrorClass.FATAL),
        (KeyError("bug"), ErrorClass.FATAL),
    ],
)
def test_classify_maps_errors(exc: BaseException, expected: ErrorClass) -> None:
    assert classify(exc) is expected
