"""Blackmagic HyperDeck Ethernet Protocol: bytes ⇄ messages, no I/O.

Source: *Blackmagic HyperDeck Ethernet Protocol*, "Developer Information"
chapter of the HyperDeck Studio / Extreme manuals (TCP port 9993). Section
names below refer to that chapter.

Grammar ("Basic syntax", "Response syntax")::

    command   = name [": " param *(" " param)] NL      ; client → deck, NL = LF or CR LF
    param     = key ": " value
    response  = code " " text CRLF                      ; simple response
              / code " " text ":" CRLF *(key ": " value CRLF) CRLF   ; with parameters
    code      = 1xx failure / 2xx success / 5xx asynchronous

Deviations, all on the lenient side: the decoder accepts LF as well as CR LF
from the deck, and ignores blank lines between messages. Command values may
not contain ``:`` (the single-line syntax could not be parsed back) and a
command is always encoded on one line.

Both decoders are incremental (``feed`` then ``next_*`` until ``None``) and
raise only :class:`~devices.errors.RemoteProtocolError`, after discarding the
offending input so the next call continues at the next line (commands) or the
next blank line / status line (responses).

The messages themselves (:class:`Command`, :class:`Response`, the code enums)
live in :mod:`devices.hyperdeck.messages` and are re-exported here.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TypeVar

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.hyperdeck.messages import (
    BAD_VALUE,
    COMMAND_PARAMETERS,
    PARAM_KEY,
    STATUS_LINE,
    AsyncCode,
    Command,
    CommandName,
    ErrorCode,
    Response,
    SuccessCode,
)

__all__ = [
    "MAX_LINE",
    "AsyncCode",
    "Command",
    "CommandDecoder",
    "CommandName",
    "DeviceInfo",
    "ErrorCode",
    "Response",
    "ResponseDecoder",
    "SlotChange",
    "SlotInfo",
    "SlotStatus",
    "SuccessCode",
    "TransportChange",
    "TransportInfo",
    "TransportStatus",
    "encode_command",
    "encode_response",
]


MAX_LINE = 1024
"""Longest line either decoder accepts, in bytes (the spec sets no limit)."""
MAX_PARAMS = 128
"""Most parameter lines one response may carry."""

_E = TypeVar("_E", bound=enum.Enum)


def encode_command(command: Command) -> bytes:
    """Encode ``command`` as one CR LF terminated line."""
    text = command.name.value
    if command.params:
        text += ": " + " ".join(f"{k}: {v}" for k, v in command.params)
    return text.encode() + b"\r\n"


def encode_response(response: Response) -> bytes:
    """Encode ``response`` with CR LF line ends (blank line after parameters)."""
    if response.params is None:
        return f"{response.code} {response.text}\r\n".encode()
    lines = [
        f"{response.code} {response.text}:",
        *(f"{k}: {v}" if v else f"{k}:" for k, v in response.params),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _LineReader:
    """Splits a byte stream into lines (LF or CR LF), bounded by MAX_LINE."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overlong = False

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_line(self) -> str | None:
        """Next complete line without its line end; None if incomplete.

        Raises:
            RemoteProtocolError: the line is too long or not UTF-8 (skipped).
        """
        end = self._buffer.find(b"\n")
        if end < 0:
            if self._overlong:  # still inside a line already reported
                self._buffer.clear()
            elif len(self._buffer) > MAX_LINE:
                raw = bytes(self._buffer[:64])
                self._buffer.clear()
                self._overlong = True
                raise RemoteProtocolError("HyperDeck line too long", raw=raw)
            return None
        raw = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        if self._overlong:  # the tail of a line already reported
            self._overlong = False
            return self.next_line()
        if len(raw) > MAX_LINE:
            raise RemoteProtocolError("HyperDeck line too long", raw=raw[:64])
        try:
            return raw.removesuffix(b"\r").decode()
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError("HyperDeck line is not UTF-8", raw=raw) from exc


