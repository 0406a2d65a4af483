"""PJLink class 1 (TCP 4352) projectors and displays: bytes ⇄ messages.

Pure functions, no I/O. Source: JBMIA *PJLink Specifications* Version 1.04
(2013-12-10), class 1:

* §2.1 command line: ``%1`` + 4-letter body + space + parameter + CR;
  §2.2 response line: ``%1`` + body + ``=`` + parameter + CR; lines are at most
  136 bytes, parameters at most 128.
* §2.3/2.4 errors: ``ERR1`` undefined command, ``ERR2`` out of parameter,
  ``ERR3`` unavailable time, ``ERR4`` projector/display failure.
* §4 command descriptions (POWR, INPT, AVMT, ERST, LAMP, INST, NAME, INF1,
  INF2, INFO, CLSS) — in :mod:`devices.pjlink.commands`, re-exported here.
* §5 authentication: greeting ``PJLINK 0`` or ``PJLINK 1 <random>``; the
  controller prefixes its command with ``md5(random + password)`` as 32 hex
  digits; a wrong digest is answered ``PJLINK ERRA``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.pjlink.commands import (
    QUERIES,
    ClassQuery,
    ErrorLevel,
    ErrorStatus,
    ErrorStatusQuery,
    InfoQuery,
    InputKind,
    InputListQuery,
    InputQuery,
    InputSet,
    InputSource,
    Lamp,
    LampQuery,
    ManufacturerQuery,
    MuteQuery,
    MuteSet,
    MuteState,
    MuteTarget,
    NameQuery,
    PJLinkCommand,
    PJLinkError,
    PowerQuery,
    PowerSet,
    PowerState,
    ProductQuery,
)

__all__ = [
    "MAX_LINE",
    "AuthFailure",
    "ClassQuery",
    "ErrorLevel",
    "ErrorStatus",
    "ErrorStatusQuery",
    "Greeting",
    "InfoQuery",
    "InputKind",
    "InputListQuery",
    "InputQuery",
    "InputSet",
    "InputSource",
    "Lamp",
    "LampQuery",
    "ManufacturerQuery",
    "MuteQuery",
    "MuteSet",
    "MuteState",
    "MuteTarget",
    "NameQuery",
    "PJLinkCommand",
    "PJLinkError",
    "PJLinkReply",
    "PowerQuery",
    "PowerSet",
    "PowerState",
    "ProductQuery",
    "Request",
    "Response",
    "auth_digest",
    "decode_command",
    "decode_reply",
    "decode_request",
    "encode_command",
    "encode_reply",
]

#: §2.1/2.2: longest command or response line, CR included (a digest adds 32).
MAX_LINE = 136
HEADER = "%1"


def auth_digest(random: str, password: str) -> str:
    """§5.1: the 32 lowercase hex digits of ``md5(random + password)``."""
    return hashlib.md5((random + password).encode("utf-8"), usedforsecurity=False).hexdigest()


def encode_command(command: PJLinkCommand, *, digest: str | None = None) -> bytes:
    """``[digest]%1BODY param\\r``.

    Raises:
        LocalProtocolError: not a PJLink command, or a digest not 32 hex digits.
    """
    if not isinstance(command, PJLinkCommand):
        raise LocalProtocolError(f"not a PJLink command: {command!r}")
    if digest is not None and not re.fullmatch(r"[0-9a-f]{32}", digest):
        raise LocalProtocolError("PJLink digest must be 32 lowercase hex digits")
    return f"{digest or ''}{HEADER}{command.body} {command.param}\r".encode("ascii")


@dataclass(frozen=True, slots=True)
class Request:
    """One command line as the display reads it (§2.1), before interpretation."""

    digest: str | None
    body: str
    param: str


_REQUEST = re.compile(r"([0-9a-fA-F]{32})?%1([A-Za-z0-9]{4}) (.{1,128})")


def decode_request(line: bytes) -> Request:
    """Split one command line (without CR) into digest, body and parameter.

    Raises:
        RemoteProtocolError: not ``[digest]%1BODY param``.
    """
    m = _REQUEST.fullmatch(line.decode("ascii", "replace"))
    if m is None or len(line) > MAX_LINE + 32:
        raise RemoteProtocolError("not a PJLink command line", raw=line)
    digest = m.group(1).lower() if m.group(1) else None
    return Request(digest, m.group(2).upper(), m.group(3))


def decode_command(line: bytes) -> PJLinkCommand:
    """Decode a command line (without CR, without digest) into a command.

    Raises:
        RemoteProtocolError: malformed line; ``code="ERR1"`` for a body class 1
            does not define, ``code="ERR2"`` for a parameter out of range.
    """
    request = decode_request(line)
    body, param = request.body, request.param
    try:
        if param == "?" and body in QUERIES:
            return QUERIES[body]()  # type: ignore[return-value]
        if body == "POWR" and param in ("0", "1"):
            return PowerSet(param == "1")
        if body == "INPT":
            return InputSet(InputSource.from_code(param))
        if body == "AVMT" and re.fullmatch(r"[123][01]", param):
            return MuteSet(MuteTarget(int(param[0])), param[1] == "1")
    except (LocalProtocolError, RemoteProtocolError) as exc:
        raise RemoteProtocolError(exc.message, code="ERR2", raw=line) from exc
    code = "ERR2" if body in QUERIES else "ERR1"
    raise RemoteProtocolError(f"PJLink {body} {param!r} not understood", code=code, raw=line)


# --- replies (display → controller) ----------------------------------------


@dataclass(frozen=True, slots=True)
class Greeting:
    """§5: ``PJLINK 0`` (no authentication) or ``PJLINK 1 <random>``."""

    random: str | None = None

    def __post_init__(self) -> None:
        if self.random is not None and not re.fullmatch(r"[0-9a-fA-F]{8}", self.random):
            raise LocalProtocolError(f"PJLink random must be 8 hex digits: {self.random!r}")


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """§5.1: ``PJLINK ERRA`` — the digest was wrong."""


@dataclass(frozen=True, slots=True)
class Response:
    """§2.2: ``%1BODY=data``; ``data`` is ``OK``, an ``ERRn`` or the answer."""

    body: str
    data: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z0-9]{4}", self.body):
            raise LocalProtocolError(f"not a PJLink body: {self.body!r}")
        if len(self.data) > 128 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.data):
            raise LocalProtocolError("PJLink response data too long or not printable")

    @property
    def error(self) -> PJLinkError | None:
        return PJLinkError.__members__.get(self.data)


PJLinkReply = Greeting | AuthFailure | Response


def encode_reply(reply: PJLinkReply) -> bytes:
    """Encode one display line including its CR.

    Raises:
        LocalProtocolError: not a PJLink reply.
    """
    match reply:
        case Greeting(random=None):
            text = "PJLINK 0"
        case Greeting(random=random):
            text = f"PJLINK 1 {random}"
        case AuthFailure():
            text = "PJLINK ERRA"
        case Response(body=body, data=data):
            text = f"{HEADER}{body}={data}"
        case _:
            raise LocalProtocolError(f"not a PJLink reply: {reply!r}")
    return text.encode("utf-8") + b"\r"


_RESPONSE = re.compile(r"%1([A-Z0-9]{4})=(.*)", re.DOTALL)


def decode_reply(line: bytes) -> PJLinkReply:
    """Decode one display line, without its CR.

    Raises:
        RemoteProtocolError: too long, not UTF-8, or no line the spec defines.
    """
    if len(line) >= MAX_LINE:
        raise RemoteProtocolError("PJLink line too long", raw=line)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError("PJLink line is not UTF-8", raw=line) from exc
    try:
        if text == "PJLINK 0":
            return Greeting()
        if text.startswith("PJLINK 1 "):
            return Greeting(text[9:])
        if text == "PJLINK ERRA":
            return AuthFailure()
        if m := _RESPONSE.fullmatch(text):
            return Response(m.group(1), m.group(2))
    except LocalProtocolError as exc:
        raise RemoteProtocolError(exc.message, raw=line) from exc
    raise RemoteProtocolError("not a PJLink reply", raw=line)
