"""Building device links from the courtroom configuration (the app layer).

Each ``[[devices]]`` entry becomes a :class:`devices.link.DeviceLink`: the
session factory, retry policy and line defaults of its kind's row in
:data:`devices.kinds.KINDS`, over the transport its connection names.
Secrets (PJLink and Extron passwords) come from the environment variables the
config names, never from the file.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from courtroom_agent.config import AgentConfig, DeviceConfig
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

if TYPE_CHECKING:
    from devices.mqtt.link import MqttDeviceLink

__all__ = [
    "build_link",
    "build_mqtt_link",
    "build_session",
    "build_transport",
    "describe",
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
    """The sans-I/O protocol session for ``device`` (its kind's session factory).

    Raises:
        ValueError: the kind has no line session (MQTT devices share the
            courtroom's broker link instead).
    """
    factory = device.spec.session
    if factory is None:
        raise ValueError(f"{device.kind} devices have no line session")
    return factory(
        name=device.name, address=device.address, timeout=device.timeout, password=password
    )


def build_transport(device: DeviceConfig) -> Transport:
    """The byte transport for ``device``: serial line or TCP connection."""
    if device.host is None:
        assert isinstance(device.port, str)  # validated by DeviceConfig
        return SerialTransport(device.port, baudrate=device.baudrate)
    return TcpTransport(device.host, device.tcp_port)


def describe(thing: Any) -> str:
    """Short text of a command, reply or message for the audit trail.

    Dataclasses print as ``Name(field=value, …)`` with enums by name, so a
    clerk reads ``Tie(input=1, output=4, layer=ALL)``, not enum reprs.
    """
    if isinstance(thing, enum.Enum):
        return thing.name
    if dataclasses.is_dataclass(thing) and not isinstance(thing, type):
        fields = ", ".join(
            f"{f.name}={describe(getattr(thing, f.name))}"
            for f in dataclasses.fields(thing)
            if f.repr
        )
        return f"{type(thing).__name__}({fields})"
    if isinstance(thing, tuple):
        return "(" + ", ".join(describe(item) for item in thing) + ")"
    return str(thing)


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
    spec = device.spec
    return DeviceLink(
        name=device.name,
        session=build_session(device, password=device_password(device, env)),
        transport=build_transport(device),
        on_event=on_event,
        hearing_clock=hearing_clock,
        retries=spec.retries,
        describe=describe,
        idle_close_after=spec.transport.idle_close_after,
    )


def build_mqtt_link(
    config: AgentConfig,
    names: list[str],
    *,
    role: str,
    broker: tuple[str, int] | None = None,
    on_event: Callable[[str, SessionEvent], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> MqttDeviceLink:
    """The MQTT link for ``names`` on the courtroom's broker (or ``broker``).

    ``role`` names the client (``agent``, ``probe``, ``send``): the agent's
    client id is stable so its persistent session survives restarts.

    Raises:
        ValueError: no broker configured or given, or its password variable is unset.
    """
    from devices.mqtt.link import MqttDeviceLink

    username = password = None
    if broker is None:
        if config.mqtt is None:
            raise ValueError("mqtt devices need an [mqtt] broker")
        broker = (config.mqtt.host, config.mqtt.port)
        username = config.mqtt.username
        if config.mqtt.password_env is not None:
            password = (os.environ if env is None else env).get(config.mqtt.password_env)
            if not password:
                raise ValueError(
                    f"mqtt.password_env: environment variable {config.mqtt.password_env} is not set"
                )
    return MqttDeviceLink(
        host=broker[0],
        port=broker[1],
        room=config.courtroom.id,
        devices=names,
        client_id=f"courtroom-{role}-{config.courtroom.id}",
        username=username,
        password=password,
        on_event=on_event,
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
