"""Sans-I/O bookkeeping for commands that take turns on one device connection.

Every request/reply protocol here (Extron SIS, PJLink, VISCA, HyperDeck) has
the same rule: one command is outstanding, the others wait in order behind
it, each outstanding command has a deadline, and a lost connection fails
them all. :class:`CommandQueue` keeps that state and appends the shared
:mod:`devices.session` events to a list the session owns; the session keeps
everything protocol-specific (login, greeting, what answers what, which
bytes go on the wire before ``raw``)::

    queue.submit(command, raw)              # waits; Failed(retryable) at once if full
    if ready and (p := queue.start_next(now=t)):  # idle: oldest goes out, Sent
        out += p.raw
    queue.complete(reply, raw) / queue.fail(error, retryable=…)
    queue.next_deadline(); queue.expire(now=t)    # overdue: Failed(DeviceTimeoutError)
    queue.fail_all(error, retryable=…)      # connection lost, login refused

Overflow policy: at most ``max_queue`` commands wait behind the outstanding
one; a command submitted beyond that fails at once with
:class:`DeviceUnavailableError` (retryable), the waiting ones keep their
place. No I/O, no clock: ``now`` is passed in.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from devices.errors import DeviceError, DeviceUnavailableError, LocalProtocolError
from devices.session import Completed, Failed, Sent, SessionEvent

__all__ = ["CommandQueue", "Pending"]

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Pending(Generic[C]):
    """A command with its wire bytes; ``deadline`` is set once it is outstanding."""

    command: C
    raw: bytes
    deadline: float | None = None


class CommandQueue(Generic[C]):
    """Commands for one device: one outstanding, at most ``max_queue`` waiting.

    Args:
        events: the session's event list; Sent, Completed and Failed go here.
        max_queue: commands that may wait behind the outstanding one.
        device: configured device name, put into the queue-full error.
        full_message: text of the queue-full :class:`DeviceUnavailableError`.
        timeout: seconds a command may take once sent, or a function giving
            them for each command.
        timeout_error: builds the error an overdue command fails with
            (retryable); given the outstanding :class:`Pending`.
    """

    def __init__(
        self,
        events: list[SessionEvent],
        *,
        max_queue: int,
        device: str | None,
        full_message: str,
        timeout: float | Callable[[C], float],
        timeout_error: Callable[[Pending[C]], DeviceError],
    ) -> None:
        self._events = events
        self._max_queue = max_queue
        self._device = device
        self._full_message = full_message
        self._timeout_for = timeout if callable(timeout) else _constant(timeout)
        self._timeout_error = timeout_error
        self._waiting: deque[Pending[C]] = deque()
        self._outstanding: Pending[C] | None = None

    def __repr__(self) -> str:
        busy = "busy" if self._outstanding is not None else "idle"
        return f"CommandQueue({busy}, waiting={len(self._waiting)}/{self._max_queue})"

    @property
    def outstanding(self) -> Pending[C] | None:
        """The command sent and not yet answered, if any."""
        return self._outstanding

    @property
    def waiting(self) -> int:
        """How many commands wait behind the outstanding one."""
        return len(self._waiting)

    def submit(self, command: C, raw: bytes, *, front: bool = False) -> bool:
        """Queue ``command``; if ``max_queue`` already wait, fail it at once.

        Args:
            front: queue it ahead of the waiting ones (a session's own
                start-up command); still behind the outstanding one.

        Returns:
            True if queued; False if it failed (a retryable ``Failed`` event
            with DeviceUnavailableError was appended). Either way the caller
            then lets the queue start the next command if the line is ready.
        """
        if len(self._waiting) >= self._max_queue:
            error = DeviceUnavailableError(self._full_message, device=self._device)
            self._events.append(Failed(command, error, retryable=True))
            return False
        if front:
            self._waiting.appendleft(Pending(command, raw))
        else:
            self._waiting.append(Pending(command, raw))
        return True

    def start_next(self, *, now: float) -> Pending[C] | None:
        """If nothing is outstanding, send the oldest waiting command.

        Appends ``Sent`` and arms the command's deadline. The caller writes
        the returned ``raw`` (after anything the protocol puts in front).

        Returns:
            The command now outstanding, or None if busy or nothing waits.
        """
        if self._outstanding is not None or not self._waiting:
            return None
        pending = self._waiting.popleft()
        pending = dataclasses.replace(pending, deadline=now + self._timeout_for(pending.command))
        self._outstanding = pending
        self._events.append(Sent(pending.command, pending.raw))
        return pending

    def rearm(self, *, deadline: float) -> None:
        """Give the outstanding command a new deadline (a later stage began).

        Raises:
            LocalProtocolError: nothing is outstanding (a session bug).
        """
        if self._outstanding is None:
            raise LocalProtocolError("no command outstanding to rearm", device=self._device)
        self._outstanding = dataclasses.replace(self._outstanding, deadline=deadline)

    def complete(self, reply: object, raw: bytes) -> Pending[C]:
        """The outstanding command succeeded: append ``Completed``, become idle.

        Raises:
            LocalProtocolError: nothing is outstanding (a session bug).
        """
        pending = self._take()
        self._events.append(Completed(pending.command, reply, raw))
        return pending

    def fail(self, error: DeviceError, *, retryable: bool) -> Pending[C]:
        """The outstanding command failed: append ``Failed``, become idle.

        Raises:
            LocalProtocolError: nothing is outstanding (a session bug).
        """
        pending = self._take()
        self._events.append(Failed(pending.command, error, retryable))
        return pending

    def next_deadline(self) -> float | None:
        """The outstanding command's deadline, or None when idle."""
        return self._outstanding.deadline if self._outstanding is not None else None

    def expire(self, *, now: float) -> bool:
        """Fail the outstanding command (retryable) if its deadline has passed.

        Returns:
            True if a command timed out; the caller then starts the next one.
        """
        pending = self._outstanding
        if pending is None or pending.deadline is None or now < pending.deadline:
            return False
        self.fail(self._timeout_error(pending), retryable=True)
        return True

    def fail_all(self, error: DeviceError, *, retryable: bool) -> None:
        """Fail the outstanding command, then every waiting one, in order."""
        pending = [self._outstanding] if self._outstanding is not None else []
        pending += self._waiting
        self._outstanding = None
        self._waiting.clear()
        self._events.extend(Failed(item.command, error, retryable) for item in pending)

    def _take(self) -> Pending[C]:
        """Remove and return the outstanding command."""
        pending, self._outstanding = self._outstanding, None
        if pending is None:
            raise LocalProtocolError("no command outstanding", device=self._device)
        return pending


def _constant(seconds: float) -> Callable[[object], float]:
    return lambda _command: seconds
