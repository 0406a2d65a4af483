"""The sans-I/O session contract every device protocol implements.

A session owns the protocol state of one device connection: which command is
outstanding, its deadline, partial input, authentication. It never touches a
socket or a serial port and never reads a clock; the transport
(:mod:`devices.transport`) moves bytes and passes ``now`` in::

    session.connection_made(now=t)          # transport opened (TCP connect, port open)
    session.send(command, now=t)            # queue a command (one outstanding at a time)
    wire_bytes = session.data_to_send()     # transport writes these, then
    session.data_written(now=t)             # once they are written and drained
    session.receive_data(chunk, now=t)      # transport read these
    deadline = session.next_deadline()      # transport wakes then and calls:
    session.handle_timeout(now=t)
    for event in session.events(): ...      # Completed / Failed / Unsolicited / Fault / Sent
    session.connection_lost(now=t)          # outstanding and queued commands fail

Commands complete strictly in order, normally on the device's reply; a
protocol without replies (Pelco-D) completes a command in ``data_written``.
A command whose reply never comes fails with DeviceTimeoutError after its
timeout; per-kind retry is the caller's policy (``Failed.retryable``).
Garbage input becomes a ``Fault`` event carrying a RemoteProtocolError, and
the session resynchronises on the protocol's next frame boundary; it never
raises from ``receive_data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from devices.errors import DeviceError

__all__ = [
    "Completed",
    "DeviceSession",
    "Failed",
    "Fault",
    "Sent",
    "SessionEvent",
    "Unsolicited",
]


@dataclass(frozen=True, slots=True)
class Sent:
    """Bytes for ``command`` went out (for the audit trail)."""

    command: Any
    raw: bytes


@dataclass(frozen=True, slots=True)
class Completed:
    """``command`` succeeded; ``reply`` is its decoded answer (None if none)."""

    command: Any
    reply: Any
    raw: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    """``command`` failed; ``retryable`` says whether sending it again may help."""

    command: Any
    error: DeviceError
    retryable: bool


@dataclass(frozen=True, slots=True)
class Unsolicited:
    """The device said something on its own (state change, notification)."""

    message: Any
    raw: bytes


@dataclass(frozen=True, slots=True)
class Fault:
    """Input that is not a valid message; already skipped."""

    error: DeviceError


SessionEvent = Sent | Completed | Failed | Unsolicited | Fault


class DeviceSession(Protocol):
    """What a protocol session offers its transport. See the module docstring."""

    def connection_made(self, *, now: float) -> None: ...

    def connection_lost(self, *, now: float) -> None: ...

    def send(self, command: Any, *, now: float) -> None: ...

    def data_to_send(self) -> bytes: ...

    def data_written(self, *, now: float) -> None: ...

    def receive_data(self, data: bytes, *, now: float) -> None: ...

    def next_deadline(self) -> float | None: ...

    def handle_timeout(self, *, now: float) -> None: ...

    def events(self) -> list[SessionEvent]: ...
