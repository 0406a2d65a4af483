"""Sans-I/O session for a PJLink class 1 projector or display (TCP 4352).

Implements :class:`devices.session.DeviceSession`. After the TCP connect the
display speaks first (§5): ``PJLINK 0`` or ``PJLINK 1 <random>``; commands
wait for that greeting. With authentication, commands carry
``md5(random + password)`` in front until the first response proves the
connection authenticated (§5.1, §5.3: later commands on the same connection
need no digest, as pypjlink and openHAB also do; ``digest_every_command``
keeps it on every command for firmware that insists). ``PJLINK ERRA``
fails every pending command with :class:`AuthenticationError` and the
session refuses further commands until the next connection.

Class 1 has no unsolicited messages: a response whose body is not the
outstanding command's is a :class:`Fault`. Replies are due within
``reply_timeout`` (2 s). Displays close idle connections after about 30 s;
the transport sees that as :meth:`connection_lost` and reconnects.

Neither the password nor the digest (a password equivalent) appear in
:class:`Sent` events, reprs or errors: ``Sent.raw`` is the command line alone.
"""

from __future__ import annotations

import enum
from typing import Any

from devices.command_queue import CommandQueue, Pending
from devices.errors import (
    AuthenticationError,
    DeviceError,
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    RemoteProtocolError,
)
from devices.line_buffer import LineBuffer
from devices.pjlink.codec import (
    MAX_LINE,
    AuthFailure,
    Greeting,
    PJLinkCommand,
    PJLinkError,
    Response,
    auth_digest,
    decode_reply,
    encode_command,
)
from devices.session import Failed, Fault, SessionEvent

__all__ = ["PJLinkSession"]


class _State(enum.Enum):
    DISCONNECTED = "disconnected"
    AWAITING_GREETING = "awaiting-greeting"
    READY = "ready"
    REFUSED = "refused"