class ResponseDecoder:
    """Incremental decoder of the deck's output (controller side)."""

    def __init__(self) -> None:
        self._lines = _LineReader()
        self._head: tuple[int, str] | None = None  # status of the open block
        self._params: list[tuple[str, str]] = []
        self._skipping = False  # discarding a broken block up to its blank line

    def feed(self, data: bytes) -> None:
        """Append bytes read from the connection."""
        self._lines.feed(data)

    def next_response(self) -> Response | None:
        """Return the next complete response, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: malformed input, already skipped; call again.
        """
        while (line := self._lines.next_line()) is not None:
            status = STATUS_LINE.fullmatch(line)
            if status is not None and (self._head is not None or self._skipping):
                # A status line inside a block: the block lost its blank line.
                truncated = self._head is not None
                self._head, self._params, self._skipping = None, [], False
                self._open(status)
                if truncated:
                    raise RemoteProtocolError("HyperDeck block not terminated", raw=line.encode())
                if self._head is None:
                    return Response(int(status[1]), status[2])
                continue
            if self._skipping:
                self._skipping = line != ""
                continue
            if self._head is None:
                if line == "":
                    continue
                if status is None:
                    raise RemoteProtocolError("HyperDeck: not a status line", raw=line.encode())
                self._open(status)
                if self._head is None:
                    return Response(int(status[1]), status[2])
                continue
            if line == "":
                code, text = self._head
                params, self._head, self._params = tuple(self._params), None, []
                return Response(code, text, params)
            self._add_param(line)
        return None

    def _open(self, status: re.Match[str]) -> None:
        if status[3]:
            self._head, self._params = (int(status[1]), status[2]), []

    def _add_param(self, line: str) -> None:
        key, sep, value = line.partition(":")
        value = value.strip()
        if not sep or not PARAM_KEY.fullmatch(key) or BAD_VALUE.search(value):
            self._fail_block("HyperDeck: bad parameter line", line)
        if len(self._params) >= MAX_PARAMS:
            self._fail_block("HyperDeck: too many parameters", line)
        self._params.append((key, value))

    def _fail_block(self, message: str, line: str) -> None:
        self._head, self._params, self._skipping = None, [], True
        raise RemoteProtocolError(message, raw=line.encode())


class CommandDecoder:
    """Incremental decoder of controller input (device/simulator side).

    Errors carry the failure code the deck answers with in ``code``
    (``"100"`` syntax error, ``"101"`` unsupported parameter, ``"102"``
    invalid value).
    """

    def __init__(self) -> None:
        self._lines = _LineReader()

    def feed(self, data: bytes) -> None:
        """Append bytes read from the controller."""
        self._lines.feed(data)

    def next_command(self) -> Command | None:
        """Return the next command, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: the line is no valid command (skipped).
        """
        while (line := self._lines.next_line()) is not None:
            line = line.strip()
            if line:
                return _parse_command(line)
        return None


def _parse_command(line: str) -> Command:
    head, sep, rest = line.partition(":")
    try:
        name = CommandName(head.strip())
    except ValueError:
        raise RemoteProtocolError(
            "HyperDeck: unknown command", code="100", raw=line.encode()
        ) from None
    rest = rest.strip()
    if sep and not rest:
        raise RemoteProtocolError("HyperDeck: empty parameters", code="100", raw=line.encode())
    allowed = COMMAND_PARAMETERS[name]
    pieces = rest.split(": ") if rest else []
    if len(pieces) == 1:
        raise RemoteProtocolError("HyperDeck: parameter without value", code="100")
    params: list[tuple[str, str]] = []
    key = pieces[0].strip() if pieces else ""
    for i, piece in enumerate(pieces[1:], start=1):
        if i == len(pieces) - 1:
            value, next_key = piece, ""
        else:  # "VALUE NEXTKEY": the next key is the longest allowed suffix
            value, next_key = _split_value_key(piece, allowed)
        if key not in allowed:
            raise RemoteProtocolError(
                f"HyperDeck {name.value}: unsupported parameter {key!r}", code="101"
            )
        params.append((key, value.strip()))
        key = next_key
    try:
        return Command(name, tuple(params))
    except LocalProtocolError as exc:
        raise RemoteProtocolError(exc.message, code="102", raw=line.encode()) from exc


def _split_value_key(piece: str, allowed: frozenset[str]) -> tuple[str, str]:
    words = piece.split(" ")
    for cut in range(1, len(words)):
        if " ".join(words[cut:]) in allowed:
            return " ".join(words[:cut]), " ".join(words[cut:])
    raise RemoteProtocolError("HyperDeck: unsupported parameter", code="101", raw=piece.encode())


# --- Typed views of the responses this package acts on --------------------------------


class TransportStatus(enum.Enum):
    """``status`` of transport info ("Retrieving transport information")."""

    PREVIEW = "preview"
    STOPPED = "stopped"
    PLAY = "play"
    FORWARD = "forward"
    REWIND = "rewind"
    JOG = "jog"
    SHUTTLE = "shuttle"
    RECORD = "record"


class SlotStatus(enum.Enum):
    """``status`` of slot info ("Retrieving slot information")."""

    EMPTY = "empty"
    MOUNTING = "mounting"
    ERROR = "error"
    MOUNTED = "mounted"


