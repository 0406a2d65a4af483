"""PJLink class 1 command and value types (JBMIA PJLink Specifications 1.04, §2–§4).

Each command knows its 4-letter body, its parameter and how to parse the
display's answer into a typed value; :mod:`devices.pjlink.codec` does the
line framing and authentication around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, ClassVar

from devices.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "QUERIES",
    "ClassQuery",
    "ErrorLevel",
    "ErrorStatus",
    "ErrorStatusQuery",
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
    "PowerQuery",
    "PowerSet",
    "PowerState",
    "ProductQuery",
]


class PJLinkError(Enum):
    """§2.3/2.4 error responses, with the spec's wording."""

    ERR1 = "undefined command"
    ERR2 = "out of parameter"
    ERR3 = "unavailable time"
    ERR4 = "projector/display failure"


class PowerState(IntEnum):
    """§4.2 POWR ?: 0 standby, 1 power on, 2 cooling down, 3 warming up."""

    OFF = 0
    ON = 1
    COOLING = 2
    WARM_UP = 3


class InputKind(IntEnum):
    """§4.3 INPT: first digit of the input code."""

    RGB = 1
    VIDEO = 2
    DIGITAL = 3
    STORAGE = 4
    NETWORK = 5


class MuteTarget(IntEnum):
    """§4.5 AVMT: first digit, 1 video, 2 audio, 3 video and audio."""

    VIDEO = 1
    AUDIO = 2
    AV = 3


class ErrorLevel(IntEnum):
    """§4.7 ERST: each digit, 0 no error, 1 warning, 2 error."""

    OK = 0
    WARNING = 1
    ERROR = 2


