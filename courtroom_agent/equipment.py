"""Building device links from the courtroom configuration (the app layer).

Each ``[[devices]]`` entry becomes a :class:`devices.link.DeviceLink`: the
protocol session its ``kind`` names over the transport its connection names.
Secrets (PJLink and Extron passwords) come from the environment variables the
config names, never from the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from courtroom_agent.config import DeviceConfig
from devices.events import DeviceEvent, Direction
from devices.link import DeviceLink
from devices.mqtt.contract import Availability
from devices.session import (
    Completed,
    DeviceSession,
    Failed,
    Fault,
    Sent,
    SessionEvent,
    Unsolicited,
)
from devices.transport import SerialTransport, TcpTransport, Transport

__all__ = [
    "build_link",
    "build_session",
    "build_transport",
    "device_password",
    "session_event_to_device_event",
]


def device_password(device: DeviceConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The device's password from its ``password_env`` variable, if configured.

    Raises:
        ValueError: the variable is named but unset or empty.
    """
    if device.password_env is None:
        return None
    value = (os.environ if env is None else env).get(device.password_env, "")
    if not value:
        raise ValueError(
            f"devices.{device.name}.password_env: environment variable "
            f"{device.password_env} is not set"
        )
    return value


def build_session(device: DeviceConfig, *, password: str | None = None) -> DeviceSession:
    """The sans-I/O protocol session for ``device``.

    Raises:
        ValueError: ``device.kind`` is ``mqtt`` (MQTT devices share the
            courtroom's broker link instead).
    """
    timeout: dict[str, Any] = {}
    name = device.name
    if device.kind == "visca":
        from devices.visca import ViscaSession

        if device.timeout is not None:
            timeout = {"completion_timeout": device.timeout}
        return ViscaSession(address=device.address, device=name, **timeout)
    if device.kind == "pelco-d":
        from devices.pelco import PelcoDSession

        return PelcoDSession(address=device.address, device=name)
    if device.timeout is not None:
        timeout = {"reply_timeout": device.timeout}
    if device.kind == "extron-sis":
        from devices.extron import ExtronSession

        return ExtronSession(device=name, password=password, **timeout)
    if device.kind == "pjlink":
        from devices.pjlink import PJLinkSession

        return PJLinkSession(device=name, password=password, **timeout)
    if device.kind == "hyperdeck":
        from devices.hyperdeck import HyperDeckSession

        return HyperDeckSession(device=name, timeout=device.timeout or 2.0)
    raise ValueError(f"{device.kind} devices have no line session")


def build_transport(device: DeviceConfig) -> Transport:
    """The byte transport for ``device``: serial line or TCP connection."""
    if device.host is None:
        assert isinstance(device.port, str)  # validated by DeviceConfig
        return SerialTransport(device.port, baudrate=device.baudrate)
    return TcpTransport(device.host, device.tcp_port)


def build_link(
    device: DeviceConfig,
    *,
    on_event: Callable[[DeviceEvent], None] | None = None,
    hearing_clock: Callable[[], float] | None = None,
    env: Mapping[str, str] | None = None,
) -> DeviceLink:
    """A ready-to-run link for one configured line device.

    Raises:
        ValueError: a password variable is unset, or the device is MQTT.
    """
    return DeviceLink(
        name=device.name,
        session=build_session(device, password=device_password(device, env)),
        transport=build_transport(device),
        on_event=on_event,
        hearing_clock=hearing_clock,
    )


def session_event_to_device_event(name: str, event: SessionEvent, *, time: float) -> DeviceEvent:
    """The audit-trail entry for a session event (MQTT devices report these)."""
    if isinstance(event, Sent):
        direction, meaning, raw = Direction.TX, str(event.command), event.raw
    elif isinstance(event, Completed):
        direction, meaning, raw = Direction.RX, str(event.reply), event.raw
    elif isinstance(event, Failed):
        direction, meaning, raw = Direction.ERROR, str(event.error), event.error.raw
    elif isinstance(event, Unsolicited) and isinstance(event.message, Availability):
        # The MQTT last will and birth message: the device's online/offline state.
        direction, meaning, raw = Direction.STATE, event.message.value, event.raw
    elif isinstance(event, Unsolicited):
        direction, meaning, raw = Direction.UNSOLICITED, str(event.message), event.raw
    else:
        assert isinstance(event, Fault)
        direction, meaning, raw = Direction.FAULT, str(event.error), event.error.raw
    return DeviceEvent.of(time=time, device=name, direction=direction, meaning=meaning, raw=raw)
