"""A simulated Pelco-D PTZ camera (sans-I/O :class:`devices.virtual.VirtualDevice`).

Like a real Pelco-D receiver it never answers: frames for its address are
applied silently, frames for other addresses are ignored, and frames with a
bad checksum or stray bytes are dropped and recorded in :attr:`rejected` so
tests (and the simulator's log) can see them. Its state is open for checks:
:meth:`VirtualPelcoCamera.position`, :attr:`presets`, :attr:`powered`,
:attr:`applied`.

Motion follows the standard command: pan and tilt move at a rate set by their
speed byte until a stop (``Motion()``); zoom moves at a fixed rate. Go to
preset jumps to the stored position (the camera's own travel time is not
observable over Pelco-D anyway). Line faults come from the serving harness;
they shape replies, and a Pelco-D receiver has none, so the one device fault
``echo`` makes it send every frame it applied back, as a half-duplex RS-485
adapter that hears its own transmission does: the controller then sees
bytes (``Unsolicited`` frames, or ``Fault`` when the harness adds garbage).
:meth:`VirtualPelcoCamera.state_text` is what the simulator's control port
answers to ``state``, so a test in another process can verify a command that
the protocol itself never acknowledges.
"""

from __future__ import annotations

from devices.errors import RemoteProtocolError
from devices.pelco.codec import (
    PAN_SPEED_TURBO,
    CameraPower,
    FrameReader,
    Motion,
    PanMotion,
    PelcoCommand,
    PresetClear,
    PresetGoto,
    PresetSet,
    TiltMotion,
    ZoomMotion,
    encode,
)

__all__ = ["VirtualPelcoCamera"]

#: Degrees per second per step of the speed byte; turbo (FF) pans at TURBO_RATE.
SPEED_RATE = 1.5
TURBO_RATE = 150.0
#: Zoom travel in percent of the range per second.
ZOOM_RATE = 25.0
TILT_LIMITS = (-90.0, 90.0)

_PAN_SIGN = {PanMotion.STOP: 0, PanMotion.RIGHT: 1, PanMotion.LEFT: -1}
_TILT_SIGN = {TiltMotion.STOP: 0, TiltMotion.UP: 1, TiltMotion.DOWN: -1}
_ZOOM_SIGN = {ZoomMotion.STOP: 0, ZoomMotion.TELE: 1, ZoomMotion.WIDE: -1}

Position = tuple[float, float, float]


class VirtualPelcoCamera:
    """One simulated Pelco-D camera. See the module docstring.

    Args:
        address: the receiver address (1..255) it obeys.
        powered: whether the camera starts switched on.
    """

    faults: frozenset[str] = frozenset({"echo"})

    def __init__(self, *, address: int = 1, powered: bool = True) -> None:
        self.address = address
        self.powered = powered
        #: Commands applied, in order.
        self.applied: list[PelcoCommand] = []
        #: Garbage dropped: bad checksums and bytes outside frames.
        self.rejected: list[RemoteProtocolError] = []
        self._reader = FrameReader()
        self._presets: dict[int, Position] = {}
        self._position: Position = (0.0, 0.0, 0.0)
        self._rates: Position = (0.0, 0.0, 0.0)
        self._clock = 0.0
        self._echo = False

    def connected(self, *, now: float) -> bytes:
        """The line opened; a Pelco-D receiver says nothing."""
        self._reader.clear()
        self._advance(now)
        return b""

    def receive(self, data: bytes, *, now: float) -> bytes:
        """Apply the frames addressed to this camera; never answers."""
        self._advance(now)
        echoed = b""
        for item in self._reader.feed(data):
            if isinstance(item, RemoteProtocolError):
                self.rejected.append(item)
            elif item.address == self.address:
                self.applied.append(item.command)
                self._apply(item.command)
                if self._echo:
                    echoed += encode(item)
        return echoed

    def poll(self, *, now: float) -> bytes:
        """Move the clock on; a Pelco-D receiver never speaks on its own."""
        self._advance(now)
        return b""

    def set_fault(self, name: str, active: bool) -> None:
        """Switch the ``echo`` fault (see the module docstring).

        Raises:
            ValueError: ``name`` is not one of :attr:`faults`.
        """
        if name not in self.faults:
            raise ValueError(f"unknown Pelco-D camera fault {name!r}; it has: echo")
        self._echo = active

    def state_text(self) -> str:
        """One line of observable state: ``powered=on presets=1,3 applied=5 rejected=0``."""
        presets = ",".join(str(n) for n in sorted(self._presets)) or "-"
        return (
            f"powered={'on' if self.powered else 'off'} presets={presets} "
            f"applied={len(self.applied)} rejected={len(self.rejected)}"
        )

    def position(self, *, now: float) -> Position:
        """Return (pan degrees 0–360, tilt degrees −90–90, zoom percent 0–100)."""
        self._advance(now)
        return self._position

    @property
    def presets(self) -> dict[int, Position]:
        """Stored presets: number → (pan, tilt, zoom)."""
        return dict(self._presets)

    @property
    def moving(self) -> bool:
        """True while a pan, tilt or zoom motion is running."""
        return any(self._rates)

    def _advance(self, now: float) -> None:
        elapsed, self._clock = max(0.0, now - self._clock), max(now, self._clock)
        pan, tilt, zoom = self._position
        pan_rate, tilt_rate, zoom_rate = self._rates
        self._position = (
            (pan + pan_rate * elapsed) % 360.0,
            min(max(tilt + tilt_rate * elapsed, TILT_LIMITS[0]), TILT_LIMITS[1]),
            min(max(zoom + zoom_rate * elapsed, 0.0), 100.0),
        )

    def _apply(self, command: PelcoCommand) -> None:
        match command:
            case Motion(pan, tilt, zoom, pan_speed, tilt_speed):
                pan_rate = TURBO_RATE if pan_speed == PAN_SPEED_TURBO else pan_speed * SPEED_RATE
                self._rates = (
                    _PAN_SIGN[pan] * pan_rate,
                    _TILT_SIGN[tilt] * tilt_speed * SPEED_RATE,
                    _ZOOM_SIGN[zoom] * ZOOM_RATE,
                )
            case CameraPower(on):
                self.powered = on
            case PresetSet(number):
                self._presets[number] = self._position
            case PresetClear(number):
                self._presets.pop(number, None)
            case PresetGoto(number) if number in self._presets:
                self._rates = (0.0, 0.0, 0.0)
                self._position = self._presets[number]
