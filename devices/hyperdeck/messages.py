"""Blackmagic HyperDeck Ethernet Protocol: the messages, no bytes and no I/O.

Source: *Blackmagic HyperDeck Ethernet Protocol*, "Developer Information"
chapter of the HyperDeck Studio / Extreme manuals; section names below refer
to that chapter. :class:`Command` and :class:`Response` validate on
construction that they can be framed; :mod:`devices.hyperdeck.codec` turns
them into bytes and back and reads the response blocks this package acts on.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from devices.errors import LocalProtocolError

__all__ = [
    "COMMAND_PARAMETERS",
    "AsyncCode",
    "Command",
    "CommandName",
    "ErrorCode",
    "Params",
    "Response",
    "SuccessCode",
]


class CommandName(enum.Enum):
    """Commands this package speaks ("Protocol Commands" table)."""

    PING = "ping"
    RECORD = "record"
    STOP = "stop"
    TRANSPORT_INFO = "transport info"
    SLOT_INFO = "slot info"
    DEVICE_INFO = "device info"
    NOTIFY = "notify"


# Parameters each command accepts ("Protocol Commands" table; "notify" lists the
# notification kinds of protocol 1.6+).
COMMAND_PARAMETERS: dict[CommandName, frozenset[str]] = {
    CommandName.PING: frozenset(),
    CommandName.RECORD: frozenset({"name", "append"}),
    CommandName.STOP: frozenset(),
    CommandName.TRANSPORT_INFO: frozenset(),
    CommandName.SLOT_INFO: frozenset({"slot id"}),
    CommandName.DEVICE_INFO: frozenset(),
    CommandName.NOTIFY: frozenset(
        {"transport", "slot", "remote", "configuration", "dropped frames"}
    ),
}


class ErrorCode(enum.IntEnum):
    """Failure response codes ("Failure response codes", 100–199)."""

    SYNTAX_ERROR = 100
    UNSUPPORTED_PARAMETER = 101
    INVALID_VALUE = 102
    UNSUPPORTED = 103
    DISK_FULL = 104
    NO_DISK = 105
    DISK_ERROR = 106
    TIMELINE_EMPTY = 107
    INTERNAL_ERROR = 108
    OUT_OF_RANGE = 109
    NO_INPUT = 110
    REMOTE_CONTROL_DISABLED = 111
    CONNECTION_REJECTED = 120
    INVALID_STATE = 150
    INVALID_CODEC = 151
    INVALID_FORMAT = 160
    INVALID_TOKEN = 161
    FORMAT_NOT_PREPARED = 162

    @property
    def text(self) -> str:
        """The spec's response text (``"disk full"``)."""
        return self.name.lower().replace("_", " ")


class SuccessCode(enum.IntEnum):
    """Successful response codes used here ("Successful response codes", 200–299)."""

    OK = 200
    SLOT_INFO = 202
    DEVICE_INFO = 204
    TRANSPORT_INFO = 208
    NOTIFY = 209


class AsyncCode(enum.IntEnum):
    """Asynchronous response codes used here ("Asynchronous response codes", 500–599)."""

    CONNECTION_INFO = 500
    SLOT_INFO = 502
    TRANSPORT_INFO = 508


# The grammar's pieces, shared with the decoders in devices.hyperdeck.codec.
PARAM_KEY = re.compile(r"[a-z0-9][a-z0-9 ]*[a-z0-9]|[a-z0-9]")
STATUS_LINE = re.compile(r"([125][0-9]{2}) ([^:\x00-\x1f]*[^:\s\x00-\x1f])(:?)")
BAD_VALUE = re.compile(r"[\x00-\x1f\x7f]")

Params = tuple[tuple[str, str], ...]


def check_params(params: Params, *, error: type[Exception], what: str) -> None:
    """Check that ``params`` can be framed: lower-case keys, values without controls.

    Raises:
        error: the first key or value that cannot (named after ``what``).
    """
    for key, value in params:
        if not PARAM_KEY.fullmatch(key):
            raise error(f"HyperDeck {what}: bad parameter name {key!r}")
        if BAD_VALUE.search(value) or value != value.strip():
            raise error(f"HyperDeck {what}: bad value {value!r} for {key!r}")


@dataclass(frozen=True, slots=True)
class Command:
    """One command line, e.g. ``record: name: Hearing-42``.

    Raises:
        LocalProtocolError: on construction, for a parameter the command does
            not take, a duplicate, or a value with ``:``, control characters,
            surrounding blanks, or empty.
    """

    name: CommandName
    params: Params = ()

    def __post_init__(self) -> None:
        allowed = COMMAND_PARAMETERS[self.name]
        keys = [k for k, _ in self.params]
        if len(set(keys)) != len(keys):
            raise LocalProtocolError(f"HyperDeck {self.name.value}: duplicate parameter")
        for key, value in self.params:
            if key not in allowed:
                raise LocalProtocolError(f"HyperDeck {self.name.value}: no parameter {key!r}")
            if not value or ":" in value:
                raise LocalProtocolError(f"HyperDeck {self.name.value}: bad value {value!r}")
        check_params(self.params, error=LocalProtocolError, what=self.name.value)

    def get(self, key: str) -> str | None:
        """The value of parameter ``key``, or None."""
        return next((v for k, v in self.params if k == key), None)

    @classmethod
    def record(cls, *, name: str | None = None) -> Command:
        """``record`` or ``record: name: NAME``."""
        return cls(CommandName.RECORD, (("name", name),) if name is not None else ())

    @classmethod
    def slot_info(cls, *, slot_id: int | None = None) -> Command:
        """``slot info`` (active slot) or ``slot info: slot id: N``."""
        params = (("slot id", str(slot_id)),) if slot_id is not None else ()
        return cls(CommandName.SLOT_INFO, params)

    @classmethod
    def notify(cls, *, transport: bool = True, slot: bool = True) -> Command:
        """``notify: transport: true slot: true``: subscribe to 508 and 502."""
        flags = (("transport", transport), ("slot", slot))
        return cls(CommandName.NOTIFY, tuple((k, "true" if v else "false") for k, v in flags))

    @classmethod
    def simple(cls, name: CommandName) -> Command:
        """A command without parameters (``ping``, ``stop``, ``transport info`` …)."""
        return cls(name)


@dataclass(frozen=True, slots=True)
class Response:
    """One deck message: ``200 ok`` or a block like ``208 transport info:`` + params.

    ``params`` is None for a simple response and a (possibly empty) tuple for a
    response whose text ends with ``:``.

    Raises:
        LocalProtocolError: on construction, for a code outside 100–199,
            200–299, 500–599 or text/params that cannot be framed.
    """

    code: int
    text: str
    params: Params | None = None

    def __post_init__(self) -> None:
        if not STATUS_LINE.fullmatch(f"{self.code} {self.text}"):
            raise LocalProtocolError(f"HyperDeck: cannot frame status {self.code} {self.text!r}")
        if self.params is not None:
            check_params(self.params, error=LocalProtocolError, what=str(self.code))

    @property
    def fields(self) -> dict[str, str]:
        """The parameters as a dict (empty for a simple response)."""
        return dict(self.params or ())

    @property
    def is_error(self) -> bool:
        return 100 <= self.code < 200

    @property
    def is_async(self) -> bool:
        return 500 <= self.code < 600
