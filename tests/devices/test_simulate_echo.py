"""A tiny line protocol used to test the I/O layer, and its own sans-I/O tests.

Wire format, one command or reply per line ending in CR::

    PING n      → PONG n        ANNOUNCE t → OK, later (poll) NOTE t
    FAIL n      → ERR n         COUNT      → COUNT k (pings ever received)
    any, with the "busy" fault on → BUSY (retryable)

``EchoSession`` implements :class:`devices.session.DeviceSession` and
``EchoDevice`` implements :class:`devices.virtual.VirtualDevice`; the link,
transport and simulator tests run real bytes between them. Other modules
import these classes; the simulator subprocess loads ``EchoDevice`` by its
``tests.devices.test_simulate_echo:EchoDevice`` path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from devices.errors import (
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
    RemoteProtocolError,
)
from devices.link import DeviceLink
from devices.session import Completed, Failed, Fault, Sent, SessionEvent, Unsolicited

GREETING = b"ECHO READY\r"


@dataclass(frozen=True, slots=True)
class Ping:
    n: int


@dataclass(frozen=True, slots=True)
class Fail:
    n: int


@dataclass(frozen=True, slots=True)
class Announce:
    text: str


@dataclass(frozen=True, slots=True)
class Count:
    pass


@dataclass(frozen=True, slots=True)
class Note:
    text: str


def encode(command: Any) -> bytes:
    match command:
        case Ping(n):
            return f"PING {n}\r".encode()
        case Fail(n):
            return f"FAIL {n}\r".encode()
        case Announce(text):
            return f"ANNOUNCE {text}\r".encode()
        case Count():
            return b"COUNT\r"
    raise LocalProtocolError(f"echo cannot say {command!r}")


class EchoSession:
    """One outstanding command, ``timeout`` seconds each, resync on CR."""

    def __init__(self, *, timeout: float = 0.2) -> None:
        self.timeout = timeout
        self._queue: deque[Any] = deque()
        self._current: Any = None
        self._deadline: float | None = None
        self._buffer = b""
        self._out = b""
        self._events: list[SessionEvent] = []
        self._connected = False

    def connection_made(self, *, now: float) -> None:
        self._connected = True
        self._buffer = b""
        self._start(now)

    def connection_lost(self, *, now: float) -> None:
        self._connected = False
        pending = ([self._current] if self._current is not None else []) + list(self._queue)
        self._current, self._deadline, self._out = None, None, b""
        self._queue.clear()
        for command in pending:
            error = DeviceUnavailableError("echo line lost")
            self._events.append(Failed(command, error, retryable=True))

    def send(self, command: Any, *, now: float) -> None:
        encode(command)  # raises for what the protocol cannot say
        self._queue.append(command)
        self._start(now)

    def data_to_send(self) -> bytes:
        out, self._out = self._out, b""
        return out

    def data_written(self, *, now: float) -> None:
        pass

    def receive_data(self, data: bytes, *, now: float) -> None:
        self._buffer += data
        while b"\r" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\r")
            self._line(line, now)

    def next_deadline(self) -> float | None:
        return self._deadline

    def handle_timeout(self, *, now: float) -> None:
        if self._deadline is not None and now >= self._deadline:
            error = DeviceTimeoutError(f"no reply to {self._current}")
            self._finish(Failed(self._current, error, retryable=True), now)

    def events(self) -> list[SessionEvent]:
        events, self._events = self._events, []
        return events

    def _start(self, now: float) -> None:
        if self._connected and self._current is None and self._queue:
            self._current = self._queue.popleft()
            raw = encode(self._current)
            self._out += raw
            self._deadline = now + self.timeout
            self._events.append(Sent(self._current, raw))

    def _finish(self, event: Completed | Failed, now: float) -> None:
        self._events.append(event)
        self._current, self._deadline = None, None
        self._start(now)

    def _line(self, line: bytes, now: float) -> None:
        raw = line + b"\r"
        try:
            words = line.decode("ascii").split()
        except UnicodeDecodeError:
            words = []
        current = self._current
        match words:
            case ["NOTE", text]:
                self._events.append(Unsolicited(Note(text), raw))
            case ["ECHO", "READY"]:
                self._events.append(Unsolicited(Note("ready"), raw))
            case ["PONG", n] if n.isdigit() and current == Ping(int(n)):
                self._finish(Completed(current, int(n), raw), now)
            case ["OK"] if isinstance(current, Announce):
                self._finish(Completed(current, None, raw), now)
            case ["COUNT", k] if k.isdigit() and isinstance(current, Count):
                self._finish(Completed(current, int(k), raw), now)
            case ["ERR", n] if current is not None:
                error = DeviceReportedError(f"echo error {n}", code=n, raw=raw)
                self._finish(Failed(current, error, retryable=False), now)
            case ["BUSY"] if current is not None:
                error = DeviceReportedError("echo busy", code="busy", raw=raw)
                self._finish(Failed(current, error, retryable=True), now)
            case _:
                self._events.append(Fault(RemoteProtocolError(f"bad line {line!r}", raw=raw)))


class EchoDevice:
    """The simulated peer of :class:`EchoSession`; its state outlives connections."""

    faults = frozenset({"busy"})
    frame_end = b"\r"

    def __init__(self, *, note_delay: float = 0.05) -> None:
        self.note_delay = note_delay
        self.pings = 0
        self.busy = False
        self.connections = 0
        self._buffer = b""
        self._notes: list[tuple[float, str]] = []

    def connected(self, *, now: float) -> bytes:
        self.connections += 1
        self._buffer = b""
        return GREETING

    def receive(self, data: bytes, *, now: float) -> bytes:
        self._buffer += data
        out = b""
        while b"\r" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\r")
            out += self._answer(line.decode("ascii", "replace").split(), now)
        return out

    def poll(self, *, now: float) -> bytes:
        due = [text for at, text in self._notes if at <= now]
        self._notes = [(at, text) for at, text in self._notes if at > now]
        return b"".join(f"NOTE {text}\r".encode() for text in due)

    def set_fault(self, name: str, active: bool) -> None:
        if name not in self.faults:
            raise ValueError(f"unknown echo fault {name!r}")
        self.busy = active

    def _answer(self, words: list[str], now: float) -> bytes:
        if self.busy:
            return b"BUSY\r"
        match words:
            case ["PING", n]:
                self.pings += 1
                return f"PONG {n}\r".encode()
            case ["FAIL", n]:
                return f"ERR {n}\r".encode()
            case ["ANNOUNCE", text]:
                self._notes.append((now + self.note_delay, text))
                return b"OK\r"
            case ["COUNT"]:
                return f"COUNT {self.pings}\r".encode()
        return b"ERR 99\r"


#: Every wait in these tests is a multiple of this (seconds); raise it on a slow machine.
UNIT = 0.05


async def eventually(predicate: Callable[[], object], *, within: float = 40 * UNIT) -> None:
    """Wait until ``predicate()`` is true, checking every few milliseconds.

    Raises:
        AssertionError: still false after ``within`` seconds.
    """
    for _ in range(int(within / 0.005) + 1):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"condition not met within {within} s")


@contextlib.asynccontextmanager
async def running(link: DeviceLink) -> AsyncIterator[DeviceLink]:
    """Run ``link`` in a task group for the duration of the block."""
    async with link, asyncio.TaskGroup() as tg:
        task = tg.create_task(link.run(), name=f"device {link.name}")
        try:
            yield link
        finally:
            task.cancel()


def wire(session: EchoSession, device: EchoDevice, *, now: float) -> None:
    """Move bytes session → device → session until both are quiet."""
    while out := session.data_to_send():
        session.receive_data(device.receive(out, now=now), now=now)


def test_echo_session_ping_completes_against_device() -> None:
    session, device = EchoSession(), EchoDevice()
    session.connection_made(now=0.0)
    session.receive_data(device.connected(now=0.0), now=0.0)
    session.send(Ping(3), now=0.0)
    session.send(Fail(4), now=0.0)
    wire(session, device, now=0.0)
    events = session.events()
    assert events[0] == Unsolicited(Note("ready"), GREETING)
    assert Completed(Ping(3), 3, b"PONG 3\r") in events
    failed = [e for e in events if isinstance(e, Failed)]
    assert str(failed[0].error) == "echo error 4" and not failed[0].retryable


def test_echo_session_timeout_and_garbage_resync() -> None:
    session = EchoSession(timeout=0.5)
    session.connection_made(now=0.0)
    session.send(Ping(1), now=0.0)
    assert session.data_to_send() == b"PING 1\r"
    session.receive_data(b"\x85\x86\rPONG 1\r", now=0.1)
    kinds = [type(e) for e in session.events()]
    assert kinds == [Sent, Fault, Completed]
    session.send(Ping(2), now=1.0)
    assert session.next_deadline() == 1.5
    session.handle_timeout(now=1.5)
    failed = session.events()[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, DeviceTimeoutError)


def test_echo_device_busy_fault_and_unknown_fault() -> None:
    device = EchoDevice()
    device.set_fault("busy", True)
    assert device.receive(b"PING 1\r", now=0.0) == b"BUSY\r"
    with pytest.raises(ValueError, match="unknown echo fault"):
        device.set_fault("melted", True)
