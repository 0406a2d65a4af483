"""Courtroom equipment: protocols, transports and simulators.

The public surface for the agent and the CLI; each protocol lives in its own
subpackage (``devices.visca``, ``devices.extron`` …) with ``codec``,
``session`` and ``virtual`` modules. See :mod:`devices.link` for how a
session, a transport and a configured name become a running device,
:mod:`devices.kinds` for the one table of what each kind is (session, line,
retries, probe, verbs and how each verb is confirmed), and
:mod:`devices.actions` for confirmed actions (``perform``, ``read_state``).
"""

from devices.errors import (
    AuthenticationError,
    DeviceError,
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
    RemoteProtocolError,
)
from devices.events import DEVICE_EVENT_KIND, DeviceEvent, Direction
from devices.link import DeviceLink, DeviceState
from devices.session import (
    Completed,
    DeviceSession,
    Failed,
    Fault,
    Sent,
    SessionEvent,
    Unsolicited,
)
from devices.transport import SerialTransport, TcpTransport, Transport, transport_for

__all__ = [
    "DEVICE_EVENT_KIND",
    "AuthenticationError",
    "Completed",
    "DeviceError",
    "DeviceEvent",
    "DeviceLink",
    "DeviceReportedError",
    "DeviceSession",
    "DeviceState",
    "DeviceTimeoutError",
    "DeviceUnavailableError",
    "Direction",
    "Failed",
    "Fault",
    "LocalProtocolError",
    "RemoteProtocolError",
    "Sent",
    "SerialTransport",
    "SessionEvent",
    "TcpTransport",
    "Transport",
    "Unsolicited",
    "transport_for",
]
