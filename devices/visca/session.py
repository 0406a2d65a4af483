"""Sans-I/O VISCA session: one camera on one serial line (RS-232/RS-422).

Implements :class:`devices.session.DeviceSession`. One command is outstanding
at a time; the next leaves only when the previous one completed or failed.
How a command completes depends on its kind (VISCA "Command List", sections
on ACK/completion messages, socket numbers and device setting commands)::

    kind           sent                   completes on                timeout
    -------------  ---------------------  --------------------------  --------------------
    command        8x 01 … FF             y0 4z FF then y0 5z FF      ack, then per kind
    inquiry        8x 09 … FF             y0 50 <answer> FF           inquiry_timeout
    IF_Clear       8x 01 00 01 FF         y0 50 FF                    completion_timeout
    broadcast      88 30 01 FF            88 30 0n FF                 completion_timeout
                   88 01 00 01 FF         88 01 00 01 FF

``y0 6z ee FF`` fails the command with a :class:`DeviceReportedError` named
after ``ee`` (``str(err) == "VISCA syntax error"``). ``03`` (command buffer
full) and timeouts are retryable; syntax, length and not-executable are not.
Before controlling a chain, send ``AddressSet()`` and
``IfClear(broadcast=True)`` (Sony's start-up advice: "Address Set" and
"IF_Clear" in the command list's overview). With ``initialize=True`` the
session does so itself every time the line opens, ahead of any command:
``AddressSet(first=address)``, so a camera alone on its line takes the
configured address whatever it held before, then the broadcast IF_Clear,
which empties its command buffers of anything left from before the reopen.
Their events go to the audit trail like any command's; a camera that does
not answer them is a ``Failed`` event with no caller, and the commands
queued behind still go out.
"""

from __future__ import annotations

import enum

from devices.command_queue import CommandQueue, Pending
from devices.errors import (
    DeviceError,
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
    RemoteProtocolError,
)
from devices.session import Failed, Fault, SessionEvent, Unsolicited
from devices.visca.codec import (
    Ack,
    AddressSetReply,
    Completion,
    ErrorReply,
    FrameReader,
    IfClearBroadcastReply,
    NetworkChange,
    ViscaErrorCode,
    ViscaReply,
    decode_answer,
    decode_reply,
    encode_command,
)
from devices.visca.messages import (
    AddressSet,
    IfClear,
    PanTiltDrive,
    PanTiltPositionInquiry,
    Power,
    PowerInquiry,
    PresetRecall,
    ViscaCommand,
    Zoom,
    ZoomPositionInquiry,
    is_broadcast,
)

__all__ = ["ViscaSession", "is_retryable"]

_INQUIRIES = (PowerInquiry, PanTiltPositionInquiry, ZoomPositionInquiry)
_RETRYABLE_CODES = frozenset({ViscaErrorCode.COMMAND_BUFFER_FULL})


def is_retryable(error: DeviceError) -> bool:
    """Say whether sending the same VISCA command again may succeed.

    Buffer full, timeouts, garbled answers and a lost line are worth a retry;
    syntax, length, not-executable, cancelled and no-socket errors are not.
    """
    if isinstance(error, DeviceReportedError):
        return error.code is not None and int(error.code, 16) in _RETRYABLE_CODES
    return isinstance(error, DeviceTimeoutError | DeviceUnavailableError | RemoteProtocolError)


class _Stage(enum.Enum):
    ACK = "ACK"
    COMPLETION = "completion"
    ANSWER = "answer"
    BROADCAST_REPLY = "broadcast reply"