def _field(response: Response, key: str) -> str:
    value = response.fields.get(key)
    if value is None:
        raise RemoteProtocolError(
            f"HyperDeck {response.code} {response.text}: missing {key!r}",
            raw=encode_response(response),
        )
    return value


def _enum_field(response: Response, key: str, kind: type[_E]) -> _E:
    try:
        return kind(_field(response, key))
    except ValueError:
        raise RemoteProtocolError(
            f"HyperDeck {response.code}: bad {key!r}", raw=encode_response(response)
        ) from None


def _id_field(response: Response, key: str) -> int | None:
    value = _field(response, key)
    if value == "none":
        return None
    if not value.isdigit():
        raise RemoteProtocolError(
            f"HyperDeck {response.code}: bad {key!r}", raw=encode_response(response)
        )
    return int(value)


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """``208 transport info`` / ``508 transport info`` (other fields are kept in the raw)."""

    status: TransportStatus
    slot_id: int | None
    clip_id: int | None
    timecode: str
    video_format: str

    @classmethod
    def from_response(cls, response: Response) -> TransportInfo:
        """Raises RemoteProtocolError: a required field is missing or malformed."""
        return cls(
            status=_enum_field(response, "status", TransportStatus),
            slot_id=_id_field(response, "slot id"),
            clip_id=_id_field(response, "clip id"),
            timecode=_field(response, "timecode"),
            video_format=_field(response, "video format"),
        )


@dataclass(frozen=True, slots=True)
class TransportChange:
    """``508 transport info``: only what changed ("Asynchronous response codes":
    a deck sends the parameters whose value changed, e.g. just ``status: stopped``).

    A field the notification did not carry is None (``slot_id``/``clip_id``
    of ``none`` are None too: the raw bytes tell them apart).
    """

    status: TransportStatus | None = None
    slot_id: int | None = None
    clip_id: int | None = None
    timecode: str | None = None
    video_format: str | None = None

    @classmethod
    def from_response(cls, response: Response) -> TransportChange:
        """Raises RemoteProtocolError: a field it carries is malformed."""
        fields = response.fields
        return cls(
            status=(
                _enum_field(response, "status", TransportStatus) if "status" in fields else None
            ),
            slot_id=_id_field(response, "slot id") if "slot id" in fields else None,
            clip_id=_id_field(response, "clip id") if "clip id" in fields else None,
            timecode=fields.get("timecode"),
            video_format=fields.get("video format"),
        )


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """``202 slot info`` / ``502 slot info``; ``recording_time`` in seconds."""

    slot_id: int
    status: SlotStatus
    volume_name: str
    recording_time: int

    @classmethod
    def from_response(cls, response: Response) -> SlotInfo:
        """Raises RemoteProtocolError: a required field is missing or malformed."""
        slot_id = _id_field(response, "slot id")
        seconds = _id_field(response, "recording time")
        if slot_id is None or seconds is None:
            raise RemoteProtocolError("HyperDeck slot info: no slot", raw=encode_response(response))
        return cls(
            slot_id=slot_id,
            status=_enum_field(response, "status", SlotStatus),
            volume_name=response.fields.get("volume name", ""),
            recording_time=seconds,
        )


@dataclass(frozen=True, slots=True)
class SlotChange:
    """``502 slot info``: what changed on a slot ("Asynchronous response codes":
    like ``508``, a deck sends the parameters whose value changed, e.g. just
    ``slot id: 1`` and ``status: empty`` when a disk is pulled).

    A field the notification did not carry is None; ``slot_id`` is None only
    when the deck did not say which slot (the active one).
    """

    slot_id: int | None = None
    status: SlotStatus | None = None
    volume_name: str | None = None
    recording_time: int | None = None

    @classmethod
    def from_response(cls, response: Response) -> SlotChange:
        """Raises RemoteProtocolError: a field it carries is malformed."""
        fields = response.fields
        seconds = _id_field(response, "recording time") if "recording time" in fields else None
        return cls(
            slot_id=_id_field(response, "slot id") if "slot id" in fields else None,
            status=_enum_field(response, "status", SlotStatus) if "status" in fields else None,
            volume_name=fields.get("volume name"),
            recording_time=seconds,
        )


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """``204 device info`` and ``500 connection info`` (``unique_id`` empty there)."""

    protocol_version: str
    model: str
    unique_id: str = ""

    @classmethod
    def from_response(cls, response: Response) -> DeviceInfo:
        """Raises RemoteProtocolError: a required field is missing."""
        return cls(
            protocol_version=_field(response, "protocol version"),
            model=_field(response, "model"),
            unique_id=response.fields.get("unique id", ""),
        )
