"""DeviceLink: one configured device = one transport + one sans-I/O session.

The link is the only code that does I/O for a device. It opens the
transport, pumps bytes between it and the :class:`~devices.session.DeviceSession`,
wakes the session at its deadlines, turns session events into command
results and audit events, and reopens the line after an unplug, a USB
re-enumeration or a lost TCP connection::

    link = DeviceLink(
        name="doc-camera",
        session=ViscaSession(address=1),
        transport=SerialTransport("/dev/serial/by-id/usb-…", baudrate=9600),
        hearing_clock=hearing.clock,
        on_event=spool_device_event,
        retries=lambda command: 2 if command.is_inquiry else 0,
    )
    async with link, asyncio.TaskGroup() as tg:
        tg.create_task(link.run(), name="device doc-camera")
        await link.ready()
        reply = await link.command(PresetRecall(address=1, preset=3))

Commands go to the session in call order; the session keeps one outstanding
per line. A command waits for its ``Completed``/``Failed`` event. ``Failed``
events marked retryable (timeouts, busy replies) are sent again up to the
command kind's retry count; the last error is raised. Overflow policy: at
most ``max_pending`` commands wait at once; one more fails at once with
``DeviceUnavailableError`` (code ``"busy"``) rather than queueing behind a
device that does not answer. While the line is down every command fails at
once with ``DeviceUnavailableError`` (code ``"offline"``).

Logging: the first failure to reach the device is logged (WARNING, or ERROR
when it is a configuration problem such as a port the agent may not open)
and so is the recovery; the retries in between are DEBUG only.

Idle close: some devices hang up on a controller that stays silent (PJLink
displays after about 30 s). With ``idle_close_after`` set, a clean hang-up
(the device closed the connection) after the device itself had sent nothing
for at least that long is an idle close: the line is reopened at once and
quietly — no offline/online events, no warning, the state stays online — and
a command sent during the reopen waits for it (at most ``reopen_wait``
seconds) instead of failing. A command the hang-up caught (sent just as the
device's idle timer fired) is sent once more after the reopen, without
using up its retries. Only if the reopen fails is the device offline; a
device that hangs up while it is talking, or without the option, is offline
as for any other loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from courtroom_core.backoff import Backoff, BackoffPolicy, ErrorClass, classify
from devices.errors import DeviceError, DeviceUnavailableError
from devices.events import DeviceEvent, Direction
from devices.session import Completed, DeviceSession, Failed, Fault, Sent, Unsolicited
from devices.transport import Transport

__all__ = ["DeviceLink", "DeviceState", "Exchange"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A snapshot of a device's health, for ``devices probe`` and the hub.

    Attributes:
        name: configured device name.
        online: the transport is open (or being reopened after an idle close).
        last_success: ``clock()`` time of the last completed command, or None.
        last_error: one-line reason of the last failure or fault, or None.
        round_trip_ms: send → reply time of the last completed command.
        failures: failed connection attempts since the line was last up.
        pending: commands waiting for their reply (at most ``max_pending``).
    """

    name: str
    online: bool
    last_success: float | None
    last_error: str | None
    round_trip_ms: float | None
    failures: int
    pending: int


@dataclass(frozen=True, slots=True)
class Exchange:
    """What became of one command (:meth:`DeviceLink.exchange`).

    Attributes:
        command: the command sent.
        reply: its decoded reply (None on failure, or for a command without one).
        raw: the reply's bytes (or the error's), possibly empty.
        error: the device problem that ended it, None if it completed.
        attempts: times it was handed to the session (retries included).
        sent_at: ``clock()`` time its bytes of the last attempt left, None if
            they never did (offline, busy, timed out in the queue).
        done_at: ``clock()`` time the reply or failure arrived.
    """

    command: Any
    reply: Any
    raw: bytes
    error: DeviceError | None
    attempts: int
    sent_at: float | None
    done_at: float


@dataclass(slots=True)
class _Pending:
    command: Any
    future: asyncio.Future[Completed | Failed]
    sent_at: float | None = None
    done_at: float | None = None


