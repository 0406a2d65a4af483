"""One error tree for every courtroom device protocol.

::

    DeviceError                     base; carries device name, code, raw bytes
     ├── LocalProtocolError         we asked for something the protocol cannot say
     │                              (preset 300, input 0): a caller or config bug
     ├── RemoteProtocolError        the device sent bytes that are no valid message;
     │                              recorded as a device fault, the line resyncs
     ├── DeviceReportedError        the device answered with an error code
     │    │                         (VISCA 02 syntax, HyperDeck 104 disk full, PJLink ERR3 …)
     │    └── AuthenticationError   the device refused our credentials (PJLINK ERRA)
     ├── DeviceTimeoutError         no (complete) reply within the command's deadline
     └── DeviceUnavailableError     the transport is down: port missing, connection
                                    refused or lost, broker unreachable

Codecs raise ``LocalProtocolError`` when encoding and ``RemoteProtocolError``
when decoding, nothing else. ``str(err)`` is a one-line reason fit for a
clerk's screen or a CLI (``VISCA syntax error``, ``HyperDeck 104 disk full``).
"""

from __future__ import annotations

from courtroom_core.errors import CourtroomError

__all__ = [
    "AuthenticationError",
    "DeviceError",
    "DeviceReportedError",
    "DeviceTimeoutError",
    "DeviceUnavailableError",
    "LocalProtocolError",
    "RemoteProtocolError",
]


class DeviceError(CourtroomError):
    """Base of every device error.

    Attributes:
        device: configured device name, when known.
        code: the protocol's own error code (``"02"``, ``"104"``, ``"ERR3"``), if any.
        raw: the bytes involved (reply or offending input), possibly empty.
    """

    def __init__(
        self, message: str, *, device: str | None = None, code: str | None = None, raw: bytes = b""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.device = device
        self.code = code
        self.raw = raw

    def __str__(self) -> str:
        return f"{self.device}: {self.message}" if self.device else self.message


class LocalProtocolError(DeviceError):
    """We tried to encode something the protocol cannot express."""


class RemoteProtocolError(DeviceError):
    """The device sent something that is not a valid message."""


class DeviceReportedError(DeviceError):
    """The device understood us and answered with an error."""


class AuthenticationError(DeviceReportedError):
    """The device refused our credentials."""


class DeviceTimeoutError(DeviceError):
    """No complete reply arrived before the deadline."""


class DeviceUnavailableError(DeviceError):
    """The transport to the device is down."""
