"""Sans-I/O HyperDeck controller session (implements :class:`devices.session.DeviceSession`).

One command is outstanding at a time; the deck answers strictly in order, but
asynchronous ``5xx`` notifications may arrive at any moment, including between
a command and its reply. They become :class:`~devices.session.Unsolicited`
events and never complete a command.

The protocol does not echo the command in its reply, so a reply that comes
after its command timed out could be taken for the answer to the next one.
Each command therefore has a table of reply codes that may answer it
(:data:`EXPECTED_REPLIES`); a reply outside that set is a ``Fault`` (a stale
or stray reply) and is dropped. A late ``200 ok`` answering a timed-out
``stop`` while a ``ping`` is outstanding cannot be told apart: that residual
ambiguity is inherent to the protocol.

Failure codes become :class:`HyperDeckError` (``str(err) == "HyperDeck 104
disk full"``). A ``120 connection rejected`` (another controller holds the
deck) fails everything queued; the deck then closes the connection.

A deck sends ``508``/``502`` notifications only to a connection that asked
for them, and forgets that on every new connection ("notify" in the
protocol's command table); with ``notify=True`` the session asks with
``notify: transport: true slot: true`` each time the connection opens,
before any queued command.
"""

from __future__ import annotations

from typing import Any

from devices.command_queue import CommandQueue, Pending
from devices.errors import (
    DeviceError,
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
    RemoteProtocolError,
)
from devices.hyperdeck.codec import (
    AsyncCode,
    Command,
    CommandName,
    DeviceInfo,
    ErrorCode,
    Response,
    ResponseDecoder,
    SlotChange,
    SlotInfo,
    SuccessCode,
    TransportChange,
    TransportInfo,
    encode_command,
    encode_response,
)
from devices.session import Fault, SessionEvent, Unsolicited

__all__ = ["EXPECTED_REPLIES", "HyperDeckError", "HyperDeckSession", "decode_reply"]

#: Success codes that can answer each command ("Protocol Commands"). Any 1xx can too.
EXPECTED_REPLIES: dict[CommandName, frozenset[int]] = {
    CommandName.PING: frozenset({SuccessCode.OK}),
    CommandName.RECORD: frozenset({SuccessCode.OK}),
    CommandName.STOP: frozenset({SuccessCode.OK}),
    CommandName.TRANSPORT_INFO: frozenset({SuccessCode.TRANSPORT_INFO}),
    CommandName.SLOT_INFO: frozenset({SuccessCode.SLOT_INFO}),
    CommandName.DEVICE_INFO: frozenset({SuccessCode.DEVICE_INFO}),
    CommandName.NOTIFY: frozenset({SuccessCode.OK, SuccessCode.NOTIFY}),
}

#: Failures worth retrying as they are (transient inside the deck).
RETRYABLE_ERRORS = frozenset({ErrorCode.INTERNAL_ERROR})


class HyperDeckError(DeviceReportedError):
    """The deck answered with a failure code (100–199).

    Attributes:
        error_code: the named code, or None for a code the spec does not list.
    """

    def __init__(
        self, error_code: ErrorCode | None, message: str, *, device: str | None, raw: bytes
    ) -> None:
        code = str(error_code.value) if error_code is not None else None
        super().__init__(message, device=device, code=code, raw=raw)
        self.error_code = error_code

    @classmethod
    def from_response(cls, response: Response, *, device: str | None = None) -> HyperDeckError:
        """Build the named error for failure ``response`` (spec text for known codes)."""
        try:
            error_code: ErrorCode | None = ErrorCode(response.code)
        except ValueError:
            error_code = None
        text = error_code.text if error_code is not None else response.text
        return cls(
            error_code,
            f"HyperDeck {response.code} {text}",
            device=device,
            raw=encode_response(response),
        )


def decode_reply(response: Response) -> object:
    """The decoded meaning of a success or asynchronous response.

    ``200 ok`` → None; ``208`` → :class:`TransportInfo`; ``508`` (only the
    changed fields) → :class:`TransportChange`; ``202`` → :class:`SlotInfo`;
    ``502`` (only the changed fields) → :class:`SlotChange`; ``204``/``500`` →
    :class:`DeviceInfo`; anything else → the :class:`Response` itself.

    Raises:
        RemoteProtocolError: a known block lacks a field or has a bad value.
    """
    match response.code:
        case SuccessCode.OK:
            return None
        case SuccessCode.TRANSPORT_INFO:
            return TransportInfo.from_response(response)
        case AsyncCode.TRANSPORT_INFO:
            return TransportChange.from_response(response)
        case SuccessCode.SLOT_INFO:
            return SlotInfo.from_response(response)
        case AsyncCode.SLOT_INFO:
            return SlotChange.from_response(response)
        case SuccessCode.DEVICE_INFO | AsyncCode.CONNECTION_INFO:
            return DeviceInfo.from_response(response)
    return response


