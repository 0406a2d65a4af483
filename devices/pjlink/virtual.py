"""A simulated PJLink class 1 display (implements :class:`devices.virtual.VirtualDevice`).

Follows PJLink 1.04: greeting with an optional MD5 challenge (random number
from an injectable RNG), a power state machine with warm-up and cool-down
driven by the ``now`` the harness passes in (``ERR3`` while warming up or
cooling down, and for input or mute changes in standby), inputs, AV mute,
lamp hours that grow while the lamp is lit, and the error status.

Device-specific faults: ``lamp-failure`` (ERST lamp = 2, power on answers
``ERR4``) and ``auth-reject`` (every command answers ``PJLINK ERRA``). Real
displays close a connection idle for about 30 s (PJLink class 1 spec); the
display's :attr:`VirtualDisplay.idle_close` tells the serving harness to do
the same.
"""

from __future__ import annotations

import random as _random
import re
from collections.abc import Sequence

from devices.errors import RemoteProtocolError
from devices.pjlink.codec import (
    AuthFailure,
    ClassQuery,
    ErrorLevel,
    ErrorStatus,
    ErrorStatusQuery,
    Greeting,
    InfoQuery,
    InputKind,
    InputListQuery,
    InputQuery,
    InputSet,
    InputSource,
    LampQuery,
    ManufacturerQuery,
    MuteQuery,
    MuteSet,
    MuteTarget,
    NameQuery,
    PJLinkCommand,
    PJLinkReply,
    PowerQuery,
    PowerSet,
    PowerState,
    ProductQuery,
    Response,
    auth_digest,
    decode_command,
    decode_request,
    encode_reply,
)

__all__ = ["VirtualDisplay"]

_DEFAULT_INPUTS = (
    InputSource(InputKind.RGB, 1),
    InputSource(InputKind.DIGITAL, 1),
    InputSource(InputKind.DIGITAL, 2),
)


