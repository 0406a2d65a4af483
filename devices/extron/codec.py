"""Extron SIS (Simple Instruction Set) for matrix switchers: bytes ⇄ messages.

Pure functions, no I/O. Sources, all public Extron user guides:

* *DXP DVI, DXP DVI Pro and DXP HDMI Series — SIS Configuration and Control*
  ("Command and Response Tables": Create Ties, View Ties and Presets;
  "Switcher-initiated messages"; "Switcher Error Responses").
* *MTPX / Matrix 12800 / CrossPoint 300 Programmer's Guide*, same tables
  (``&`` RGB and ``%`` video "can be used interchangeably").

Host → switcher commands are *not* line-terminated: the trailing ``!``, ``&``,
``%``, ``$`` or letter ends the command. Switcher → host lines end in CR LF,
except the Telnet ``Password:`` prompt, which has none.

Deviation from the brief, after the guides: ``&`` ties RGB (reply ``RGB``)
and ``%`` ties video (reply ``Vid``); both drive the same video plane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from devices.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_LINE",
    "Banner",
    "BannerDate",
    "ErrorReply",
    "ExtronCommand",
    "ExtronReply",
    "FrontPanelSwitch",
    "LoginReply",
    "PasswordPrompt",
    "QueryFirmware",
    "ReadTie",
    "Reconfig",
    "Tie",
    "TieAll",
    "TieAllReply",
    "TieLayer",
    "TieReply",
    "ValueReply",
    "decode_command",
    "decode_line",
    "encode_command",
    "encode_reply",
    "error_name",
]

#: Longest line we accept before declaring garbage and resyncing on the next LF.
MAX_LINE = 256

#: Largest I/O number the SIS grammar allows (1-, 2- or 3-digit entries).
MAX_IO = 999


class TieLayer(Enum):
    """Which signals a tie carries: the command character and the reply tag.

    DXP guide, "Create Ties": ``X!*X@!`` → ``All``, ``&`` → ``RGB``,
    ``%`` → ``Vid``, ``$`` → ``Aud``.
    """

    ALL = ("!", "All")
    RGB = ("&", "RGB")
    VIDEO = ("%", "Vid")
    AUDIO = ("$", "Aud")

    @property
    def char(self) -> str:
        return self.value[0]

    @property
    def tag(self) -> str:
        return self.value[1]


_LAYER_BY_CHAR = {layer.char: layer for layer in TieLayer}
_LAYER_BY_TAG = {layer.tag: layer for layer in TieLayer}

#: "Switcher Error Responses" (DXP guide, CrossPoint 300 guide, SW series guide).
ERROR_NAMES: dict[str, str] = {
    "E01": "invalid input number",
    "E06": "invalid input change",
    "E10": "invalid command",
    "E11": "invalid preset number",
    "E12": "invalid output number",
    "E13": "invalid parameter",
    "E14": "not valid for this configuration",
    "E17": "system timed out",
    "E21": "invalid room number",
    "E22": "busy",
    "E24": "privilege violation",
    "E25": "device not present",
    "E26": "maximum number of connections exceeded",
    "E27": "invalid event number",
    "E28": "bad filename or file not found",
    "E30": "hardware failure",
    "E31": "attempt to break port pass-through when not set",
}


def error_name(code: str) -> str:
    """The guide's wording for an ``Enn`` code (``"unknown error"`` if unlisted)."""
    return ERROR_NAMES.get(code, "unknown error")


def _check_io(value: int, what: str, *, low: int) -> None:
    if not low <= value <= MAX_IO:
        raise LocalProtocolError(f"Extron {what} {value} not in {low}..{MAX_IO}")


# --- host → switcher -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tie:
    """``X!*X@<layer>``: tie ``input`` to ``output``; input 0 unties the output."""

    input: int
    output: int
    layer: TieLayer = TieLayer.ALL

    def __post_init__(self) -> None:
        _check_io(self.input, "input", low=0)
        _check_io(self.output, "output", low=1)


@dataclass(frozen=True, slots=True)
class TieAll:
    """``X!*<layer>``: tie ``input`` to every output (``0*!`` clears all ties)."""

    input: int
    layer: TieLayer = TieLayer.ALL

    def __post_init__(self) -> None:
        _check_io(self.input, "input", low=0)


