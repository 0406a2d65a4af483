"""The shared decode pool: bounds, order, errors, and callers never stuck behind helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.hub.conftest import TIMEOUT
from transcription.decode_pool import MAX_THREADS, DecodePool, default_threads, shared_decode_pool


class Gate:
    """Jobs that report entering and wait until released."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.entered: list[str] = []
        self.released = threading.Event()

    def job(self, value: int) -> Callable[[], int]:
        def run() -> int:
            with self.cond:
                self.entered.append(threading.current_thread().name)
                self.cond.notify_all()
            assert self.released.wait(TIMEOUT)
            return value

        return run

    def wait_entered(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.entered) >= n, TIMEOUT), self.entered


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(call()), name="caller")
    thread.start()
    return thread, out


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threads": 0}, "threads"),
        ({"threads": MAX_THREADS + 1}, "threads"),
        ({"threads": 2, "max_queued": 0}, "max_queued"),
    ],
)
def test_decode_pool_rejects_bounds_out_of_range(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DecodePool(**kwargs)


def test_decode_pool_runs_at_most_threads_jobs_of_a_batch_at_once() -> None:
    pool = DecodePool(3)
    gate = Gate()
    caller, out = in_thread(lambda: pool.run([gate.job(i) for i in range(6)]))
    gate.wait_entered(3)
    # The caller and both helpers are inside a job; the other three wait, queued.
    assert pool.helpers == 2 and pool.queued == 3
    assert len(gate.entered) == 3 and len(set(gate.entered)) == 3
    gate.released.set()
    caller.join(TIMEOUT)
    assert out == [[0, 1, 2, 3, 4, 5]]  # in job order, whoever ran them
    assert set(gate.entered) <= {"caller", "decode-1", "decode-2"}
    pool.close()


def test_decode_pool_caller_runs_its_jobs_when_helpers_are_stuck_and_queue_full() -> None:
    pool = DecodePool(2, max_queued=1)
    stuck = Gate()
    # Another engine's batch holds the only helper (and its own caller).
    other, _ = in_thread(lambda: pool.run([stuck.job(0), stuck.job(1)]))
    stuck.wait_entered(2)
    assert "decode-1" in stuck.entered
    ran: list[str] = []

    def job(value: int) -> Callable[[], int]:
        def run() -> int:
            ran.append(threading.current_thread().name)
            return value

        return run

    # One job fills the queue, one finds it full; the caller runs all three itself.
    assert pool.run([job(0), job(1), job(2)]) == [0, 1, 2]
    assert ran == [threading.current_thread().name] * 3
    assert pool.queued <= pool.max_queued == 1
    stuck.released.set()
    other.join(TIMEOUT)
    pool.close()


def test_decode_pool_raises_the_first_failure_in_order_after_all_finished() -> None:
    pool = DecodePool(2)
    done: list[int] = []

    class First(Exception):
        pass

    class Second(Exception):
        pass

    def ok(i: int) -> Callable[[], int]:
        def run() -> int:
            done.append(i)
            return i

        return run

    def fail(error: Exception) -> Callable[[], int]:
        def run() -> int:
            raise error

        return run

    for _ in range(20):  # whichever thread runs which job
        done.clear()
        with pytest.raises(First):
            pool.run([ok(0), fail(First()), fail(Second()), ok(3)])
        assert sorted(done) == [0, 3]
    assert pool.run([ok(i) for i in range(8)]) == list(range(8))  # the pool goes on
    pool.close()


def test_decode_pool_of_one_thread_runs_everything_on_the_caller() -> None:
    pool = DecodePool(1)
    names = pool.run([lambda: threading.current_thread().name for _ in range(4)])
    assert names == [threading.current_thread().name] * 4 and pool.helpers == 0


def test_decode_pool_after_close_runs_inline() -> None:
    pool = DecodePool(2)
    assert pool.run([lambda: 1, lambda: 2]) == [1, 2] and pool.helpers == 1
    pool.close()
    names = pool.run([lambda: threading.current_thread().name for _ in range(3)])
    assert names == [threading.current_thread().name] * 3


def test_shared_decode_pool_is_one_per_process_sized_to_the_cores() -> None:
    pool = shared_decode_pool()
    assert shared_decode_pool() is pool
    assert shared_decode_pool(pool.threads) is pool
    assert pool.threads == default_threads() >= 1
    with pytest.raises(ValueError, match="already has"):
        shared_decode_pool(pool.threads + 1)