class VirtualDisplay:
    """One PJLink projector or display behind one TCP connection."""

    faults = frozenset({"lamp-failure", "auth-reject"})

    def __init__(
        self,
        *,
        password: str | None = None,
        rng: _random.Random | None = None,
        seed: int | None = None,
        warm_up: float = 20.0,
        cool_down: float = 30.0,
        inputs: Sequence[InputSource] = _DEFAULT_INPUTS,
        lamp_hours: float = 0.0,
        name: str = "courtroom-display",
        manufacturer: str = "Courtroom",
        product: str = "Virtual PJLink Display",
        info: str = "simulator",
        idle_close: float = 30.0,
    ) -> None:
        """Create the display in standby.

        Args:
            password: PJLink password; ``None`` greets with ``PJLINK 0``.
            rng: source of the 8-hex-digit challenge (default: the OS's).
            seed: seed for a fresh ``random.Random`` when ``rng`` is not given
                (repeatable challenges for ``courtroom simulate``).
            warm_up: seconds from power on to ``ON``.
            cool_down: seconds from power off to standby.
            inputs: the selectable inputs, the first one selected.
            lamp_hours: lamp hours already used.
            name: NAME answer; manufacturer: INF1; product: INF2; info: INFO.
            idle_close: seconds of silence after which the display hangs up
                (the serving harness does it; 0 never).

        Raises:
            ValueError: no inputs, or negative durations.
        """
        if not inputs or warm_up < 0 or cool_down < 0:
            raise ValueError("a display needs inputs and non-negative warm-up/cool-down")
        # `courtroom simulate --option password=1234` hands over numbers as int.
        self._password = None if password is None else str(password)
        if rng is None:
            rng = _random.SystemRandom() if seed is None else _random.Random(seed)
        self._rng = rng
        self._warm_up = warm_up
        self._cool_down = cool_down
        self.idle_close = float(idle_close)
        self._inputs = tuple(inputs)
        self._texts = {
            NameQuery: str(name),
            ManufacturerQuery: str(manufacturer),
            ProductQuery: str(product),
            InfoQuery: str(info),
            ClassQuery: "1",
        }
        self.power = PowerState.OFF
        self.input = self._inputs[0]
        self.video_muted = False
        self.audio_muted = False
        self._lamp_hours = lamp_hours
        self._lit_since: float | None = None
        self._transition_end: float | None = None
        self._random: str | None = None
        self._authenticated = password is None
        self._buffer = bytearray()
        self._active: set[str] = set()

    def __repr__(self) -> str:
        return f"VirtualDisplay(power={self.power.name}, faults={sorted(self._active)})"

    # --- VirtualDevice --------------------------------------------------

    def connected(self, *, now: float) -> bytes:
        """Greet: ``PJLINK 0`` or ``PJLINK 1 <random>`` (§5)."""
        self._buffer.clear()
        if self._password is None:
            self._random, self._authenticated = None, True
            return encode_reply(Greeting())
        self._random, self._authenticated = f"{self._rng.getrandbits(32):08x}", False
        return encode_reply(Greeting(self._random))

    def receive(self, data: bytes, *, now: float) -> bytes:
        self._advance(now)
        self._buffer += data
        out = bytearray()
        while (end := self._buffer.find(b"\r")) >= 0:
            line = bytes(self._buffer[:end]).strip(b"\n")
            del self._buffer[: end + 1]
            if line:
                out += self._answer_line(line, now)
        del self._buffer[:-200]  # a real display drops an endless line
        return bytes(out)

    def poll(self, *, now: float) -> bytes:
        self._advance(now)
        return b""  # class 1 displays never speak unasked

    def set_fault(self, name: str, active: bool) -> None:
        if name not in self.faults:
            raise ValueError(f"unknown PJLink fault {name!r}; known: {sorted(self.faults)}")
        if active:
            self._active.add(name)
        else:
            self._active.discard(name)

    def lamp_hours(self, *, now: float) -> float:
        """Lamp hours used so far, counting the current lighting period."""
        lit = 0.0 if self._lit_since is None else (now - self._lit_since) / 3600
        return self._lamp_hours + lit

    # --- internals ------------------------------------------------------

    def _advance(self, now: float) -> None:
        if self._transition_end is None or now < self._transition_end:
            return
        self._transition_end = None
        if self.power is PowerState.WARM_UP:
            self.power = PowerState.ON
        elif self.power is PowerState.COOLING:
            self.power = PowerState.OFF

    def _answer_line(self, line: bytes, now: float) -> bytes:
        try:
            request = decode_request(line)
        except RemoteProtocolError:
            return b""  # not PJLink at all: a real display stays silent
        if not self._accept_digest(request.digest):
            return encode_reply(AuthFailure())
        body_line = line[32:] if request.digest is not None else line
        try:
            command = decode_command(body_line)
        except RemoteProtocolError as exc:
            return encode_reply(Response(request.body, exc.code or "ERR1"))
        return encode_reply(self._execute(command, now))

    def _accept_digest(self, digest: str | None) -> bool:
        if "auth-reject" in self._active:
            return False
        if self._password is None:
            return True
        expected = auth_digest(self._random or "", self._password)
        if digest is None:
            return self._authenticated
        self._authenticated = digest == expected
        return self._authenticated

    def _execute(self, command: PJLinkCommand, now: float) -> PJLinkReply:
        on = self.power is PowerState.ON
        match command:
            case PowerSet(on=turn_on):
                data = self._switch_power(turn_on, now)
            case PowerQuery():
                data = str(int(self.power))
            case InputSet(source=source):
                data = "ERR3" if not on else "ERR2" if source not in self._inputs else "OK"
                if data == "OK":
                    self.input = source
            case InputQuery():
                data = self.input.code if on else "ERR3"
            case MuteSet(target=target, on=mute):
                data = "OK" if on else "ERR3"
                if on and target in (MuteTarget.VIDEO, MuteTarget.AV):
                    self.video_muted = mute
                if on and target in (MuteTarget.AUDIO, MuteTarget.AV):
                    self.audio_muted = mute
            case MuteQuery():
                digit = {(True, True): 3, (True, False): 1, (False, True): 2}
                muted = (self.video_muted, self.audio_muted)
                data = f"{digit[muted]}1" if muted in digit else "30"
            case ErrorStatusQuery():
                failed = "lamp-failure" in self._active
                data = ErrorStatus(lamp=ErrorLevel.ERROR if failed else ErrorLevel.OK).encode()
            case LampQuery():
                hours = min(int(self.lamp_hours(now=now)), 99999)
                data = f"{hours} {int(self._lit_since is not None)}"
            case InputListQuery():
                data = " ".join(source.code for source in self._inputs)
            case _:
                data = self._texts[type(command)]
        return Response(command.body, re.sub(r"[\x00-\x1f\x7f]", "", data)[:128])

    def _switch_power(self, turn_on: bool, now: float) -> str:
        if self.power in (PowerState.WARM_UP, PowerState.COOLING):
            return "ERR3"
        if turn_on and self.power is PowerState.OFF:
            if "lamp-failure" in self._active:
                return "ERR4"
            self.power, self._transition_end = PowerState.WARM_UP, now + self._warm_up
            self._lit_since = now
            self._advance(now)
        elif not turn_on and self.power is PowerState.ON:
            self._lamp_hours = self.lamp_hours(now=now)
            self._lit_since = None
            self.power, self._transition_end = PowerState.COOLING, now + self._cool_down
            self._advance(now)
        return "OK"
