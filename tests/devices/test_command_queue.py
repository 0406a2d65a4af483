"""CommandQueue: order, bound and overflow policy, deadlines, fail_all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.command_queue import CommandQueue, Pending
from devices.errors import (
    DeviceError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
)
from devices.session import Completed, Failed, Sent, SessionEvent


def timeout_error(pending: Pending[str]) -> DeviceError:
    return DeviceTimeoutError(f"no reply to {pending.command}", device="dev", raw=pending.raw)


def make_queue(
    events: list[SessionEvent], *, max_queue: int = 2, timeout: float = 1.0
) -> CommandQueue[str]:
    return CommandQueue(
        events,
        max_queue=max_queue,
        device="dev",
        full_message="queue full",
        timeout=timeout,
        timeout_error=timeout_error,
    )


def test_queue_start_next_sends_oldest_with_deadline() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events)
    assert queue.submit("a", b"A") and queue.submit("b", b"B")
    pending = queue.start_next(now=10.0)
    assert pending == Pending("a", b"A", deadline=11.0)
    assert queue.outstanding == pending
    assert queue.next_deadline() == 11.0
    assert queue.waiting == 1
    assert events == [Sent("a", b"A")]


def test_queue_submit_front_goes_ahead_of_waiting_not_of_outstanding() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events, max_queue=3)
    queue.submit("a", b"A")
    queue.start_next(now=0.0)
    queue.submit("b", b"B")
    assert queue.submit("hello", b"H", front=True)
    assert queue.start_next(now=0.5) is None  # "a" is still outstanding
    queue.complete(None, b"")
    assert queue.start_next(now=1.0) == Pending("hello", b"H", deadline=2.0)
    queue.complete(None, b"")
    assert queue.start_next(now=1.0) == Pending("b", b"B", deadline=2.0)


def test_queue_start_next_while_busy_or_empty_does_nothing() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events)
    assert queue.start_next(now=0.0) is None
    queue.submit("a", b"A")
    queue.submit("b", b"B")
    queue.start_next(now=0.0)
    assert queue.start_next(now=0.5) is None
    assert events == [Sent("a", b"A")]
    assert queue.next_deadline() == 1.0


def test_queue_full_fails_new_command_retryable_and_keeps_waiting_ones() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events, max_queue=1)
    assert queue.submit("a", b"A")
    assert not queue.submit("b", b"B")
    [failed] = events
    assert isinstance(failed, Failed) and failed.command == "b" and failed.retryable
    assert isinstance(failed.error, DeviceUnavailableError)
    assert (failed.error.message, failed.error.device) == ("queue full", "dev")
    assert queue.start_next(now=0.0) == Pending("a", b"A", deadline=1.0)


def test_queue_bound_counts_only_waiting_commands() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events, max_queue=1)
    queue.submit("a", b"A")
    queue.start_next(now=0.0)
    assert queue.submit("b", b"B")
    assert not queue.submit("c", b"C")


def test_queue_complete_and_fail_emit_for_outstanding_command() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events)
    queue.submit("a", b"A")
    queue.submit("b", b"B")
    queue.start_next(now=0.0)
    queue.complete(42, b"reply")
    queue.start_next(now=1.0)
    error = DeviceUnavailableError("nope")
    assert queue.fail(error, retryable=False).command == "b"
    assert events == [
        Sent("a", b"A"),
        Completed("a", 42, b"reply"),
        Sent("b", b"B"),
        Failed("b", error, False),
    ]
    assert queue.outstanding is None and queue.next_deadline() is None


@pytest.mark.parametrize("action", ["complete", "fail", "rearm"])
def test_queue_finishing_with_nothing_outstanding_raises(action: str) -> None:
    queue = make_queue([])
    with pytest.raises(LocalProtocolError):
        match action:
            case "complete":
                queue.complete(None, b"")
            case "fail":
                queue.fail(DeviceUnavailableError("x"), retryable=True)
            case _:
                queue.rearm(deadline=1.0)


def test_queue_expire_before_deadline_does_nothing() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events)
    queue.submit("a", b"A")
    queue.start_next(now=0.0)
    assert not queue.expire(now=0.999)
    assert events == [Sent("a", b"A")]


def test_queue_expire_at_deadline_fails_retryable_with_timeout_error() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events)
    queue.submit("a", b"A")
    queue.start_next(now=0.0)
    assert queue.expire(now=1.0)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.command == "a" and failed.retryable
    assert isinstance(failed.error, DeviceTimeoutError)
    assert (failed.error.message, failed.error.raw) == ("no reply to a", b"A")
    assert queue.outstanding is None
    assert not queue.expire(now=5.0)


def test_queue_rearm_moves_deadline() -> None:
    queue = make_queue([])
    queue.submit("a", b"A")
    queue.start_next(now=0.0)
    queue.rearm(deadline=9.0)
    assert queue.next_deadline() == 9.0
    assert not queue.expire(now=5.0)
    assert queue.expire(now=9.0)


def test_queue_timeout_per_command() -> None:
    queue: CommandQueue[str] = CommandQueue(
        [],
        max_queue=4,
        device=None,
        full_message="full",
        timeout=lambda command: 10.0 if command == "slow" else 1.0,
        timeout_error=timeout_error,
    )
    queue.submit("slow", b"S")
    queue.submit("fast", b"F")
    assert queue.next_deadline() is None
    assert queue.start_next(now=1.0) == Pending("slow", b"S", deadline=11.0)
    queue.complete(None, b"")
    assert queue.start_next(now=2.0) == Pending("fast", b"F", deadline=3.0)


def test_queue_fail_all_fails_outstanding_then_waiting_in_order() -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events, max_queue=3)
    for name in "abc":
        queue.submit(name, name.encode())
    queue.start_next(now=0.0)
    error = DeviceUnavailableError("lost")
    queue.fail_all(error, retryable=True)
    assert events[1:] == [Failed(n, error, True) for n in "abc"]
    assert queue.outstanding is None and queue.waiting == 0
    assert queue.start_next(now=1.0) is None


# --- properties ---------------------------------------------------------------

_OPS = st.lists(
    st.one_of(
        st.just(("submit", 0.0)),
        st.tuples(st.just("start"), st.floats(0, 2)),
        st.just(("complete", 0.0)),
        st.just(("fail", 0.0)),
        st.tuples(st.just("expire"), st.floats(0, 2)),
        st.just(("fail_all", 0.0)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ops=_OPS, max_queue=st.integers(0, 4), timeout=st.floats(0.1, 3))
def test_queue_any_sequence_keeps_order_bound_and_answers_each_once(
    ops: list[tuple[str, float]], max_queue: int, timeout: float
) -> None:
    events: list[SessionEvent] = []
    queue = make_queue(events, max_queue=max_queue, timeout=timeout)
    now, submitted = 0.0, 0
    sent_at: dict[str, float] = {}
    for op, step in ops:
        now += step
        before = len(events)
        match op:
            case "submit":
                queue.submit(f"{submitted:03d}", b"%d" % submitted)
                submitted += 1
            case "start":
                if (pending := queue.start_next(now=now)) is not None:
                    sent_at[pending.command] = now
            case "complete" if queue.outstanding is not None:
                queue.complete(None, b"")
            case "fail" if queue.outstanding is not None:
                queue.fail(DeviceUnavailableError("x"), retryable=False)
            case "expire":
                outstanding = queue.outstanding
                expired = queue.expire(now=now)
                assert expired == (
                    outstanding is not None and now >= sent_at[outstanding.command] + timeout
                )
            case "fail_all":
                queue.fail_all(DeviceUnavailableError("lost"), retryable=True)
        assert queue.waiting <= max_queue
        if op != "start":
            assert not any(isinstance(e, Sent) for e in events[before:])
    queue.fail_all(DeviceUnavailableError("end"), retryable=True)

    sent = [e.command for e in events if isinstance(e, Sent)]
    assert sent == sorted(sent), "commands go out in submission order"
    answered = [e.command for e in events if isinstance(e, Completed | Failed)]
    assert sorted(answered) == [f"{n:03d}" for n in range(submitted)], "each answered once"
    accepted = [c for c in answered if not _rejected(events, c)]
    assert accepted == sorted(accepted), "queued commands are answered in order"
    assert all(c not in sent for c in answered if _rejected(events, c))


def _rejected(events: list[SessionEvent], command: object) -> bool:
    return any(
        isinstance(e, Failed) and e.command == command and e.error.message == "queue full"
        for e in events
    )
