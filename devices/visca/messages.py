"""VISCA commands, inquiries and inquiry answers as frozen dataclasses.

Every message checks its parameters on construction and raises
:class:`~devices.errors.LocalProtocolError` for values the protocol cannot
carry. Ranges follow the Sony VISCA command lists (EVI-D70 / SRG-300H / FCB
technical manuals): pan speed 01–18h, tilt speed 01–17h (the widest tilt range
among Sony models; older ones stop at 14h), zoom variable speed 0–7, memory
(preset) numbers 00–7Fh (models support a prefix of that range: 16, 100, 128).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from devices.errors import LocalProtocolError

__all__ = [
    "PAN_SPEED_MAX",
    "PRESET_MAX",
    "TILT_SPEED_MAX",
    "ZOOM_SPEED_MAX",
    "AddressSet",
    "IfClear",
    "PanDirection",
    "PanTiltDrive",
    "PanTiltPosition",
    "PanTiltPositionInquiry",
    "Power",
    "PowerInquiry",
    "PowerState",
    "PresetRecall",
    "PresetReset",
    "PresetSet",
    "TiltDirection",
    "ViscaAnswer",
    "ViscaCommand",
    "ViscaInquiry",
    "Zoom",
    "ZoomDirection",
    "ZoomPosition",
    "ZoomPositionInquiry",
    "is_broadcast",
]

PAN_SPEED_MAX = 0x18
TILT_SPEED_MAX = 0x17
ZOOM_SPEED_MAX = 7
PRESET_MAX = 0x7F


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise LocalProtocolError(f"VISCA {name} must be {low}..{high}, not {value}")


class PanDirection(enum.IntEnum):
    """Byte ``PP`` of Pan-tiltDrive."""

    LEFT = 0x01
    RIGHT = 0x02
    STOP = 0x03


class TiltDirection(enum.IntEnum):
    """Byte ``TT`` of Pan-tiltDrive."""

    UP = 0x01
    DOWN = 0x02
    STOP = 0x03


class ZoomDirection(enum.Enum):
    """CAM_Zoom: stop, tele (zoom in) or wide (zoom out)."""

    STOP = "stop"
    TELE = "tele"
    WIDE = "wide"


@dataclass(frozen=True, slots=True)
class AddressSet:
    """Broadcast ``88 30 0n FF``: number the cameras of the chain from ``first``."""

    first: int = 1

    def __post_init__(self) -> None:
        _check_range("first address", self.first, 1, 7)


@dataclass(frozen=True, slots=True)
class IfClear:
    """IF_Clear: empty the command buffers of one camera or (``broadcast``) all."""

    broadcast: bool = False


@dataclass(frozen=True, slots=True)
class Power:
    """CAM_Power on or off (standby)."""

    on: bool


@dataclass(frozen=True, slots=True)
class PresetSet:
    """CAM_Memory Set: store the current pan/tilt/zoom as preset ``number``."""

    number: int

    def __post_init__(self) -> None:
        _check_range("preset", self.number, 0, PRESET_MAX)


@dataclass(frozen=True, slots=True)
class PresetRecall:
    """CAM_Memory Recall: move to preset ``number``; completes when the move ends."""

    number: int

    def __post_init__(self) -> None:
        _check_range("preset", self.number, 0, PRESET_MAX)


@dataclass(frozen=True, slots=True)
class PresetReset:
    """CAM_Memory Reset: forget preset ``number``."""

    number: int

    def __post_init__(self) -> None:
        _check_range("preset", self.number, 0, PRESET_MAX)


@dataclass(frozen=True, slots=True)
class PanTiltDrive:
    """Pan-tiltDrive: start moving in a direction, or stop (both directions STOP)."""

    pan: PanDirection = PanDirection.STOP
    tilt: TiltDirection = TiltDirection.STOP
    pan_speed: int = 1
    tilt_speed: int = 1

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "pan", PanDirection(self.pan))
            object.__setattr__(self, "tilt", TiltDirection(self.tilt))
        except ValueError as exc:
            raise LocalProtocolError(f"VISCA pan-tilt direction invalid: {exc}") from exc
        _check_range("pan speed", self.pan_speed, 1, PAN_SPEED_MAX)
        _check_range("tilt speed", self.tilt_speed, 1, TILT_SPEED_MAX)

    @property
    def is_stop(self) -> bool:
        """True for the Stop command (``… 03 03 FF``)."""
        return self.pan is PanDirection.STOP and self.tilt is TiltDirection.STOP


@dataclass(frozen=True, slots=True)
class Zoom:
    """CAM_Zoom: ``speed`` None is the standard speed, 0..7 the variable one."""

    direction: ZoomDirection = ZoomDirection.STOP
    speed: int | None = None

    def __post_init__(self) -> None:
        if self.speed is None:
            return
        if self.direction is ZoomDirection.STOP:
            raise LocalProtocolError("VISCA zoom stop takes no speed")
        _check_range("zoom speed", self.speed, 0, ZOOM_SPEED_MAX)


@dataclass(frozen=True, slots=True)
class PowerInquiry:
    """CAM_PowerInq; answered by :class:`PowerState`."""


@dataclass(frozen=True, slots=True)
class PanTiltPositionInquiry:
    """Pan-tiltPosInq; answered by :class:`PanTiltPosition`."""


@dataclass(frozen=True, slots=True)
class ZoomPositionInquiry:
    """CAM_ZoomPosInq; answered by :class:`ZoomPosition`."""


@dataclass(frozen=True, slots=True)
class PowerState:
    """Answer ``y0 50 02 FF`` (on) or ``y0 50 03 FF`` (standby)."""

    on: bool


@dataclass(frozen=True, slots=True)
class PanTiltPosition:
    """Answer ``y0 50 0w 0w 0w 0w 0z 0z 0z 0z FF``: signed 16-bit pan and tilt."""

    pan: int
    tilt: int

    def __post_init__(self) -> None:
        _check_range("pan position", self.pan, -0x8000, 0x7FFF)
        _check_range("tilt position", self.tilt, -0x8000, 0x7FFF)


@dataclass(frozen=True, slots=True)
class ZoomPosition:
    """Answer ``y0 50 0p 0q 0r 0s FF``: 0 (wide end) upwards towards tele."""

    zoom: int

    def __post_init__(self) -> None:
        _check_range("zoom position", self.zoom, 0, 0xFFFF)


def is_broadcast(command: object) -> bool:
    """True for commands sent to every camera (header ``88``)."""
    return isinstance(command, AddressSet) or (isinstance(command, IfClear) and command.broadcast)


ViscaInquiry = PowerInquiry | PanTiltPositionInquiry | ZoomPositionInquiry
ViscaCommand = (
    AddressSet
    | IfClear
    | Power
    | PresetSet
    | PresetRecall
    | PresetReset
    | PanTiltDrive
    | Zoom
    | ViscaInquiry
)
ViscaAnswer = PowerState | PanTiltPosition | ZoomPosition
