"""A simulated Sony VISCA PTZ camera (sans-I/O :class:`devices.virtual.VirtualDevice`).

Behaves like one camera on a VISCA line, following the Sony command list:

* two command sockets; a command is acknowledged (``y0 4z FF``) into a free
  socket and completed (``y0 5z FF``) when done, a third concurrent command
  gets ``y0 60 03 FF`` (buffer full);
* inquiries are answered at once (``y0 50 … FF``), without ACK;
* power on takes ``power_on_seconds``; while in standby every command but
  power gets ``y0 6z 41 FF`` (not executable);
* preset recall moves linearly to the stored pan/tilt/zoom over
  ``recall_seconds`` and completes at the end (sent by :meth:`poll`);
  pan-tilt drive and zoom move continuously until stopped and complete at once;
* unknown or out-of-range commands get ``y0 60 02 FF`` (syntax), over-long
  packets ``y0 60 01 FF``; packets for other addresses are ignored. Models
  store fewer presets than the protocol can number (an EVI-D70 has 6): a
  preset at or beyond ``max_presets`` is out of range, a syntax error.

Device-specific faults (:meth:`set_fault`): ``buffer-full`` answers every
socket command with error 03, ``not-executable`` with error 41,
``no-completion`` acknowledges socket commands but drops their completion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devices.errors import RemoteProtocolError
from devices.visca.codec import (
    TERMINATOR,
    Ack,
    AddressSetReply,
    Completion,
    ErrorReply,
    FrameReader,
    IfClearBroadcastReply,
    ViscaErrorCode,
    decode_command,
    encode_answer,
    encode_reply,
)
from devices.visca.messages import (
    PRESET_MAX,
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
    ViscaCommand,
    Zoom,
    ZoomDirection,
    ZoomPosition,
    ZoomPositionInquiry,
)

__all__ = ["PAN_LIMITS", "TILT_LIMITS", "ZOOM_LIMITS", "VirtualViscaCamera"]

#: Mechanical limits in VISCA position units (of the order of an EVI-D70's).
PAN_LIMITS = (-0x0990, 0x0990)
TILT_LIMITS = (-0x0190, 0x0510)
ZOOM_LIMITS = (0, 0x4000)
#: Position units per second per step of drive speed.
_PAN_TILT_RATE = 40.0
_ZOOM_RATE = 1024.0
_STANDARD_ZOOM_SPEED = 3
_SOCKETS = (1, 2)

_PAN_SIGN = {PanDirection.LEFT: -1, PanDirection.RIGHT: 1, PanDirection.STOP: 0}
_TILT_SIGN = {TiltDirection.DOWN: -1, TiltDirection.UP: 1, TiltDirection.STOP: 0}
_ZOOM_SIGN = {ZoomDirection.WIDE: -1, ZoomDirection.TELE: 1, ZoomDirection.STOP: 0}

Position = tuple[float, float, float]


def _clamp(value: float, limits: tuple[int, int]) -> float:
    return min(max(value, limits[0]), limits[1])


@dataclass(slots=True)
class _Job:
    due: float
    socket: int
    finish: Callable[[], None] | None
    silent: bool


@dataclass(frozen=True, slots=True)
class _Move:
    start: float
    end: float
    origin: Position
    target: Position


class VirtualViscaCamera:
    """One simulated VISCA camera. See the module docstring.

    Args:
        address: VISCA address (1..7) until an AddressSet renumbers it.
        powered: start powered on (True) or in standby.
        power_on_seconds: how long power on takes before its completion.
        recall_seconds: how long a preset recall moves before its completion.
        max_presets: presets this model stores (numbers 0 .. max_presets-1).
    """

    faults = frozenset({"buffer-full", "not-executable", "no-completion"})

    def __init__(
        self,
        *,
        address: int = 1,
        powered: bool = True,
        power_on_seconds: float = 1.0,
        recall_seconds: float = 1.0,
        max_presets: int = PRESET_MAX + 1,
    ) -> None:
        self.address = address
        self.max_presets = max_presets
        self.powered = powered
        self._power_on_seconds = power_on_seconds
        self._recall_seconds = recall_seconds
        self._reader = FrameReader()
        self._active: set[str] = set()
        self._jobs: list[_Job] = []
        self._booting = False
        self._presets: dict[int, Position] = {}
        self._position: Position = (0.0, 0.0, 0.0)
        self._rates: Position = (0.0, 0.0, 0.0)
        self._move: _Move | None = None
        self._clock = 0.0

    # --- VirtualDevice ---------------------------------------------------------

    def connected(self, *, now: float) -> bytes:
        """The line opened; a camera says nothing."""
        self._reader.clear()
        self._advance(now)
        return b""

    def receive(self, data: bytes, *, now: float) -> bytes:
        """Handle command packets; return ACKs, errors, answers and due completions."""
        self._advance(now)
        out = bytearray()
        for frame in self._reader.feed(data):
            out += self._handle(frame, now)
            out += self._flush(now)
        return bytes(out)

    def poll(self, *, now: float) -> bytes:
        """Return the completions that fell due by ``now`` (end of a move, boot)."""
        self._advance(now)
        return self._flush(now)

    def set_fault(self, name: str, active: bool) -> None:
        """Switch ``buffer-full``, ``not-executable`` or ``no-completion`` on or off.

        Raises:
            ValueError: ``name`` is not one of :attr:`faults`.
        """
        if name not in self.faults:
            raise ValueError(f"unknown VISCA camera fault {name!r}; known: {sorted(self.faults)}")
        if active:
            self._active.add(name)
        else:
            self._active.discard(name)

    # --- state for tests and the simulator's display ---------------------------

    def position(self, *, now: float) -> tuple[int, int, int]:
        """Return (pan, tilt, zoom) in VISCA units at ``now``."""
        self._advance(now)
        pan, tilt, zoom = self._position
        return round(pan), round(tilt), round(zoom)

    @property
    def presets(self) -> dict[int, tuple[int, int, int]]:
        """Stored presets: number → (pan, tilt, zoom)."""
        return {n: (round(p), round(t), round(z)) for n, (p, t, z) in self._presets.items()}

    @property
    def busy_sockets(self) -> frozenset[int]:
        """Sockets holding a command whose completion is still due."""
        return frozenset(job.socket for job in self._jobs)

    # --- internals -------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if now < self._clock:
            return
        move, elapsed = self._move, now - self._clock
        self._clock = now
        if move is not None:
            share = 1.0 if now >= move.end else (now - move.start) / (move.end - move.start)
            self._position = (
                move.origin[0] + (move.target[0] - move.origin[0]) * share,
                move.origin[1] + (move.target[1] - move.origin[1]) * share,
                move.origin[2] + (move.target[2] - move.origin[2]) * share,
            )
            if now >= move.end:
                self._move = None
            return
        pan, tilt, zoom = self._position
        pan_rate, tilt_rate, zoom_rate = self._rates
        self._position = (
            _clamp(pan + pan_rate * elapsed, PAN_LIMITS),
            _clamp(tilt + tilt_rate * elapsed, TILT_LIMITS),
            _clamp(zoom + zoom_rate * elapsed, ZOOM_LIMITS),
        )

    def _error(self, code: ViscaErrorCode, socket: int = 0) -> bytes:
        return encode_reply(ErrorReply(self.address, socket, code))

    def _handle(self, frame: bytes, now: float) -> bytes:
        header = frame[0]
        if header not in (0x80 | self.address, 0x88):
            return b""  # for another camera, or not a VISCA packet
        if frame[-1] != TERMINATOR:  # FrameReader cut an over-long packet
            return self._error(ViscaErrorCode.MESSAGE_LENGTH)
        try:
            _, command = decode_command(frame)
        except RemoteProtocolError:
            return b"" if header == 0x88 else self._error(ViscaErrorCode.SYNTAX)
        match command:
            case AddressSet(first):
                self.address = first
                return encode_reply(AddressSetReply(min(first + 1, 8)))
            case IfClear(broadcast):
                self._jobs.clear()
                self._rates, self._move = (0.0, 0.0, 0.0), None
                return encode_reply(
                    IfClearBroadcastReply() if broadcast else Completion(self.address, 0)
                )
            case PowerInquiry():
                return self._answer(PowerState(self.powered))
            case PanTiltPositionInquiry():
                pan, tilt, _ = self.position(now=now)
                return self._answer(PanTiltPosition(pan, tilt))
            case ZoomPositionInquiry():
                return self._answer(ZoomPosition(self.position(now=now)[2]))
            case PresetSet(number) | PresetRecall(number) | PresetReset(number) if (
                number >= self.max_presets
            ):
                return self._error(ViscaErrorCode.SYNTAX)
        return self._socket_command(command, now)

    def _answer(self, answer: PowerState | PanTiltPosition | ZoomPosition) -> bytes:
        return encode_reply(Completion(self.address, 0, encode_answer(answer)))

    def _socket_command(self, command: ViscaCommand, now: float) -> bytes:
        free = [s for s in _SOCKETS if s not in self.busy_sockets]
        if "buffer-full" in self._active or not free:
            return self._error(ViscaErrorCode.COMMAND_BUFFER_FULL)
        socket = free[0]
        standby = not self.powered or self._booting
        if "not-executable" in self._active or (standby and not isinstance(command, Power)):
            return self._error(ViscaErrorCode.NOT_EXECUTABLE, socket)
        delay, finish = self._execute(command, now)
        silent = "no-completion" in self._active
        self._jobs.append(_Job(now + delay, socket, finish, silent))
        return encode_reply(Ack(self.address, socket))

    def _execute(
        self, command: ViscaCommand, now: float
    ) -> tuple[float, Callable[[], None] | None]:
        """Start ``command``; return its duration and what to do when it ends."""
        match command:
            case Power(on=True) if not self.powered:
                self._booting = True
                return self._power_on_seconds, self._finish_boot
            case Power(on=False):
                self.powered, self._booting = False, False
                self._rates, self._move = (0.0, 0.0, 0.0), None
            case PresetSet(number):
                self._presets[number] = self._position
            case PresetReset(number):
                self._presets.pop(number, None)
            case PresetRecall(number) if number in self._presets:
                self._rates = (0.0, 0.0, 0.0)
                end = now + self._recall_seconds
                self._move = _Move(now, end, self._position, self._presets[number])
                return self._recall_seconds, None
            case PanTiltDrive(pan, tilt, pan_speed, tilt_speed):
                self._move = None
                self._rates = (
                    _PAN_SIGN[pan] * pan_speed * _PAN_TILT_RATE,
                    _TILT_SIGN[tilt] * tilt_speed * _PAN_TILT_RATE,
                    self._rates[2],
                )
            case Zoom(direction, speed):
                self._move = None
                step = (_STANDARD_ZOOM_SPEED if speed is None else speed) + 1
                zoom_rate = _ZOOM_SIGN[direction] * step * _ZOOM_RATE
                self._rates = (self._rates[0], self._rates[1], zoom_rate)
        return 0.0, None

    def _finish_boot(self) -> None:
        self.powered, self._booting = True, False

    def _flush(self, now: float) -> bytes:
        due = sorted((job for job in self._jobs if job.due <= now), key=lambda job: job.due)
        out = bytearray()
        for job in due:
            self._jobs.remove(job)
            if job.finish is not None:
                job.finish()
            if not job.silent:
                out += encode_reply(Completion(self.address, job.socket))
        return bytes(out)