@dataclass(frozen=True, slots=True)
class ReadTie:
    """``X@<layer>``: which input is tied to ``output`` (reply ``X!``, 0 = untied)."""

    output: int
    layer: TieLayer = TieLayer.ALL

    def __post_init__(self) -> None:
        _check_io(self.output, "output", low=1)


@dataclass(frozen=True, slots=True)
class QueryFirmware:
    """``Q``: controller firmware version (reply e.g. ``1.23``)."""


ExtronCommand = Tie | TieAll | ReadTie | QueryFirmware


def encode_command(command: ExtronCommand) -> bytes:
    """Encode a host command (no terminator: the SIS command character ends it).

    Raises:
        LocalProtocolError: not an Extron command.
    """
    match command:
        case Tie(input=i, output=o, layer=layer):
            text = f"{i}*{o}{layer.char}"
        case TieAll(input=i, layer=layer):
            text = f"{i}*{layer.char}"
        case ReadTie(output=o, layer=layer):
            text = f"{o}{layer.char}"
        case QueryFirmware():
            text = "Q"
        case _:
            raise LocalProtocolError(f"not an Extron command: {command!r}")
    return text.encode("ascii")


_COMMAND_PATTERNS: tuple[tuple[re.Pattern[bytes], str], ...] = (
    (re.compile(rb"(\d{1,3})\*(\d{1,3})([!&%$])"), "tie"),
    (re.compile(rb"(\d{1,3})\*([!&%$])"), "tie-all"),
    (re.compile(rb"(\d{1,3})([!&%$])"), "read"),
    (re.compile(rb"[Qq]"), "firmware"),
)


def decode_command(data: bytes) -> ExtronCommand:
    """Decode exactly one host command (the switcher's side of the line).

    Raises:
        RemoteProtocolError: not one SIS command we know, ``code="E10"``;
            a valid command naming output 0, ``code="E12"``.
    """
    for pattern, kind in _COMMAND_PATTERNS:
        match = pattern.fullmatch(data)
        if match is None:
            continue
        groups = [g.decode("ascii") for g in match.groups()]
        try:
            if kind == "tie":
                return Tie(int(groups[0]), int(groups[1]), _LAYER_BY_CHAR[groups[2]])
            if kind == "tie-all":
                return TieAll(int(groups[0]), _LAYER_BY_CHAR[groups[1]])
            if kind == "read":
                return ReadTie(int(groups[0]), _LAYER_BY_CHAR[groups[1]])
            return QueryFirmware()
        except LocalProtocolError as exc:
            raise RemoteProtocolError(exc.message, code="E12", raw=data) from exc
    raise RemoteProtocolError("not an Extron SIS command", code="E10", raw=data)


# --- switcher → host -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TieReply:
    """``OutX@ InX! <tag>``: the answer to a tie, and the front-panel tie message."""

    output: int
    input: int
    layer: TieLayer = TieLayer.ALL
    width: int = 2

    def __post_init__(self) -> None:
        _check_io(self.input, "input", low=0)
        _check_io(self.output, "output", low=1)


@dataclass(frozen=True, slots=True)
class TieAllReply:
    """``InX! <tag>``: the answer to tie-to-all."""

    input: int
    layer: TieLayer = TieLayer.ALL
    width: int = 2

    def __post_init__(self) -> None:
        _check_io(self.input, "input", low=0)


@dataclass(frozen=True, slots=True)
class ValueReply:
    """A bare value line: a read-tie input number (``07``) or a firmware version."""

    text: str

    def __post_init__(self) -> None:
        if not _VALUE.fullmatch(self.text):
            raise LocalProtocolError(f"not an Extron value: {self.text!r}")


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """``Enn``: the switcher refused the command ("Switcher Error Responses")."""

    code: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"E\d\d", self.code):
            raise LocalProtocolError(f"not an Extron error code: {self.code!r}")

    @property
    def name(self) -> str:
        return error_name(self.code)


@dataclass(frozen=True, slots=True)
class Banner:
    """``(c) Copyright 20nn, Extron Electronics, <model>, Vx.xx, <part>``."""

    text: str


@dataclass(frozen=True, slots=True)
class BannerDate:
    """The date line that follows the banner on Telnet (``Tue, 02 Jan 2024 10:00:00``)."""

    text: str


