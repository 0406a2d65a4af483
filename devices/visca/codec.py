"""Sony VISCA: bytes ⇄ messages, no I/O.

Packet layout (Sony VISCA "Command List" chapter, e.g. FCB-EV7500 / SRG-300H /
EVI-D70 technical manuals)::

    header   message (1..14 bytes)   terminator
    1 byte   ...                     0xFF

The header is ``0x80 | sender << 4 | receiver``. The controller is device 0,
so a command to camera ``x`` (1..7) starts ``8x`` and a broadcast ``88``; a
camera at address ``x`` answers with ``y0`` where ``y = x + 8``. 0xFF never
occurs inside a packet, so a stream is split at 0xFF and resynchronises there.

Commands the camera accepts are sent with :func:`encode_command` and read by
:func:`decode_command`; replies go the other way with :func:`encode_reply` and
:func:`decode_reply`. An inquiry's answer arrives as a :class:`Completion`
whose payload :func:`decode_answer` interprets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.visca.messages import (
    AddressSet,
    IfClear,
    PanDirection,
    PanTiltDrive,
    PanTiltPosition,
    PanTiltPositionInquiry,
    Power,
    PowerInquiry,
    PowerState,
    PresetRecall,
    PresetReset,
    PresetSet,
    TiltDirection,
    ViscaAnswer,
    ViscaCommand,
    ViscaInquiry,
    Zoom,
    ZoomDirection,
    ZoomPosition,
    ZoomPositionInquiry,
    is_broadcast,
)

__all__ = [
    "BROADCAST",
    "MAX_PACKET",
    "TERMINATOR",
    "Ack",
    "AddressSetReply",
    "Completion",
    "ErrorReply",
    "FrameReader",
    "IfClearBroadcastReply",
    "NetworkChange",
    "ViscaErrorCode",
    "ViscaReply",
    "decode_answer",
    "decode_command",
    "decode_reply",
    "encode_answer",
    "encode_command",
    "encode_reply",
    "error_message",
]

TERMINATOR = 0xFF
BROADCAST = 8
#: Header + at most 14 message bytes + terminator ("Message length error (>14 bytes)").
MAX_PACKET = 16


class ViscaErrorCode(enum.IntEnum):
    """Error codes of the reply ``y0 6z ee FF`` (VISCA "Error Messages" table)."""

    MESSAGE_LENGTH = 0x01
    SYNTAX = 0x02
    COMMAND_BUFFER_FULL = 0x03
    COMMAND_CANCELLED = 0x04
    NO_SOCKET = 0x05
    NOT_EXECUTABLE = 0x41


_ERROR_MESSAGES = {
    ViscaErrorCode.MESSAGE_LENGTH: "VISCA message length error",
    ViscaErrorCode.SYNTAX: "VISCA syntax error",
    ViscaErrorCode.COMMAND_BUFFER_FULL: "VISCA command buffer full",
    ViscaErrorCode.COMMAND_CANCELLED: "VISCA command cancelled",
    ViscaErrorCode.NO_SOCKET: "VISCA no socket",
    ViscaErrorCode.NOT_EXECUTABLE: "VISCA command not executable",
}


def error_message(code: int) -> str:
    """Return the one-line reason for a VISCA error code (``"VISCA syntax error"``)."""
    try:
        return _ERROR_MESSAGES[ViscaErrorCode(code)]
    except ValueError:
        return f"VISCA error {code:02X}"


# --- replies (camera → controller) --------------------------------------------


def _check_camera(address: int) -> None:
    if not 1 <= address <= 7:
        raise LocalProtocolError(f"VISCA camera address must be 1..7, not {address}")


def _check_socket(socket: int) -> None:
    if not 0 <= socket <= 0x0F:
        raise LocalProtocolError(f"VISCA socket must be 0..15, not {socket}")


@dataclass(frozen=True, slots=True)
class Ack:
    """``y0 4z FF``: command accepted into socket ``z``."""

    address: int
    socket: int

    def __post_init__(self) -> None:
        _check_camera(self.address)
        _check_socket(self.socket)


@dataclass(frozen=True, slots=True)
class Completion:
    """``y0 5z FF`` (command done) or ``y0 50 <payload> FF`` (inquiry answer)."""

    address: int
    socket: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        _check_camera(self.address)
        _check_socket(self.socket)
        if len(self.payload) > MAX_PACKET - 3 or TERMINATOR in self.payload:
            raise LocalProtocolError(f"VISCA completion payload invalid: {self.payload.hex(' ')}")


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """``y0 6z ee FF``: the command in socket ``z`` failed with code ``ee``."""

    address: int
    socket: int
    code: int

    def __post_init__(self) -> None:
        _check_camera(self.address)
        _check_socket(self.socket)
        if not 0 <= self.code < TERMINATOR:
            raise LocalProtocolError(f"VISCA error code must be 00..FE, not {self.code}")

    @property
    def message(self) -> str:
        """The named reason, e.g. ``"VISCA syntax error"``."""
        return error_message(self.code)


@dataclass(frozen=True, slots=True)
class AddressSetReply:
    """``88 30 0n FF``: the last camera in the chain passes on ``n`` = its address + 1."""

    next_address: int

    def __post_init__(self) -> None:
        if not 1 <= self.next_address <= 8:
            raise LocalProtocolError(f"VISCA next address must be 1..8, not {self.next_address}")


@dataclass(frozen=True, slots=True)
class IfClearBroadcastReply:
    """``88 01 00 01 FF``: the broadcast IF_Clear came back round the chain."""


@dataclass(frozen=True, slots=True)
class NetworkChange:
    """``y0 38 FF``: a camera was added or removed; addresses must be set again."""

    address: int

    def __post_init__(self) -> None:
        _check_camera(self.address)


ViscaReply = Ack | Completion | ErrorReply | AddressSetReply | IfClearBroadcastReply | NetworkChange

_ADDRESS_SET_REPLY = bytes((0x88, 0x30))
_IF_CLEAR_BROADCAST = bytes((0x88, 0x01, 0x00, 0x01, TERMINATOR))


def encode_reply(reply: ViscaReply) -> bytes:
    """Encode a camera reply (used by the virtual camera).

    Raises:
        LocalProtocolError: ``reply`` is not a VISCA reply.
    """
    match reply:
        case Ack(address, socket):
            body = bytes((0x40 | socket,))
        case Completion(address, socket, payload):
            body = bytes((0x50 | socket,)) + payload
        case ErrorReply(address, socket, code):
            body = bytes((0x60 | socket, code))
        case NetworkChange(address):
            body = b"\x38"
        case AddressSetReply(next_address):
            return _ADDRESS_SET_REPLY + bytes((next_address, TERMINATOR))
        case IfClearBroadcastReply():
            return _IF_CLEAR_BROADCAST
        case _:
            raise LocalProtocolError(f"not a VISCA reply: {reply!r}")
    return bytes(((address + 8) << 4,)) + body + bytes((TERMINATOR,))


def _frame_body(frame: bytes) -> bytes:
    """Return the bytes between header and terminator, checking the packet shape."""
    if len(frame) < 3 or frame[-1] != TERMINATOR:
        raise RemoteProtocolError(f"VISCA packet not terminated: {frame.hex(' ')}", raw=frame)
    if len(frame) > MAX_PACKET:
        raise RemoteProtocolError(f"VISCA packet too long ({len(frame)} bytes)", raw=frame)
    if TERMINATOR in frame[:-1] or not frame[0] & 0x80:
        raise RemoteProtocolError(f"VISCA packet malformed: {frame.hex(' ')}", raw=frame)
    return frame[1:-1]


def decode_reply(frame: bytes) -> ViscaReply:
    """Decode one camera reply packet (header to 0xFF inclusive).

    Raises:
        RemoteProtocolError: ``frame`` is not a valid VISCA reply.
    """
    body = _frame_body(frame)
    header = frame[0]
    if header == 0x88:
        if frame == _IF_CLEAR_BROADCAST:
            return IfClearBroadcastReply()
        if len(body) == 2 and body[0] == 0x30 and 1 <= body[1] <= 8:
            return AddressSetReply(body[1])
        raise RemoteProtocolError(f"unknown VISCA broadcast reply: {frame.hex(' ')}", raw=frame)
    address = (header >> 4) - 8
    if header & 0x0F or not 1 <= address <= 7:
        raise RemoteProtocolError(f"VISCA reply header invalid: {frame.hex(' ')}", raw=frame)
    kind, socket = body[0] >> 4, body[0] & 0x0F
    if kind == 0x4 and len(body) == 1:
        return Ack(address, socket)
    if kind == 0x5:
        return Completion(address, socket, bytes(body[1:]))
    if kind == 0x6 and len(body) == 2:
        return ErrorReply(address, socket, body[1])
    if body == b"\x38":
        return NetworkChange(address)
    raise RemoteProtocolError(f"unknown VISCA reply: {frame.hex(' ')}", raw=frame)


# --- commands (controller → camera) ---------------------------------------------
#
# Command packets (VISCA "Command List": AddressSet, IF_Clear, CAM_Power,
# CAM_Memory, Pan-tiltDrive, CAM_Zoom; "Inquiry Command List": CAM_PowerInq,
# CAM_ZoomPosInq, Pan-tiltPosInq). Shown without the 8x header and FF.
#
#   AddressSet (broadcast)   30 0n                n = first address
#   IF_Clear                 01 00 01          (8x, or 88 for broadcast)
#   CAM_Power On / Off       01 04 00 02 / 03
#   CAM_Memory Reset/Set/Recall  01 04 3F 00/01/02 pp
#   Pan-tiltDrive            01 06 01 VV WW PP TT  PP: 01 left 02 right 03 stop
#                                                   TT: 01 up 02 down 03 stop
#   CAM_Zoom Stop            01 04 07 00
#            Tele / Wide     01 04 07 02 / 03      (standard speed)
#            Tele / Wide     01 04 07 2p / 3p      (variable, p = 0..7)
#   CAM_PowerInq             09 04 00
#   CAM_ZoomPosInq           09 04 47
#   Pan-tiltPosInq           09 06 12

_FIXED: dict[bytes, ViscaCommand] = {
    b"\x01\x04\x00\x02": Power(on=True),
    b"\x01\x04\x00\x03": Power(on=False),
    b"\x01\x04\x07\x00": Zoom(ZoomDirection.STOP),
    b"\x01\x04\x07\x02": Zoom(ZoomDirection.TELE),
    b"\x01\x04\x07\x03": Zoom(ZoomDirection.WIDE),
    b"\x09\x04\x00": PowerInquiry(),
    b"\x09\x04\x47": ZoomPositionInquiry(),
    b"\x09\x06\x12": PanTiltPositionInquiry(),
}
_FIXED_BODIES = {command: body for body, command in _FIXED.items()}
_PRESET_OPS: dict[int, type[PresetReset | PresetSet | PresetRecall]] = {
    0x00: PresetReset,
    0x01: PresetSet,
    0x02: PresetRecall,
}
_PRESET_CODES = {cls: op for op, cls in _PRESET_OPS.items()}
_ZOOM_VARIABLE = {ZoomDirection.TELE: 0x20, ZoomDirection.WIDE: 0x30}


def _command_body(command: ViscaCommand) -> bytes:
    fixed = _FIXED_BODIES.get(command)
    if fixed is not None:
        return fixed
    match command:
        case IfClear():
            return b"\x01\x00\x01"
        case AddressSet(first):
            return bytes((0x30, first))
        case PresetReset(number) | PresetSet(number) | PresetRecall(number):
            return bytes((0x01, 0x04, 0x3F, _PRESET_CODES[type(command)], number))
        case PanTiltDrive(pan, tilt, pan_speed, tilt_speed):
            return bytes((0x01, 0x06, 0x01, pan_speed, tilt_speed, pan, tilt))
        case Zoom(direction, speed) if speed is not None:
            return bytes((0x01, 0x04, 0x07, _ZOOM_VARIABLE[direction] | speed))
    raise LocalProtocolError(f"not a VISCA command: {command!r}")


def encode_command(command: ViscaCommand, *, address: int) -> bytes:
    """Encode ``command`` for the camera at ``address`` (1..7).

    Broadcast commands (:class:`AddressSet`, ``IfClear(broadcast=True)``) go to
    every camera (header ``88``) whatever ``address`` says; :data:`BROADCAST`
    is accepted as their address and only for them.

    Raises:
        LocalProtocolError: ``address`` is out of range or ``command`` unknown.
    """
    if is_broadcast(command):
        address = BROADCAST
    else:
        _check_camera(address)
    return bytes((0x80 | address,)) + _command_body(command) + bytes((TERMINATOR,))


def decode_command(frame: bytes) -> tuple[int, ViscaCommand]:
    """Decode one command packet; return ``(address, command)``.

    Raises:
        RemoteProtocolError: not a VISCA command packet, unknown command, or
            parameters out of range (a camera answers these with a syntax error).
    """
    body = _frame_body(frame)
    header = frame[0]
    if not 0x81 <= header <= 0x88:
        raise RemoteProtocolError(f"VISCA command header invalid: {frame.hex(' ')}", raw=frame)
    address = header & 0x0F
    try:
        command = _FIXED.get(body) or _decode_variable(body, broadcast=address == BROADCAST)
    except LocalProtocolError as exc:
        raise RemoteProtocolError(f"VISCA command invalid: {exc.message}", raw=frame) from exc
    if command is None:
        raise RemoteProtocolError(f"unknown VISCA command: {frame.hex(' ')}", raw=frame)
    if is_broadcast(command) != (address == BROADCAST):
        raise RemoteProtocolError(f"VISCA command misaddressed: {frame.hex(' ')}", raw=frame)
    return address, command


def _decode_variable(body: bytes, *, broadcast: bool) -> ViscaCommand | None:
    if body == b"\x01\x00\x01":
        return IfClear(broadcast=broadcast)
    if len(body) == 2 and body[0] == 0x30:
        return AddressSet(body[1])
    if len(body) == 5 and body[:3] == b"\x01\x04\x3f" and body[3] in _PRESET_OPS:
        return _PRESET_OPS[body[3]](body[4])
    if len(body) == 7 and body[:3] == b"\x01\x06\x01":
        try:
            pan, tilt = PanDirection(body[5]), TiltDirection(body[6])
        except ValueError:
            return None
        return PanTiltDrive(pan, tilt, pan_speed=body[3], tilt_speed=body[4])
    if len(body) == 4 and body[:3] == b"\x01\x04\x07" and body[3] >> 4 in (2, 3):
        direction = ZoomDirection.TELE if body[3] >> 4 == 2 else ZoomDirection.WIDE
        return Zoom(direction, speed=body[3] & 0x0F)
    return None


# --- inquiry answers (payload of ``y0 50 … FF``) -------------------------------


def _nibbles(value: int, count: int) -> bytes:
    return bytes((value >> (4 * i)) & 0x0F for i in reversed(range(count)))


def _from_nibbles(payload: bytes) -> int:
    value = 0
    for byte in payload:
        if byte > 0x0F:
            raise RemoteProtocolError(f"VISCA nibble out of range: {payload.hex(' ')}", raw=payload)
        value = value << 4 | byte
    return value


def _signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def encode_answer(answer: ViscaAnswer) -> bytes:
    """Encode an inquiry answer as the payload of ``y0 50 <payload> FF``.

    Raises:
        LocalProtocolError: ``answer`` is not an inquiry answer.
    """
    match answer:
        case PowerState(on):
            return b"\x02" if on else b"\x03"
        case PanTiltPosition(pan, tilt):
            return _nibbles(pan & 0xFFFF, 4) + _nibbles(tilt & 0xFFFF, 4)
        case ZoomPosition(zoom):
            return _nibbles(zoom, 4)
    raise LocalProtocolError(f"not a VISCA inquiry answer: {answer!r}")


def decode_answer(inquiry: ViscaInquiry, payload: bytes) -> ViscaAnswer:
    """Interpret the payload of the completion that answers ``inquiry``.

    Raises:
        RemoteProtocolError: the payload does not fit the inquiry's answer.
    """
    match inquiry:
        case PowerInquiry() if payload in (b"\x02", b"\x03"):
            return PowerState(on=payload == b"\x02")
        case PanTiltPositionInquiry() if len(payload) == 8:
            pan, tilt = _from_nibbles(payload[:4]), _from_nibbles(payload[4:])
            return PanTiltPosition(_signed16(pan), _signed16(tilt))
        case ZoomPositionInquiry() if len(payload) == 4:
            return ZoomPosition(_from_nibbles(payload))
    name = type(inquiry).__name__
    raise RemoteProtocolError(f"VISCA answer to {name} invalid: {payload.hex(' ')}", raw=payload)


class FrameReader:
    """Splits a byte stream into packets at each 0xFF terminator.

    Bytes without a terminator are kept until it arrives, but never more than
    :data:`MAX_PACKET`: an over-long run is handed out once as it stands (the
    decoders reject it) and the rest of it, up to the next 0xFF, is skipped.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the complete packets it finished, in order."""
        packets: list[bytes] = []
        for byte in data:
            if self._skipping:
                self._skipping = byte != TERMINATOR
                continue
            self._buffer.append(byte)
            if byte == TERMINATOR:
                packets.append(bytes(self._buffer))
                self._buffer.clear()
            elif len(self._buffer) >= MAX_PACKET:
                packets.append(bytes(self._buffer))
                self._buffer.clear()
                self._skipping = True
        return packets

    def clear(self) -> None:
        """Forget partial input (the line was reopened)."""
        self._buffer.clear()
        self._skipping = False
