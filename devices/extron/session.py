"""Sans-I/O session for an Extron SIS matrix switcher (RS-232 or Telnet).

Implements :class:`devices.session.DeviceSession`. One command is outstanding
at a time. Because a tie's reply (``Out03 In01 All``) looks exactly like the
message the switcher sends on its own when someone changes a tie on the front
panel, the rule is: a line that is the outstanding command's expected reply
completes it; every other well-formed line is :class:`Unsolicited`; a line
that is no SIS message at all is a :class:`Fault` and the reader resyncs on
the next LF.

Telnet login ("Switcher-initiated messages", DXP guide): on connect the
switcher sends its copyright banner and date and, when password protected,
``Password:``. With ``password`` set the session holds commands until it has
answered the prompt and seen ``Login Administrator``/``Login User``, or until
``reply_timeout`` passes without a prompt (serial lines never prompt). The
password is never put in a :class:`Sent` event, a repr or a log.
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
from devices.extron.codec import (
    MAX_LINE,
    ErrorReply,
    ExtronCommand,
    ExtronReply,
    LoginReply,
    PasswordPrompt,
    QueryFirmware,
    ReadTie,
    Tie,
    TieAll,
    TieAllReply,
    TieReply,
    ValueReply,
    decode_line,
    encode_command,
)
from devices.line_buffer import LineBuffer
from devices.session import Failed, Fault, SessionEvent, Unsolicited

__all__ = ["ExtronSession"]

#: Error codes after which sending the same command again may succeed.
_RETRYABLE_CODES = frozenset({"E17", "E22"})


class _Login(enum.Enum):
    NOT_NEEDED = "not-needed"  # no password configured, or logged in
    AWAITING_PROMPT = "awaiting-prompt"
    PASSWORD_SENT = "password-sent"
    REFUSED = "refused"


class ExtronSession:
    """Protocol state of one connection to an Extron matrix switcher.

    Completed replies: :class:`Tie` → :class:`TieReply`, :class:`TieAll` →
    :class:`TieAllReply`, :class:`ReadTie` → ``int`` input (0 = untied),
    :class:`QueryFirmware` → ``str``.
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        password: str | None = None,
        reply_timeout: float = 2.0,
        max_queue: int = 32,
    ) -> None:
        """Create a session; nothing is sent before :meth:`connection_made`.

        Args:
            device: configured device name, put into every error.
            password: Telnet password (administrator or user), if protected.
            reply_timeout: seconds a command (and the login) may take.
            max_queue: commands waiting behind the outstanding one; beyond
                this :meth:`send` fails the new command at once (retryable).
        """
        self._device = device
        self._password = password
        self._reply_timeout = reply_timeout
        self._events: list[SessionEvent] = []
        self._commands: CommandQueue[ExtronCommand] = CommandQueue(
            self._events,
            max_queue=max_queue,
            device=device,
            full_message="Extron command queue full",
            timeout=reply_timeout,
            timeout_error=self._timeout_error,
        )
        self._out = bytearray()
        self._lines = LineBuffer(b"\n", max_line=MAX_LINE)
        self._connected = False
        self._login = _Login.NOT_NEEDED
        self._login_deadline: float | None = None

    def __repr__(self) -> str:
        auth = "password" if self._password is not None else "no password"
        return f"ExtronSession(device={self._device!r}, {auth}, login={self._login.value})"

    # --- DeviceSession --------------------------------------------------

    def connection_made(self, *, now: float) -> None:
        """The line opened: expect a banner, and a prompt if we have a password."""
        self._connected = True
        self._lines.clear()
        if self._password is not None:
            self._login = _Login.AWAITING_PROMPT
            self._login_deadline = now + self._reply_timeout
        else:
            self._login = _Login.NOT_NEEDED
        self._pump(now)

    def connection_lost(self, *, now: float) -> None:
        """Fail the outstanding and queued commands with DeviceUnavailableError."""
        self._connected = False
        self._out.clear()
        self._login_deadline = None
        error = DeviceUnavailableError("Extron connection lost", device=self._device)
        self._commands.fail_all(error, retryable=True)

    def send(self, command: Any, *, now: float) -> None:
        """Queue ``command``; it goes out once those before it are answered.

        Raises:
            LocalProtocolError: ``command`` is not an Extron command.
        """
        raw = encode_command(command)
        if self._login is _Login.REFUSED:
            error = AuthenticationError("Extron login refused", device=self._device)
            self._events.append(Failed(command, error, retryable=False))
        elif self._commands.submit(command, raw):
            self._pump(now)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def data_written(self, *, now: float) -> None:
        """Nothing to do: commands complete on the device's reply, not on the write."""

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Split input into CR LF lines and act on each; never raises."""
        for raw in self._lines.feed(data):
            line = raw.rstrip(b"\r\n")
            if line:
                self._handle_line(line, raw, now)
        if self._lines.pending.strip(b"\r\n ") == b"Password:":
            self._handle_reply(PasswordPrompt(), self._lines.take_pending(), now)
        elif (overflow := self._lines.take_overflow()) is not None:
            error = RemoteProtocolError(
                "Extron line too long", device=self._device, raw=overflow[:MAX_LINE]
            )
            self._events.append(Fault(error))

    def next_deadline(self) -> float | None:
        if self._commands.outstanding is not None:
            return self._commands.next_deadline()
        if self._login in (_Login.AWAITING_PROMPT, _Login.PASSWORD_SENT):
            return self._login_deadline
        return None

    def handle_timeout(self, *, now: float) -> None:
        """Fail an overdue command (retryable); give up waiting for a login prompt."""
        if self._commands.outstanding is not None:
            self._commands.expire(now=now)
        elif self._login_deadline is not None and now >= self._login_deadline:
            if self._login is _Login.AWAITING_PROMPT:
                # No prompt came: a serial line, or no password set on the switcher.
                self._login = _Login.NOT_NEEDED
            elif self._login is _Login.PASSWORD_SENT:
                self._refuse("no Extron login reply to the password")
            self._login_deadline = None
        self._pump(now)

    def events(self) -> list[SessionEvent]:
        events = list(self._events)
        self._events.clear()
        return events

    # --- internals ------------------------------------------------------

    def _pump(self, now: float) -> None:
        if not self._connected or self._login is not _Login.NOT_NEEDED:
            return
        if (pending := self._commands.start_next(now=now)) is not None:
            self._out += pending.raw

    def _timeout_error(self, pending: Pending[ExtronCommand]) -> DeviceError:
        message = f"no Extron reply to {pending.raw.decode('ascii')}"
        return DeviceTimeoutError(message, device=self._device)

    def _handle_line(self, line: bytes, raw: bytes, now: float) -> None:
        try:
            reply = decode_line(line)
        except RemoteProtocolError as exc:
            exc.device = self._device
            self._events.append(Fault(exc))
            return
        self._handle_reply(reply, raw, now)

    def _handle_reply(self, reply: ExtronReply, raw: bytes, now: float) -> None:
        if isinstance(reply, PasswordPrompt):
            self._on_prompt(now)
            return
        if isinstance(reply, LoginReply) and self._login is _Login.PASSWORD_SENT:
            self._login = _Login.NOT_NEEDED
            self._login_deadline = None
            self._events.append(Unsolicited(reply, raw))
            self._pump(now)
            return
        pending = self._commands.outstanding
        if pending is not None:
            if isinstance(reply, ErrorReply):
                self._finish_error(reply, raw, now)
                return
            result = _match(pending.command, reply)
            if result is not _NO_MATCH:
                self._commands.complete(result, raw)
                self._pump(now)
                return
        if isinstance(reply, ValueReply):
            error = RemoteProtocolError(
                "Extron value with no question asked", device=self._device, raw=raw
            )
            self._events.append(Fault(error))
        else:
            self._events.append(Unsolicited(reply, raw))

    def _finish_error(self, reply: ErrorReply, raw: bytes, now: float) -> None:
        error = DeviceReportedError(
            f"Extron {reply.code} {reply.name}", device=self._device, code=reply.code, raw=raw
        )
        self._commands.fail(error, retryable=reply.code in _RETRYABLE_CODES)
        self._pump(now)

    def _on_prompt(self, now: float) -> None:
        if self._login is _Login.AWAITING_PROMPT and self._password is not None:
            self._login = _Login.PASSWORD_SENT
            self._login_deadline = now + self._reply_timeout
            self._out += self._password.encode("ascii", "replace") + b"\r"
        elif self._login is _Login.PASSWORD_SENT:
            self._refuse("Extron switcher refused the password")
        else:
            self._refuse("Extron switcher asks for a password; none configured")

    def _refuse(self, message: str) -> None:
        self._login = _Login.REFUSED
        self._login_deadline = None
        error = AuthenticationError(message, device=self._device)
        self._commands.fail_all(error, retryable=False)


_NO_MATCH: Any = object()


def _match(command: ExtronCommand, reply: ExtronReply) -> Any:
    """The completed result if ``reply`` answers ``command``, else ``_NO_MATCH``."""
    match command, reply:
        case Tie(input=i, output=o, layer=layer), TieReply():
            if (reply.input, reply.output, reply.layer) == (i, o, layer):
                return reply
        case TieAll(input=i, layer=layer), TieAllReply():
            if (reply.input, reply.layer) == (i, layer):
                return reply
        case ReadTie(), ValueReply(text=text) if text.isdigit():
            return int(text)
        case QueryFirmware(), ValueReply(text=text):
            return text
    return _NO_MATCH