@dataclass(frozen=True, slots=True)
class PasswordPrompt:
    """``Password:`` (no line end): the Telnet link needs a password first."""


@dataclass(frozen=True, slots=True)
class LoginReply:
    """``Login Administrator`` / ``Login User``: the password was accepted."""

    level: str

    def __post_init__(self) -> None:
        if self.level not in ("Administrator", "User"):
            raise LocalProtocolError(f"unknown Extron login level {self.level!r}")


@dataclass(frozen=True, slots=True)
class Reconfig:
    """``Reconfig``: the switcher's I/O configuration changed."""


@dataclass(frozen=True, slots=True)
class FrontPanelSwitch:
    """``Qik``: a front panel switching operation happened (DXP)."""


ExtronReply = (
    TieReply
    | TieAllReply
    | ValueReply
    | ErrorReply
    | Banner
    | BannerDate
    | PasswordPrompt
    | LoginReply
    | Reconfig
    | FrontPanelSwitch
)

_VALUE = re.compile(r"\d{1,3}|\d+(\.\d+){1,3}")
_TIE = re.compile(r"Out(\d{1,3}) In(\d{1,3}) (All|RGB|Vid|Aud)")
_TIE_ALL = re.compile(r"In(\d{1,3}) (All|RGB|Vid|Aud)")
_ERROR = re.compile(r"E\d\d")
_BANNER = re.compile(r"\(c\) Copyright \d{4}, Extron Electronics.*")
_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}")
_LOGIN = re.compile(r"Login (Administrator|User)")


def encode_reply(reply: ExtronReply) -> bytes:
    """Encode one switcher line including its CR LF (the prompt has none).

    Raises:
        LocalProtocolError: not an Extron reply.
    """
    match reply:
        case TieReply(output=o, input=i, layer=layer, width=w):
            text = f"Out{o:0{w}d} In{i:0{w}d} {layer.tag}"
        case TieAllReply(input=i, layer=layer, width=w):
            text = f"In{i:0{w}d} {layer.tag}"
        case ValueReply(text=text) | Banner(text=text) | BannerDate(text=text):
            pass
        case ErrorReply(code=text):
            pass
        case PasswordPrompt():
            return b"\r\nPassword:"
        case LoginReply(level=level):
            text = f"Login {level}"
        case Reconfig():
            text = "Reconfig"
        case FrontPanelSwitch():
            text = "Qik"
        case _:
            raise LocalProtocolError(f"not an Extron reply: {reply!r}")
    return text.encode("ascii") + b"\r\n"


def decode_line(line: bytes) -> ExtronReply:
    """Decode one switcher line, without its CR LF.

    Raises:
        RemoteProtocolError: not printable ASCII, too long, or no line the
            guides describe.
    """
    if len(line) > MAX_LINE or any(b < 0x20 or b > 0x7E for b in line):
        raise RemoteProtocolError("Extron line is not printable ASCII", raw=line)
    text = line.decode("ascii").strip(" ")
    try:
        return _decode_text(text)
    except LocalProtocolError as exc:  # e.g. "Out00": the grammar matched, the range did not
        raise RemoteProtocolError(exc.message, raw=line) from exc


def _decode_text(text: str) -> ExtronReply:
    if m := _TIE.fullmatch(text):
        width = len(m.group(1))
        return TieReply(int(m.group(1)), int(m.group(2)), _LAYER_BY_TAG[m.group(3)], width)
    if m := _TIE_ALL.fullmatch(text):
        return TieAllReply(int(m.group(1)), _LAYER_BY_TAG[m.group(2)], len(m.group(1)))
    if _ERROR.fullmatch(text):
        return ErrorReply(text)
    if _VALUE.fullmatch(text):
        return ValueReply(text)
    if _BANNER.fullmatch(text):
        return Banner(text)
    if _DATE.fullmatch(text):
        return BannerDate(text)
    if text == "Password:":
        return PasswordPrompt()
    if m := _LOGIN.fullmatch(text):
        return LoginReply(m.group(1))
    if text == "Reconfig":
        return Reconfig()
    if text == "Qik":
        return FrontPanelSwitch()
    raise RemoteProtocolError("not an Extron SIS reply", raw=text.encode("ascii"))