class HyperDeckSession:
    """Controller side of one TCP connection to a HyperDeck.

    Args:
        device: configured device name, put on every error.
        timeout: seconds a command may wait for its reply once sent.
        max_queue: most commands waiting behind the outstanding one. Overflow
            policy: the new command fails at once with DeviceUnavailableError
            (retryable) — a deck that far behind is not keeping up.
        notify: subscribe to transport and slot notifications on every
            connection (see the module docstring).
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        timeout: float = 2.0,
        max_queue: int = 16,
        notify: bool = False,
    ) -> None:
        self.device = device
        self.notify = notify
        self.timeout = timeout
        self.max_queue = max_queue
        self._decoder = ResponseDecoder()
        self._out = bytearray()
        self._events: list[SessionEvent] = []
        self._connected = False
        self._commands: CommandQueue[Command] = CommandQueue(
            self._events,
            max_queue=max_queue,
            device=device,
            full_message="HyperDeck command queue full",
            timeout=timeout,
            timeout_error=self._timeout_error,
        )

    # --- DeviceSession ----------------------------------------------------------------

    def connection_made(self, *, now: float) -> None:
        """The TCP connection is up; ``notify`` goes first, then queued commands."""
        self._connected = True
        self._decoder = ResponseDecoder()
        if self.notify:
            command = Command.notify(transport=True, slot=True)
            self._commands.submit(command, encode_command(command), front=True)
        self._pump(now)

    def connection_lost(self, *, now: float) -> None:
        """Fail the outstanding and every queued command (retryable)."""
        self._connected = False
        self._out.clear()
        self._fail_all(DeviceUnavailableError("HyperDeck connection lost", device=self.device))

    def send(self, command: Any, *, now: float) -> None:
        """Queue ``command`` (a :class:`Command`).

        Raises:
            LocalProtocolError: ``command`` is not a HyperDeck :class:`Command`.
        """
        if not isinstance(command, Command):
            raise LocalProtocolError(f"not a HyperDeck command: {command!r}", device=self.device)
        if self._commands.submit(command, encode_command(command)):
            self._pump(now)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def data_written(self, *, now: float) -> None:
        """Nothing to do: commands complete on the device's reply, not on the write."""

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Decode ``data``; never raises (garbage becomes Fault events)."""
        self._decoder.feed(data)
        while True:
            try:
                response = self._decoder.next_response()
            except RemoteProtocolError as exc:
                self._events.append(Fault(self._tag(exc)))
                continue
            if response is None:
                break
            self._handle(response, now)

    def next_deadline(self) -> float | None:
        return self._commands.next_deadline()

    def handle_timeout(self, *, now: float) -> None:
        """Fail the outstanding command if its deadline has passed."""
        if self._commands.expire(now=now):
            self._pump(now)

    def events(self) -> list[SessionEvent]:
        events = list(self._events)
        self._events.clear()
        return events

    # --- internals --------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        if self._connected and (pending := self._commands.start_next(now=now)) is not None:
            self._out += pending.raw

    def _timeout_error(self, pending: Pending[Command]) -> DeviceError:
        message = f"HyperDeck no reply to {pending.command.name.value!r} in {self.timeout:g} s"
        return DeviceTimeoutError(message, device=self.device)

    def _handle(self, response: Response, now: float) -> None:
        raw = encode_response(response)
        if response.is_async:
            try:
                self._events.append(Unsolicited(decode_reply(response), raw))
            except RemoteProtocolError as exc:
                self._events.append(Fault(self._tag(exc)))
            return
        pending = self._commands.outstanding
        command = pending.command if pending is not None else None
        if response.code == ErrorCode.CONNECTION_REJECTED:
            error = HyperDeckError.from_response(response, device=self.device)
            if command is None:
                self._events.append(Fault(error))
            self._fail_all(error)
            return
        if command is None or not (
            response.is_error or response.code in EXPECTED_REPLIES[command.name]
        ):
            what = "no command outstanding" if command is None else command.name.value
            self._events.append(
                Fault(
                    RemoteProtocolError(
                        f"HyperDeck unexpected reply {response.code} ({what})",
                        device=self.device,
                        raw=raw,
                    )
                )
            )
            return
        if response.is_error:
            error = HyperDeckError.from_response(response, device=self.device)
            self._commands.fail(error, retryable=error.error_code in RETRYABLE_ERRORS)
        else:
            try:
                reply = decode_reply(response)
            except RemoteProtocolError as exc:
                self._commands.fail(self._tag(exc), retryable=True)
            else:
                self._commands.complete(reply, raw)
        self._pump(now)

    def _fail_all(self, error: DeviceError) -> None:
        self._commands.fail_all(error, retryable=not isinstance(error, DeviceReportedError))

    def _tag(self, exc: DeviceError) -> DeviceError:
        if exc.device is None:
            exc.device = self.device
        return exc