class DeviceLink:
    """Runs one :class:`DeviceSession` over one :class:`Transport`. See module docstring.

    Args:
        name: configured device name, used in errors, events and logs.
        session: the protocol session; reused across reconnects
            (``connection_made`` / ``connection_lost``).
        transport: the byte transport; reopened after every loss.
        clock: monotonic seconds for session deadlines and state times.
        hearing_clock: hearing seconds stamped on events (default ``clock``).
        sleep: awaitable sleep (inject to drive backoff and deadlines in tests).
        backoff: reopen policy (shared jittered exponential backoff).
        random: jitter source in ``[0, 1)``.
        retries: extra attempts for a retryable failure, as a number or a
            function of the command (per kind: inquiries 2, ``record`` 0).
        max_pending: commands allowed to wait at once (overflow policy above).
        on_event: receives every :class:`DeviceEvent`; called inline, so it
            must not block (append to a bounded queue or the spool) and must
            not raise — an exception ends :meth:`run`.
        describe: short text of a command, reply or message for events.
        stable_after: a connection that lived this long, or received bytes,
            resets the backoff.
        idle_close_after: a clean hang-up by a device that had sent nothing
            for this long is an idle close (see the module docstring); None:
            every loss is an outage.
        reopen_wait: how long a command waits for a quiet reopen.
    """

    def __init__(
        self,
        *,
        name: str,
        session: DeviceSession,
        transport: Transport,
        clock: Callable[[], float] = time.monotonic,
        hearing_clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff: BackoffPolicy | None = None,
        random: Callable[[], float] = _random.random,
        retries: int | Callable[[Any], int] = 0,
        max_pending: int = 32,
        on_event: Callable[[DeviceEvent], None] | None = None,
        describe: Callable[[Any], str] = str,
        stable_after: float = 30.0,
        idle_close_after: float | None = None,
        reopen_wait: float = 5.0,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self.name = name
        self._session = session
        self._transport = transport
        self._clock = clock
        self._hearing_clock = hearing_clock or clock
        self._sleep = sleep
        self._policy = backoff or BackoffPolicy()
        self._random = random
        self._retries = retries
        self._max_pending = max_pending
        self._on_event = on_event
        self._describe = describe
        self._stable_after = stable_after
        self._idle_close_after = idle_close_after
        self._reopen_wait = reopen_wait
        self._quiet_reopen = False
        self._idle_closes = 0
        self._last_rx = 0.0
        self._pending: deque[_Pending] = deque()
        self._kick = asyncio.Event()
        self._online_event = asyncio.Event()
        self._attempted = asyncio.Event()
        self._online = False
        self._failing = False
        self._received = False
        self._failures = 0
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._round_trip_ms: float | None = None

    @property
    def state(self) -> DeviceState:
        """The device's current :class:`DeviceState`."""
        return DeviceState(
            self.name,
            self._online or self._quiet_reopen,  # an idle close is no outage
            self._last_success,
            self._last_error,
            self._round_trip_ms,
            self._failures,
            len(self._pending),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._fail_pending(DeviceUnavailableError("link closed", device=self.name))
        await self._transport.close()

    async def ready(self) -> DeviceState:
        """Wait until the first attempt to open the line has finished; return the state."""
        await self._attempted.wait()
        return self.state

    async def wait_online(self) -> None:
        """Wait until the line is open (returns at once if it is)."""
        await self._online_event.wait()

    async def command(self, command: Any, *, retries: int | None = None) -> Any:
        """Send ``command`` and return its decoded reply.

        Args:
            command: a message of the session's protocol.
            retries: extra attempts after a retryable failure; default is the
                link's per-kind policy.

        Cancelling the caller does not withdraw a command the session already
        holds: it is still sent and its reply consumed, in order.

        Raises:
            DeviceUnavailableError: the line is down (code ``"offline"``), too
                many commands wait (code ``"busy"``) or it went down meanwhile.
            DeviceTimeoutError: no reply in time, after the retries.
            DeviceReportedError: the device answered with an error.
            LocalProtocolError: the session cannot encode ``command``.
        """
        exchange = await self.exchange(command, retries=retries)
        if exchange.error is not None:
            raise exchange.error
        return exchange.reply

    async def exchange(self, command: Any, *, retries: int | None = None) -> Exchange:
        """Send ``command`` like :meth:`command`, but report rather than raise.

        Device problems (offline, busy, timeout, an error reply) come back in
        :attr:`Exchange.error`, with the attempts made and the send and reply
        times of the last attempt, for callers that time the device
        (:mod:`devices.actions`).

        Raises:
            LocalProtocolError: the session cannot encode ``command`` (a bug).
        """
        left = max(0, retries if retries is not None else self._retries_for(command))
        resend_after_idle_close = True
        attempts = 0
        while True:
            idle_closes = self._idle_closes
            attempts += 1
            try:
                outcome, pending = await self._attempt(command)
            except DeviceUnavailableError as unavailable:
                return Exchange(command, None, b"", unavailable, attempts, None, self._clock())
            done_at = pending.done_at if pending.done_at is not None else self._clock()
            if isinstance(outcome, Completed):
                return Exchange(
                    command, outcome.reply, outcome.raw, None, attempts, pending.sent_at, done_at
                )
            error = outcome.error
            if error.device is None:
                error.device = self.name
            if (
                resend_after_idle_close
                and self._idle_closes != idle_closes
                and isinstance(error, DeviceUnavailableError)
            ):
                resend_after_idle_close = False  # caught by an idle hang-up: once more
                attempts -= 1
                continue
            if not outcome.retryable or left == 0:
                return Exchange(command, None, error.raw, error, attempts, pending.sent_at, done_at)
            left -= 1
            logger.debug("%s: retrying %s after %s", self.name, self._text(command), error)

    async def run(self) -> None:
        """Keep the line open until cancelled.

        Raises:
            DeviceUnavailableError: only if its cause is classified FATAL
                (a bug, not a device problem).
        """
        backoff = Backoff(self._policy, random=self._random)
        while True:
            try:
                await self._transport.open()
            except DeviceUnavailableError as err:
                delay = self._went_offline(err, backoff)
                self._attempted.set()
                await self._sleep(delay)
                continue
            opened_at = self._clock()
            lost = await self._serve()
            if self._received or self._clock() - opened_at >= self._stable_after:
                backoff.reset()
            if self._quiet_reopen:
                logger.debug("%s: idle connection closed by the device; reopening", self.name)
                continue
            await self._sleep(self._went_offline(lost, backoff))

    def _is_idle_close(self, lost: BaseException | None) -> bool:
        """Whether ``lost`` is the device hanging up on an idle connection (module docstring)."""
        return (
            self._idle_close_after is not None
            and isinstance(lost, DeviceUnavailableError)
            and lost.code == "closed"
            and self._clock() - self._last_rx >= self._idle_close_after
        )

    # -- connection ------------------------------------------------------

    async def _serve(self) -> DeviceUnavailableError:
        """Run one open connection until it is lost; return why."""
        self._received = False
        self._last_rx = self._clock()
        self._session.connection_made(now=self._last_rx)
        self._went_online()
        # Plain tasks rather than a TaskGroup: on Python 3.11 a TaskGroup whose
        # child fails while __aexit__ already waits leaves a stray cancel
        # request on this task, which breaks cancelling run() later.
        tasks = (
            asyncio.create_task(self._read_loop(), name=f"device {self.name} read"),
            asyncio.create_task(self._drive_loop(), name=f"device {self.name} drive"),
        )
        lost: BaseException | None = None
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            lost = next(task.exception() for task in done)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            self._online = False
            self._online_event.clear()
            if self._is_idle_close(lost):
                # Decided before the waiting commands fail, so they can tell.
                self._quiet_reopen = True
                self._idle_closes += 1
            self._session.connection_lost(now=self._clock())
            self._dispatch()
            self._fail_pending(DeviceUnavailableError("connection lost", device=self.name))
            await self._transport.close()
        if isinstance(lost, DeviceUnavailableError):
            return lost
        raise lost or AssertionError("device loops never return")

    async def _read_loop(self) -> None:
        while True:
            data = await self._transport.read()
            self._received = True
            self._last_rx = self._clock()
            self._session.receive_data(data, now=self._clock())
            self._dispatch()
            self._kick.set()

    async def _drive_loop(self) -> None:
        """Write what the session wants sent and wake it at its deadline."""
        while True:
            self._kick.clear()
            data = self._session.data_to_send()
            if data:
                self._dispatch()
                await self._transport.write(data)  # returns once drained
                # A protocol without replies (Pelco-D) completes its commands
                # here; nothing else would wake their callers.
                self._session.data_written(now=self._clock())
                self._dispatch()
            deadline = self._session.next_deadline()
            if deadline is None:
                await self._kick.wait()
                continue
            now = self._clock()
            if deadline <= now:
                self._session.handle_timeout(now=now)
                self._dispatch()
                continue
            await self._sleep_or_kick(deadline - now)

    async def _sleep_or_kick(self, delay: float) -> None:
        kicked = asyncio.ensure_future(self._kick.wait())
        slept = asyncio.ensure_future(self._sleep(delay))
        try:
            await asyncio.wait((kicked, slept), return_when=asyncio.FIRST_COMPLETED)
        finally:
            kicked.cancel()
            slept.cancel()

    def _went_online(self) -> None:
        self._online = True
        self._online_event.set()
        self._attempted.set()
        self._kick.set()
        if self._quiet_reopen:
            self._quiet_reopen = False
            logger.debug("%s: reopened after an idle close", self.name)
            return
        if self._failing:
            logger.info(
                "%s back online (%s) after %d failed attempts",
                self.name,
                self._transport.target,
                self._failures,
            )
        else:
            logger.info("%s online (%s)", self.name, self._transport.target)
        self._failing = False
        self._failures = 0
        self._emit(Direction.STATE, f"online ({self._transport.target})")

    def _went_offline(self, err: DeviceUnavailableError, backoff: Backoff) -> float:
        """Record a failed open or a lost line; return how long to wait.

        Raises:
            DeviceUnavailableError: ``err`` itself when its cause is FATAL.
        """
        kind = classify(err.__cause__) if err.__cause__ is not None else ErrorClass.TRANSIENT
        if kind is ErrorClass.FATAL:
            raise err
        err.device = err.device or self.name
        self._quiet_reopen = False
        self._failures += 1
        self._last_error = err.message
        if not self._failing:
            level = logging.ERROR if kind is ErrorClass.CONFIG else logging.WARNING
            logger.log(level, "%s offline: %s; retrying quietly", self.name, err.message)
            self._emit(Direction.STATE, f"offline: {err.message}")
            self._failing = True
        else:
            logger.debug("%s still offline: %s", self.name, err.message)
        backoff_delay = backoff.next()
        return self._policy.maximum if kind is ErrorClass.CONFIG else backoff_delay

    # -- commands --------------------------------------------------------

    def _retries_for(self, command: Any) -> int:
        return self._retries(command) if callable(self._retries) else self._retries

    async def _attempt(self, command: Any) -> tuple[Completed | Failed, _Pending]:
        if not self._online and self._quiet_reopen:
            # Reopening after an idle close: a moment, not an outage.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._reopen_wait):
                    await self._online_event.wait()
        if not self._online:
            reason = f"offline: {self._last_error}" if self._last_error else "offline"
            raise DeviceUnavailableError(reason, device=self.name, code="offline")
        if len(self._pending) >= self._max_pending:
            raise DeviceUnavailableError(
                f"busy: {len(self._pending)} commands waiting", device=self.name, code="busy"
            )
        future: asyncio.Future[Completed | Failed] = asyncio.get_running_loop().create_future()
        self._session.send(command, now=self._clock())
        pending = _Pending(command, future)
        self._pending.append(pending)
        self._dispatch()
        self._kick.set()
        return await future, pending

    def _take_pending(self, command: Any) -> _Pending | None:
        # Sessions complete in order, so the match is normally the head. A
        # command the session sent on its own (VISCA address set, HyperDeck
        # notify on connect) matches no caller and resolves nothing.
        for same in (lambda p: p.command is command, lambda p: p.command == command):
            for pending in self._pending:
                if same(pending):
                    self._pending.remove(pending)
                    return pending
        return None

    def _fail_pending(self, error: DeviceUnavailableError) -> None:
        while self._pending:
            pending = self._pending.popleft()
            if not pending.future.done():
                pending.future.set_result(Failed(pending.command, error, retryable=False))

    # -- events ----------------------------------------------------------

    def _dispatch(self) -> None:
        now = self._clock()
        for event in self._session.events():
            match event:
                case Sent(command=command, raw=raw):
                    for pending in self._pending:
                        if pending.command is command and pending.sent_at is None:
                            pending.sent_at = now
                            break
                    self._emit(Direction.TX, self._text(command), raw)
                case Completed(command=command, reply=reply, raw=raw):
                    done = self._take_pending(command)
                    self._last_success = now
                    if done is not None and done.sent_at is not None:
                        self._round_trip_ms = (now - done.sent_at) * 1000.0
                    text = self._text(reply) if reply is not None else f"{self._text(command)}: ok"
                    self._emit(Direction.RX, text, raw)
                    self._resolve(done, event)
                case Failed(command=command, error=error):
                    done = self._take_pending(command)
                    self._last_error = error.message
                    self._emit(
                        Direction.ERROR, f"{self._text(command)}: {error.message}", error.raw
                    )
                    self._resolve(done, event)
                case Unsolicited(message=message, raw=raw):
                    self._emit(Direction.UNSOLICITED, self._text(message), raw)
                case Fault(error=error):
                    self._last_error = error.message
                    logger.debug("%s: line fault: %s", self.name, error.message)
                    self._emit(Direction.FAULT, error.message, error.raw)

    def _resolve(self, pending: _Pending | None, outcome: Completed | Failed) -> None:
        if pending is not None and not pending.future.done():
            pending.done_at = self._clock()
            pending.future.set_result(outcome)

    def _text(self, thing: Any) -> str:
        return self._describe(thing)

    def _emit(self, direction: Direction, meaning: str, raw: bytes = b"") -> None:
        if self._on_event is None:
            return
        self._on_event(
            DeviceEvent.of(
                time=self._hearing_clock(),
                device=self.name,
                direction=direction,
                meaning=meaning,
                raw=raw,
            )
        )