class ViscaSession:
    """Protocol state of one VISCA camera. See the module docstring.

    Args:
        address: the camera's VISCA address (1..7).
        device: configured device name, put into every error.
        ack_timeout: seconds for the ACK (or an error) after a command is sent.
        inquiry_timeout: seconds for an inquiry's answer.
        completion_timeout: seconds from ACK to completion for presets set/reset,
            and for IF_Clear and AddressSet replies.
        motion_timeout: seconds from ACK to completion for preset recall,
            pan-tilt drive and zoom (a recall completes when the move ends).
        power_timeout: seconds from ACK to completion for power on/off.
        max_queue: commands that may wait behind the outstanding one. When the
            queue is full, :meth:`send` fails the new command at once
            (``Failed`` with DeviceUnavailableError, retryable).
        initialize: on every :meth:`connection_made`, send address set and
            IF_Clear first (see the module docstring).

    Raises:
        LocalProtocolError: ``address`` is not 1..7.
    """

    def __init__(
        self,
        *,
        address: int = 1,
        device: str | None = None,
        ack_timeout: float = 0.5,
        inquiry_timeout: float = 1.0,
        completion_timeout: float = 2.0,
        motion_timeout: float = 10.0,
        power_timeout: float = 20.0,
        max_queue: int = 16,
        initialize: bool = False,
    ) -> None:
        if not 1 <= address <= 7:
            raise LocalProtocolError(f"VISCA camera address must be 1..7, not {address}")
        self.address = address
        self.device = device
        self.initialize = initialize
        self._ack_timeout = ack_timeout
        self._inquiry_timeout = inquiry_timeout
        self._completion_timeout = completion_timeout
        self._motion_timeout = motion_timeout
        self._power_timeout = power_timeout
        self._connected = False
        self._reader = FrameReader()
        self._out = bytearray()
        self._events: list[SessionEvent] = []
        self._commands: CommandQueue[ViscaCommand] = CommandQueue(
            self._events,
            max_queue=max_queue,
            device=device,
            full_message=f"VISCA command queue full ({max_queue} waiting)",
            timeout=lambda command: self._first_stage(command)[1],
            timeout_error=self._timeout_error,
        )
        # What the outstanding command waits for, and the socket its ACK named.
        self._stage = _Stage.ACK
        self._socket = 0

    # --- DeviceSession ---------------------------------------------------------

    def connection_made(self, *, now: float) -> None:
        """The line opened; partial input from before is forgotten.

        With ``initialize``, address set and IF_Clear are queued (and the
        first sent) now, before anything :meth:`send` adds.
        """
        self._connected = True
        self._reader.clear()
        if self.initialize:
            for command in (AddressSet(first=self.address), IfClear(broadcast=True)):
                self.send(command, now=now)

    def connection_lost(self, *, now: float) -> None:
        """The line closed: the outstanding and all queued commands fail (retryable)."""
        self._connected = False
        self._reader.clear()
        self._out.clear()
        error = DeviceUnavailableError("VISCA connection lost", device=self.device)
        self._commands.fail_all(error, retryable=True)

    def send(self, command: ViscaCommand, *, now: float) -> None:
        """Queue ``command`` for this camera (or the chain, for broadcasts).

        Raises:
            LocalProtocolError: ``command`` is not a VISCA command.
        """
        raw = encode_command(command, address=self.address)
        if not self._connected:
            self._fail(command, DeviceUnavailableError("VISCA line not open", device=self.device))
        elif self._commands.submit(command, raw):
            self._start_next(now)

    def data_to_send(self) -> bytes:
        """Return and forget the bytes the transport must write."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def data_written(self, *, now: float) -> None:
        """Nothing to do: commands complete on the device's reply, not on the write."""

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Feed bytes read from the line. Never raises; garbage becomes ``Fault``."""
        for frame in self._reader.feed(data):
            try:
                reply = decode_reply(frame)
            except RemoteProtocolError as exc:
                self._fault(exc.message, frame)
                continue
            self._handle(reply, frame, now)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must be called, or None if nothing waits."""
        return self._commands.next_deadline()

    def handle_timeout(self, *, now: float) -> None:
        """Fail the outstanding command if its deadline has passed."""
        if self._commands.expire(now=now):
            self._start_next(now)

    def events(self) -> list[SessionEvent]:
        """Return and forget the events since the last call."""
        events = list(self._events)
        self._events.clear()
        return events

    # --- internals -------------------------------------------------------------

    def _completion_timeout_for(self, command: ViscaCommand) -> float:
        if isinstance(command, Power):
            return self._power_timeout
        if isinstance(command, PresetRecall | PanTiltDrive | Zoom):
            return self._motion_timeout
        return self._completion_timeout

    def _first_stage(self, command: ViscaCommand) -> tuple[_Stage, float]:
        if is_broadcast(command):
            return _Stage.BROADCAST_REPLY, self._completion_timeout
        if isinstance(command, _INQUIRIES):
            return _Stage.ANSWER, self._inquiry_timeout
        if isinstance(command, IfClear):
            return _Stage.COMPLETION, self._completion_timeout
        return _Stage.ACK, self._ack_timeout

    def _start_next(self, now: float) -> None:
        if (pending := self._commands.start_next(now=now)) is None:
            return
        self._stage, self._socket = self._first_stage(pending.command)[0], 0
        self._out += pending.raw

    def _timeout_error(self, pending: Pending[ViscaCommand]) -> DeviceError:
        message = f"VISCA no {self._stage.value} to {type(pending.command).__name__}"
        return DeviceTimeoutError(message, device=self.device, raw=pending.raw)

    def _handle(self, reply: ViscaReply, frame: bytes, now: float) -> None:
        if isinstance(reply, NetworkChange):
            self._events.append(Unsolicited(reply, frame))
            return
        current = self._commands.outstanding
        if current is None:
            self._fault("unexpected VISCA reply (no command outstanding)", frame)
            return
        if isinstance(reply, Ack | Completion | ErrorReply) and reply.address != self.address:
            self._fault(f"VISCA reply from camera {reply.address}, expected {self.address}", frame)
            return
        match self._stage, reply:
            case _Stage.ACK, Ack(socket=socket):
                self._stage, self._socket = _Stage.COMPLETION, socket
                self._commands.rearm(deadline=now + self._completion_timeout_for(current.command))
            case (_Stage.ACK | _Stage.ANSWER | _Stage.COMPLETION, ErrorReply()) if (
                self._stage is not _Stage.COMPLETION or reply.socket in (0, self._socket)
            ):
                error = DeviceReportedError(
                    reply.message, device=self.device, code=f"{reply.code:02X}", raw=frame
                )
                self._finish(error, now)
            case _Stage.COMPLETION, Completion(socket=socket, payload=b"") if (
                socket == self._socket
            ):
                self._complete(None, frame, now)
            case _Stage.ANSWER, Completion(socket=0, payload=payload) if isinstance(
                current.command, _INQUIRIES
            ):
                try:
                    answer = decode_answer(current.command, payload)
                except RemoteProtocolError as exc:
                    self._fault(exc.message, frame)
                    self._finish(RemoteProtocolError(exc.message, device=self.device), now)
                else:
                    self._complete(answer, frame, now)
            case _Stage.BROADCAST_REPLY, AddressSetReply() if isinstance(
                current.command, AddressSet
            ):
                self._complete(reply, frame, now)
            case _Stage.BROADCAST_REPLY, IfClearBroadcastReply() if isinstance(
                current.command, IfClear
            ):
                self._complete(reply, frame, now)
            case _:
                expected = f"{self._stage.value} to {type(current.command).__name__}"
                self._fault(f"unexpected VISCA reply (waiting for {expected})", frame)

    def _complete(self, reply: object, frame: bytes, now: float) -> None:
        self._commands.complete(reply, frame)
        self._start_next(now)

    def _finish(self, error: DeviceError, now: float) -> None:
        self._commands.fail(error, retryable=is_retryable(error))
        self._start_next(now)

    def _fail(self, command: ViscaCommand, error: DeviceError) -> None:
        self._events.append(Failed(command, error, retryable=is_retryable(error)))

    def _fault(self, message: str, frame: bytes) -> None:
        self._events.append(Fault(RemoteProtocolError(message, device=self.device, raw=frame)))
