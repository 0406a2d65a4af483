"""A simulated Extron matrix switcher (implements :class:`devices.virtual.VirtualDevice`).

Behaviour follows the DXP / CrossPoint SIS guides: ties per output for the
video and audio planes, ``Enn`` errors for bad input or output numbers,
the copyright banner and date on connect, an optional Telnet password, and
the ``OutNN InNN All`` message when someone switches on the front panel
(:meth:`VirtualMatrix.front_panel_tie`; from another process, the
simulator's control port: ``tie IN OUT [all|video|rgb|audio]``, ``reconfig``,
see :meth:`VirtualMatrix.control`). Device-specific fault: ``busy`` (every
command answers ``E22``).
"""

from __future__ import annotations

import re

from devices.errors import RemoteProtocolError
from devices.extron.codec import (
    Banner,
    BannerDate,
    ErrorReply,
    ExtronCommand,
    ExtronReply,
    LoginReply,
    PasswordPrompt,
    QueryFirmware,
    ReadTie,
    Reconfig,
    Tie,
    TieAll,
    TieAllReply,
    TieLayer,
    TieReply,
    ValueReply,
    decode_command,
    encode_reply,
)

__all__ = ["VirtualMatrix"]

_COMMAND = re.compile(rb"\d{1,3}\*\d{1,3}[!&%$]|\d{1,3}\*[!&%$]|\d{1,3}[!&%$]|[Qq]")
_PARTIAL = re.compile(rb"\d{1,3}(\*\d{0,3})?")
_MAX_PENDING = 64
_LAYERS = {
    "all": TieLayer.ALL,
    "video": TieLayer.VIDEO,
    "rgb": TieLayer.RGB,
    "audio": TieLayer.AUDIO,
}


