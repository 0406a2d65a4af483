"""Pelco-D: bytes ⇄ messages, no I/O.

Every message is seven bytes (Pelco "D" Protocol Manual, TF-0002 v2r1,
"The Message Format")::

    byte 1   2        3          4          5       6       7
         FF  address  command 1  command 2  data 1  data 2  checksum

The checksum is the sum of bytes 2 to 6 modulo 256. Standard commands
("The Standard Command Set") set bits of commands 1 and 2::

    bit        7      6         5         4          3          2           1          0
    command 1  sense  reserved  reserved  auto scan  camera on  iris close  iris open  focus near
    command 2  focus  zoom      zoom      tilt down  tilt up    pan left    pan right  0
               far    wide      tele

data 1 is the pan speed (00–3F, FF turbo), data 2 the tilt speed (00–3F).
With the sense bit set, "camera on" turns the camera on; clear, off.
Extended commands ("Extended Command Set") have bit 0 of command 2 set::

    set preset    00 03 00 pp       clear preset  00 05 00 pp
    go to preset  00 07 00 pp       (pp = 01..FF)

Anything else with a good checksum decodes to :class:`OtherCommand`, so a
decoder never loses a frame it cannot name. Receivers do not acknowledge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from devices.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "FRAME_LENGTH",
    "PAN_SPEED_MAX",
    "PAN_SPEED_TURBO",
    "SYNC",
    "TILT_SPEED_MAX",
    "CameraPower",
    "FrameReader",
    "Motion",
    "OtherCommand",
    "PanMotion",
    "PelcoCommand",
    "PelcoFrame",
    "PresetClear",
    "PresetGoto",
    "PresetSet",
    "TiltMotion",
    "ZoomMotion",
    "checksum",
    "decode",
    "encode",
]

SYNC = 0xFF
FRAME_LENGTH = 7
PAN_SPEED_MAX = 0x3F
PAN_SPEED_TURBO = 0xFF
TILT_SPEED_MAX = 0x3F

_SENSE = 0x80
_CAMERA_ON_OFF = 0x08


def _check_byte(name: str, value: int, low: int = 0, high: int = 0xFF) -> None:
    if not low <= value <= high:
        raise LocalProtocolError(f"Pelco-D {name} must be {low}..{high}, not {value}")


class PanMotion(enum.IntEnum):
    """Pan bits of command 2."""

    STOP = 0x00
    RIGHT = 0x02
    LEFT = 0x04


class TiltMotion(enum.IntEnum):
    """Tilt bits of command 2."""

    STOP = 0x00
    UP = 0x08
    DOWN = 0x10


class ZoomMotion(enum.IntEnum):
    """Zoom bits of command 2."""

    STOP = 0x00
    TELE = 0x20
    WIDE = 0x40


@dataclass(frozen=True, slots=True)
class Motion:
    """Standard pan/tilt/zoom command; ``Motion()`` is the stop command."""

    pan: PanMotion = PanMotion.STOP
    tilt: TiltMotion = TiltMotion.STOP
    zoom: ZoomMotion = ZoomMotion.STOP
    pan_speed: int = 0
    tilt_speed: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "pan", PanMotion(self.pan))
            object.__setattr__(self, "tilt", TiltMotion(self.tilt))
            object.__setattr__(self, "zoom", ZoomMotion(self.zoom))
        except ValueError as exc:
            raise LocalProtocolError(f"Pelco-D motion invalid: {exc}") from exc
        if self.pan_speed != PAN_SPEED_TURBO:
            _check_byte("pan speed", self.pan_speed, 0, PAN_SPEED_MAX)
        _check_byte("tilt speed", self.tilt_speed, 0, TILT_SPEED_MAX)

    @property
    def is_stop(self) -> bool:
        """True when nothing moves."""
        return not (self.pan or self.tilt or self.zoom)


@dataclass(frozen=True, slots=True)
class CameraPower:
    """Camera on (sense + camera bits, ``88 00``) or off (``08 00``)."""

    on: bool


@dataclass(frozen=True, slots=True)
class PresetSet:
    """Extended command ``00 03 00 pp``: store the current position as preset ``pp``."""

    number: int

    def __post_init__(self) -> None:
        _check_byte("preset", self.number, 1, 0xFF)


@dataclass(frozen=True, slots=True)
class PresetClear:
    """Extended command ``00 05 00 pp``: forget preset ``pp``."""

    number: int

    def __post_init__(self) -> None:
        _check_byte("preset", self.number, 1, 0xFF)


@dataclass(frozen=True, slots=True)
class PresetGoto:
    """Extended command ``00 07 00 pp``: move to preset ``pp``."""

    number: int

    def __post_init__(self) -> None:
        _check_byte("preset", self.number, 1, 0xFF)


@dataclass(frozen=True, slots=True)
class OtherCommand:
    """Any other command (focus, iris, aux, pattern …), kept as its four bytes."""

    command1: int
    command2: int
    data1: int
    data2: int

    def __post_init__(self) -> None:
        for name in ("command1", "command2", "data1", "data2"):
            _check_byte(name, getattr(self, name))


PelcoCommand = Motion | CameraPower | PresetSet | PresetClear | PresetGoto | OtherCommand


@dataclass(frozen=True, slots=True)
class PelcoFrame:
    """One seven-byte message to (or from) the receiver at ``address``."""

    address: int
    command: PelcoCommand

    def __post_init__(self) -> None:
        _check_byte("address", self.address)


_PRESET_OPCODES: dict[int, type[PresetSet | PresetClear | PresetGoto]] = {
    0x03: PresetSet,
    0x05: PresetClear,
    0x07: PresetGoto,
}
_PRESET_CODES = {cls: code for code, cls in _PRESET_OPCODES.items()}


def checksum(body: bytes) -> int:
    """Return the checksum of bytes 2–6 (address to data 2)."""
    return sum(body) % 256


def _command_bytes(command: PelcoCommand) -> tuple[int, int, int, int]:
    match command:
        case Motion(pan, tilt, zoom, pan_speed, tilt_speed):
            return 0x00, pan | tilt | zoom, pan_speed, tilt_speed
        case CameraPower(on):
            return (_SENSE if on else 0) | _CAMERA_ON_OFF, 0x00, 0x00, 0x00
        case PresetSet(number) | PresetClear(number) | PresetGoto(number):
            return 0x00, _PRESET_CODES[type(command)], 0x00, number
        case OtherCommand(command1, command2, data1, data2):
            return command1, command2, data1, data2
    raise LocalProtocolError(f"not a Pelco-D command: {command!r}")


def encode(frame: PelcoFrame) -> bytes:
    """Encode ``frame`` as its seven bytes.

    Raises:
        LocalProtocolError: ``frame`` holds something that is not a Pelco-D command.
    """
    if not isinstance(frame, PelcoFrame):
        raise LocalProtocolError(f"not a Pelco-D frame: {frame!r}")
    body = bytes((frame.address, *_command_bytes(frame.command)))
    return bytes((SYNC,)) + body + bytes((checksum(body),))


def _decode_command(command1: int, command2: int, data1: int, data2: int) -> PelcoCommand:
    if command1 == 0x00 and command2 in _PRESET_OPCODES and data1 == 0x00 and data2 != 0:
        return _PRESET_OPCODES[command2](data2)
    if (command1, command2, data1, data2) == (_SENSE | _CAMERA_ON_OFF, 0, 0, 0):
        return CameraPower(on=True)
    if (command1, command2, data1, data2) == (_CAMERA_ON_OFF, 0, 0, 0):
        return CameraPower(on=False)
    if command1 == 0x00 and not command2 & 0x81:
        try:
            return Motion(
                PanMotion(command2 & 0x06),
                TiltMotion(command2 & 0x18),
                ZoomMotion(command2 & 0x60),
                pan_speed=data1,
                tilt_speed=data2,
            )
        except (ValueError, LocalProtocolError):
            pass  # both directions at once, or a speed out of range
    return OtherCommand(command1, command2, data1, data2)


def decode(data: bytes) -> PelcoFrame:
    """Decode exactly one seven-byte frame.

    Raises:
        RemoteProtocolError: wrong length, no sync byte, or a bad checksum.
    """
    if len(data) != FRAME_LENGTH:
        raise RemoteProtocolError(f"Pelco-D frame must be 7 bytes, not {len(data)}", raw=data)
    if data[0] != SYNC:
        raise RemoteProtocolError(f"Pelco-D frame without sync byte: {data.hex(' ')}", raw=data)
    if checksum(data[1:6]) != data[6]:
        raise RemoteProtocolError(f"Pelco-D checksum mismatch: {data.hex(' ')}", raw=data)
    return PelcoFrame(data[1], _decode_command(*data[2:6]))


class FrameReader:
    """Finds frames in a byte stream, resynchronising on the 0xFF sync byte.

    Bytes before a sync byte, and a seven-byte candidate whose checksum fails,
    are reported as :class:`RemoteProtocolError` values (never raised); after a
    bad candidate the search restarts at the next 0xFF, so a good frame right
    behind garbage is still found. Bytes inside an already reported candidate
    are not reported twice.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._reported = 0  # leading bytes of the buffer already reported as garbage

    def feed(self, data: bytes) -> list[PelcoFrame | RemoteProtocolError]:
        """Add ``data``; return frames and garbage reports in stream order."""
        self._buffer += data
        out: list[PelcoFrame | RemoteProtocolError] = []
        while self._buffer:
            start = self._buffer.find(SYNC)
            if start < 0:
                start = len(self._buffer)
            if start:
                self._skip(start, out)
                continue
            if len(self._buffer) < FRAME_LENGTH:
                break
            candidate = bytes(self._buffer[:FRAME_LENGTH])
            try:
                frame = decode(candidate)
            except RemoteProtocolError as exc:
                if not self._reported:
                    out.append(exc)
                    self._reported = FRAME_LENGTH
                self._skip(1, out)
                continue
            out.append(frame)
            del self._buffer[:FRAME_LENGTH]
            self._reported = 0
        return out

    def _skip(self, count: int, out: list[PelcoFrame | RemoteProtocolError]) -> None:
        if count > self._reported:
            junk = bytes(self._buffer[self._reported : count])
            out.append(
                RemoteProtocolError(f"Pelco-D bytes out of frame: {junk.hex(' ')}", raw=junk)
            )
        del self._buffer[:count]
        self._reported = max(0, self._reported - count)

    def clear(self) -> None:
        """Forget partial input (the line was reopened)."""
        self._buffer.clear()
        self._reported = 0