def _bad(message: str, data: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, raw=data.encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class InputSource:
    """An input code such as ``31`` (DIGITAL 1); §4.3 allows numbers 1–9."""

    kind: InputKind
    number: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.number <= 9:
            raise LocalProtocolError(f"PJLink input number {self.number} not in 1..9")

    @property
    def code(self) -> str:
        return f"{int(self.kind)}{self.number}"

    @classmethod
    def from_code(cls, code: str) -> InputSource:
        """Parse ``"31"``. Raises RemoteProtocolError if malformed."""
        if not re.fullmatch(r"[1-5][1-9]", code):
            raise _bad(f"not a PJLink input code: {code!r}", code)
        return cls(InputKind(int(code[0])), int(code[1]))


@dataclass(frozen=True, slots=True)
class MuteState:
    """§4.6 AVMT ? reply: ``11`` video, ``21`` audio, ``31`` both, ``30`` none."""

    video: bool
    audio: bool


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """§4.7 ERST ? reply: fan, lamp, temperature, cover open, filter, other."""

    fan: ErrorLevel = ErrorLevel.OK
    lamp: ErrorLevel = ErrorLevel.OK
    temperature: ErrorLevel = ErrorLevel.OK
    cover: ErrorLevel = ErrorLevel.OK
    filter: ErrorLevel = ErrorLevel.OK
    other: ErrorLevel = ErrorLevel.OK

    def encode(self) -> str:
        return "".join(str(int(level)) for level in _levels(self))


def _levels(status: ErrorStatus) -> tuple[ErrorLevel, ...]:
    return (status.fan, status.lamp, status.temperature, status.cover, status.filter, status.other)


@dataclass(frozen=True, slots=True)
class Lamp:
    """§4.8 LAMP ? reply item: cumulative lighting hours (0–99999) and on/off."""

    hours: int
    on: bool

    def __post_init__(self) -> None:
        if not 0 <= self.hours <= 99999:
            raise LocalProtocolError(f"PJLink lamp hours {self.hours} not in 0..99999")


# --- commands (controller → display) ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Query:
    body: ClassVar[str]

    @property
    def param(self) -> str:
        return "?"

    def parse(self, data: str) -> Any:
        return data


@dataclass(frozen=True, slots=True)
class PowerSet:
    """§4.1 ``POWR 1`` / ``POWR 0``: power on / standby; reply ``OK``."""

    on: bool
    body: ClassVar[str] = "POWR"

    @property
    def param(self) -> str:
        return "1" if self.on else "0"

    def parse(self, data: str) -> None:
        _expect_ok(data)


@dataclass(frozen=True, slots=True)
class PowerQuery(_Query):
    body: ClassVar[str] = "POWR"

    def parse(self, data: str) -> PowerState:
        if data not in ("0", "1", "2", "3"):
            raise _bad(f"not a PJLink power state: {data!r}", data)
        return PowerState(int(data))


@dataclass(frozen=True, slots=True)
class InputSet:
    """§4.3 ``INPT 31``; reply ``OK``."""

    source: InputSource
    body: ClassVar[str] = "INPT"

    @property
    def param(self) -> str:
        return self.source.code

    def parse(self, data: str) -> None:
        _expect_ok(data)


@dataclass(frozen=True, slots=True)
class InputQuery(_Query):
    body: ClassVar[str] = "INPT"

    def parse(self, data: str) -> InputSource:
        return InputSource.from_code(data)


@dataclass(frozen=True, slots=True)
class MuteSet:
    """§4.5 ``AVMT 31`` (mute video and audio) / ``AVMT 30`` (unmute); reply ``OK``."""

    target: MuteTarget
    on: bool
    body: ClassVar[str] = "AVMT"

    @property
    def param(self) -> str:
        return f"{int(self.target)}{int(self.on)}"

    def parse(self, data: str) -> None:
        _expect_ok(data)


@dataclass(frozen=True, slots=True)
class MuteQuery(_Query):
    body: ClassVar[str] = "AVMT"

    def parse(self, data: str) -> MuteState:
        states = {
            "11": MuteState(True, False),
            "21": MuteState(False, True),
            "31": MuteState(True, True),
            "30": MuteState(False, False),
        }
        if data not in states:
            raise _bad(f"not a PJLink mute state: {data!r}", data)
        return states[data]


@dataclass(frozen=True, slots=True)
class ErrorStatusQuery(_Query):
    body: ClassVar[str] = "ERST"

    def parse(self, data: str) -> ErrorStatus:
        if not re.fullmatch(r"[0-2]{6}", data):
            raise _bad(f"not a PJLink error status: {data!r}", data)
        return ErrorStatus(*(ErrorLevel(int(c)) for c in data))


@dataclass(frozen=True, slots=True)
class LampQuery(_Query):
    body: ClassVar[str] = "LAMP"

    def parse(self, data: str) -> tuple[Lamp, ...]:
        if not re.fullmatch(r"\d{1,5} [01]( \d{1,5} [01]){0,7}", data):
            raise _bad(f"not a PJLink lamp list: {data!r}", data)
        fields = data.split(" ")
        return tuple(
            Lamp(int(h), on == "1") for h, on in zip(fields[::2], fields[1::2], strict=True)
        )


@dataclass(frozen=True, slots=True)
class InputListQuery(_Query):
    body: ClassVar[str] = "INST"

    def parse(self, data: str) -> tuple[InputSource, ...]:
        return tuple(InputSource.from_code(code) for code in data.split(" ")) if data else ()


@dataclass(frozen=True, slots=True)
class NameQuery(_Query):
    body: ClassVar[str] = "NAME"


@dataclass(frozen=True, slots=True)
class ManufacturerQuery(_Query):
    body: ClassVar[str] = "INF1"


@dataclass(frozen=True, slots=True)
class ProductQuery(_Query):
    body: ClassVar[str] = "INF2"


@dataclass(frozen=True, slots=True)
class InfoQuery(_Query):
    body: ClassVar[str] = "INFO"


@dataclass(frozen=True, slots=True)
class ClassQuery(_Query):
    body: ClassVar[str] = "CLSS"


PJLinkCommand = (
    PowerSet
    | PowerQuery
    | InputSet
    | InputQuery
    | MuteSet
    | MuteQuery
    | ErrorStatusQuery
    | LampQuery
    | InputListQuery
    | NameQuery
    | ManufacturerQuery
    | ProductQuery
    | InfoQuery
    | ClassQuery
)

QUERIES: dict[str, type[_Query]] = {
    cls.body: cls
    for cls in (
        PowerQuery,
        InputQuery,
        MuteQuery,
        ErrorStatusQuery,
        LampQuery,
        InputListQuery,
        NameQuery,
        ManufacturerQuery,
        ProductQuery,
        InfoQuery,
        ClassQuery,
    )
}


def _expect_ok(data: str) -> None:
    if data != "OK":
        raise _bad(f"PJLink set command answered {data!r}, not OK", data)