class VirtualMatrix:
    """An ``inputs`` × ``outputs`` matrix with separate video and audio planes."""

    faults = frozenset({"busy"})

    def __init__(
        self,
        *,
        inputs: int = 8,
        outputs: int = 8,
        password: str | None = None,
        model: str = "DXP 88 HDMI",
        firmware: str = "1.05",
        date_text: str = "Mon, 01 Jan 2024 09:00:00",
    ) -> None:
        """Create the switcher with every output untied.

        Args:
            inputs: number of inputs (1–999).
            outputs: number of outputs (1–999).
            password: Telnet password; ``None`` means no login.
            model: model name shown in the banner.
            firmware: version answered to ``Q`` and shown in the banner.
            date_text: the clock line sent after the banner.

        Raises:
            ValueError: ``inputs`` or ``outputs`` out of range.
        """
        if not (1 <= inputs <= 999 and 1 <= outputs <= 999):
            raise ValueError("a matrix has 1..999 inputs and outputs")
        self.inputs = inputs
        self.outputs = outputs
        # `courtroom simulate --option password=1234` hands over numbers as int.
        self._password = None if password is None else str(password)
        self._model = str(model)
        self._firmware = str(firmware)
        self._date_text = str(date_text)
        self._width = 2 if max(inputs, outputs) <= 99 else 3
        self._video = dict.fromkeys(range(1, outputs + 1), 0)
        self._audio = dict.fromkeys(range(1, outputs + 1), 0)
        self._buffer = bytearray()
        self._logged_in = password is None
        self._pending: list[bytes] = []
        self._active: set[str] = set()

    def __repr__(self) -> str:
        return f"VirtualMatrix({self.inputs}x{self.outputs}, faults={sorted(self._active)})"

    # --- VirtualDevice --------------------------------------------------

    def connected(self, *, now: float) -> bytes:
        """Banner, date and (if protected) ``Password:``, as on a Telnet connect."""
        self._buffer.clear()
        self._logged_in = self._password is None
        banner = Banner(
            f"(c) Copyright 2024, Extron Electronics, {self._model}, V{self._firmware}, 60-1000-01"
        )
        out = encode_reply(banner) + encode_reply(BannerDate(self._date_text))
        if not self._logged_in:
            out += encode_reply(PasswordPrompt())
        return out

    def receive(self, data: bytes, *, now: float) -> bytes:
        self._buffer += data
        out = bytearray()
        while self._buffer:
            if not self._logged_in:
                if not self._login_step(out):
                    break
                continue
            step = self._command_step()
            if step is None:
                break
            out += step
        return bytes(out)

    def poll(self, *, now: float) -> bytes:
        if not self._logged_in:
            return b""
        out = b"".join(self._pending)
        self._pending.clear()
        return out

    def set_fault(self, name: str, active: bool) -> None:
        if name not in self.faults:
            raise ValueError(f"unknown Extron fault {name!r}; known: {sorted(self.faults)}")
        if active:
            self._active.add(name)
        else:
            self._active.discard(name)

    # --- front panel and inspection -------------------------------------

    def front_panel_tie(self, input: int, output: int, layer: TieLayer = TieLayer.ALL) -> None:
        """Someone switched on the front panel: change the tie, announce it via poll().

        Raises:
            ValueError: no such input or output.
        """
        if not (0 <= input <= self.inputs and 1 <= output <= self.outputs):
            raise ValueError(f"no tie {input}*{output} on a {self.inputs}x{self.outputs} matrix")
        self._apply(input, output, layer)
        self._announce(TieReply(output, input, layer, self._width))

    def control(self, words: list[str], *, now: float) -> str:
        """A front-panel action by name (the simulator's control port); return what was done.

        ``tie IN OUT [all|video|rgb|audio]`` calls :meth:`front_panel_tie`,
        ``reconfig`` calls :meth:`reconfigure`.

        Raises:
            ValueError: unknown action, bad number or layer, or no such input or output.
        """
        match words:
            case ["tie", i, o, *layer] if len(layer) <= 1 and i.isdigit() and o.isdigit():
                name = layer[0].lower() if layer else "all"
                if name not in _LAYERS:
                    raise ValueError(f"unknown tie layer {name!r}; choose {', '.join(_LAYERS)}")
                self.front_panel_tie(int(i), int(o), _LAYERS[name])
                return f"front panel tie {int(i)}*{int(o)} {_LAYERS[name].tag}"
            case ["reconfig"]:
                self.reconfigure()
                return "reconfig"
        raise ValueError(
            f"unknown Extron control {' '.join(words)!r}; "
            "try: tie IN OUT [all|video|rgb|audio] | reconfig"
        )

    def reconfigure(self) -> None:
        """The I/O configuration changed: announce ``Reconfig`` via poll()."""
        self._announce(Reconfig())

    def tie_of(self, output: int, layer: TieLayer = TieLayer.ALL) -> int:
        """Input tied to ``output`` (0 = untied); ALL reports the video plane."""
        return (self._audio if layer is TieLayer.AUDIO else self._video)[output]

    # --- internals ------------------------------------------------------

    def _announce(self, reply: ExtronReply) -> None:
        if len(self._pending) < _MAX_PENDING:  # a real switcher drops what it cannot send
            self._pending.append(encode_reply(reply))

    def _login_step(self, out: bytearray) -> bool:
        """Consume one password attempt (ended by CR or LF); False until one is complete."""
        end = re.search(rb"[\r\n]", self._buffer)
        if end is None:
            return False
        attempt = bytes(self._buffer[: end.start()])
        del self._buffer[: end.end()]
        if not attempt and self._password:
            return True  # the LF of a CR LF
        if attempt == (self._password or "").encode("ascii", "replace"):
            self._logged_in = True
            out += b"\r\n" + encode_reply(LoginReply("Administrator"))
        else:
            out += encode_reply(PasswordPrompt())
        return True

    def _command_step(self) -> bytes | None:
        """Consume one command from the buffer; None when it holds only a partial one."""
        stripped = bytes(self._buffer).lstrip(b" \r\n")
        del self._buffer[: len(self._buffer) - len(stripped)]
        if not stripped:
            return None
        if m := _COMMAND.match(stripped):
            del self._buffer[: m.end()]
            return self._execute(m.group())
        if _PARTIAL.fullmatch(stripped):
            return None
        junk = re.match(rb"[^\d]+|\d+", stripped)
        del self._buffer[: junk.end() if junk else 1]
        return encode_reply(ErrorReply("E10"))

    def _execute(self, data: bytes) -> bytes:
        try:
            command = decode_command(data)
        except RemoteProtocolError as exc:
            return encode_reply(ErrorReply(exc.code or "E10"))
        if "busy" in self._active:
            return encode_reply(ErrorReply("E22"))
        return encode_reply(self._answer(command))

    def _answer(self, command: ExtronCommand) -> ExtronReply:
        match command:
            case Tie(input=i, output=o, layer=layer):
                if i > self.inputs:
                    return ErrorReply("E01")
                if o > self.outputs:
                    return ErrorReply("E12")
                self._apply(i, o, layer)
                return TieReply(o, i, layer, self._width)
            case TieAll(input=i, layer=layer):
                if i > self.inputs:
                    return ErrorReply("E01")
                for o in range(1, self.outputs + 1):
                    self._apply(i, o, layer)
                return TieAllReply(i, layer, self._width)
            case ReadTie(output=o, layer=layer):
                if o > self.outputs:
                    return ErrorReply("E12")
                return ValueReply(f"{self.tie_of(o, layer):0{self._width}d}")
            case QueryFirmware():
                return ValueReply(self._firmware)
        return ErrorReply("E10")  # pragma: no cover - decode_command returns only the above

    def _apply(self, input: int, output: int, layer: TieLayer) -> None:
        if layer is not TieLayer.AUDIO:
            self._video[output] = input
        if layer in (TieLayer.ALL, TieLayer.AUDIO):
            self._audio[output] = input