class PJLinkSession:
    """Protocol state of one TCP connection to a PJLink display.

    Completed replies are typed by the command: :class:`PowerQuery` →
    :class:`PowerState`, :class:`InputQuery` → :class:`InputSource`,
    :class:`MuteQuery` → :class:`MuteState`, :class:`ErrorStatusQuery` →
    :class:`ErrorStatus`, :class:`LampQuery` → ``tuple[Lamp, ...]``,
    :class:`InputListQuery` → ``tuple[InputSource, ...]``, text queries →
    ``str``, set commands → ``None``.
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        password: str | None = None,
        reply_timeout: float = 2.0,
        max_queue: int = 32,
        digest_every_command: bool = False,
    ) -> None:
        """Create a session; nothing is sent before the display's greeting.

        Args:
            device: configured device name, put into every error.
            password: PJLink password, if the display asks for one.
            reply_timeout: seconds for the greeting and for each reply.
            max_queue: commands waiting behind the outstanding one; beyond
                this :meth:`send` fails the new command at once (retryable).
            digest_every_command: prefix every command with the digest, for
                firmware that wants it; by default only commands until the
                first response carry it.
        """
        self._device = device
        self._digest_every_command = digest_every_command
        self._password = password
        self._reply_timeout = reply_timeout
        self._state = _State.DISCONNECTED
        self._greeting_deadline: float | None = None
        self._digest: str | None = None
        self._events: list[SessionEvent] = []
        self._commands: CommandQueue[PJLinkCommand] = CommandQueue(
            self._events,
            max_queue=max_queue,
            device=device,
            full_message="PJLink command queue full",
            timeout=reply_timeout,
            timeout_error=self._timeout_error,
        )
        self._out = bytearray()
        self._lines = LineBuffer(b"\r", max_line=MAX_LINE)

    def __repr__(self) -> str:
        auth = "password" if self._password is not None else "no password"
        return f"PJLinkSession(device={self._device!r}, {auth}, state={self._state.value})"

    # --- DeviceSession --------------------------------------------------

    def connection_made(self, *, now: float) -> None:
        """TCP connected: wait up to ``reply_timeout`` for the greeting."""
        self._state = _State.AWAITING_GREETING
        self._greeting_deadline = now + self._reply_timeout
        self._digest = None
        self._lines.clear()

    def connection_lost(self, *, now: float) -> None:
        """Fail the outstanding and queued commands with DeviceUnavailableError."""
        self._state = _State.DISCONNECTED
        self._greeting_deadline = None
        self._digest = None
        self._out.clear()
        error = DeviceUnavailableError("PJLink connection lost", device=self._device)
        self._commands.fail_all(error, retryable=True)

    def send(self, command: Any, *, now: float) -> None:
        """Queue ``command``; it goes out after the greeting and earlier commands.

        Raises:
            LocalProtocolError: ``command`` is not a PJLink command.
        """
        raw = encode_command(command)
        if self._state is _State.REFUSED:
            error = AuthenticationError("PJLink authentication failed", device=self._device)
            self._events.append(Failed(command, error, retryable=False))
            return
        if not self._commands.submit(command, raw):
            return
        if self._state is _State.AWAITING_GREETING and self._greeting_deadline is None:
            self._greeting_deadline = now + self._reply_timeout
        self._pump(now)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def data_written(self, *, now: float) -> None:
        """Nothing to do: commands complete on the device's reply, not on the write."""

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Split input into CR-terminated lines and act on each; never raises."""
        for raw in self._lines.feed(data):
            line = raw[:-1].lstrip(b"\n")  # tolerate CR LF from lenient firmware
            if line:
                self._handle_line(line, raw, now)
        if (overflow := self._lines.take_overflow()) is not None:
            self._fault(RemoteProtocolError("PJLink line too long", raw=overflow))

    def next_deadline(self) -> float | None:
        if self._commands.outstanding is not None:
            return self._commands.next_deadline()
        if self._state is _State.AWAITING_GREETING:
            return self._greeting_deadline
        return None

    def handle_timeout(self, *, now: float) -> None:
        """Fail an overdue command, or every queued command if no greeting came."""
        if self._commands.expire(now=now):
            self._pump(now)
        elif (
            self._state is _State.AWAITING_GREETING
            and self._greeting_deadline is not None
            and now >= self._greeting_deadline
        ):
            self._greeting_deadline = None
            error = DeviceTimeoutError("no PJLink greeting", device=self._device)
            self._commands.fail_all(error, retryable=True)

    def events(self) -> list[SessionEvent]:
        events = list(self._events)
        self._events.clear()
        return events

    # --- internals ------------------------------------------------------

    def _pump(self, now: float) -> None:
        if self._state is not _State.READY:
            return
        if (pending := self._commands.start_next(now=now)) is None:
            return
        if self._digest is not None:
            self._out += self._digest.encode("ascii")
        self._out += pending.raw

    def _timeout_error(self, pending: Pending[PJLinkCommand]) -> DeviceError:
        message = f"no PJLink reply to {pending.command.body} within {self._reply_timeout:g} s"
        return DeviceTimeoutError(message, device=self._device)

    def _handle_line(self, line: bytes, raw: bytes, now: float) -> None:
        try:
            reply = decode_reply(line)
        except RemoteProtocolError as exc:
            self._fault(exc)
            return
        match reply:
            case Greeting(random=random):
                self._on_greeting(random, raw, now)
            case AuthFailure():
                self._state = _State.REFUSED
                error = AuthenticationError(
                    "PJLink authentication failed (PJLINK ERRA)",
                    device=self._device,
                    code="ERRA",
                    raw=raw,
                )
                self._commands.fail_all(error, retryable=False)
            case Response():
                self._on_response(reply, raw, now)

    def _on_greeting(self, random: str | None, raw: bytes, now: float) -> None:
        if self._state is not _State.AWAITING_GREETING:
            self._fault(RemoteProtocolError("unexpected PJLink greeting", raw=raw))
            return
        self._greeting_deadline = None
        if random is None:
            self._state = _State.READY
        elif self._password is None:
            self._state = _State.REFUSED
            error = AuthenticationError(
                "PJLink display requires a password; none configured", device=self._device
            )
            self._commands.fail_all(error, retryable=False)
            return
        else:
            self._digest = auth_digest(random, self._password)
            self._state = _State.READY
        self._pump(now)

    def _on_response(self, response: Response, raw: bytes, now: float) -> None:
        if not self._digest_every_command:
            self._digest = None  # §5.3: authenticated for the rest of the connection
        pending = self._commands.outstanding
        if pending is None or response.body != pending.command.body:
            self._fault(RemoteProtocolError(f"unexpected PJLink {response.body} reply", raw=raw))
            return
        if (code := response.error) is not None:
            error = DeviceReportedError(
                f"PJLink {code.name} {code.value}", device=self._device, code=code.name, raw=raw
            )
            self._commands.fail(error, retryable=code is PJLinkError.ERR3)
        else:
            try:
                result = pending.command.parse(response.data)
            except RemoteProtocolError as exc:
                exc.device, exc.raw = self._device, raw
                self._commands.fail(exc, retryable=True)
            else:
                self._commands.complete(result, raw)
        self._pump(now)

    def _fault(self, error: RemoteProtocolError) -> None:
        error.device = self._device
        self._events.append(Fault(error))
