"""The courtroom MQTT device contract: topics and payloads, no I/O.

A court's integrator programs relays, displays and panels (Tasmota, ESPHome,
a PLC gateway …) to this contract; the agent is the only publisher on
``/set``.

=========================================================  ========  ======  =====================
Topic                                                      Payload   Retain  Published by
=========================================================  ========  ======  =====================
``courtroom/{room}/devices/{name}/set``                    command   no      agent, QoS 1
``courtroom/{room}/devices/{name}/state``                  state     yes     device, QoS 1
``courtroom/{room}/devices/{name}/availability``           text      yes     device; its last will
                                                                             is ``offline``
``courtroom/{room}/agent/availability``                    text      yes     agent; its last will
                                                                             is ``offline``
=========================================================  ========  ======  =====================

Command (UTF-8 JSON object, at most :data:`MAX_PAYLOAD` bytes)::

    {"id": "c-5f2a9b", "action": "power", "args": {"state": "on"}}

State (UTF-8 JSON object, retained)::

    {"last_command_id": "c-5f2a9b", "state": {"power": "on"}, "error": null}

``last_command_id`` is the ``id`` of the last command the device applied (or
``null`` after power-up); the agent treats a state carrying its command's id
as the confirmation. A device that cannot apply a command publishes its
unchanged state with that id and a human-readable ``error``.

Conventional actions: ``power`` ``{"state": "on"|"off"}`` (relays, displays),
``input`` ``{"source": NAME}`` (displays).

Availability payloads are the bare strings ``online`` and ``offline``.

Room and device names are one topic level each: non-empty, at most 64
characters, none of ``/ + #``, no control characters (MQTT 3.1.1 §4.7).
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from devices.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_PAYLOAD",
    "TOPIC_ROOT",
    "AgentTopics",
    "Availability",
    "Channel",
    "DeviceState",
    "DeviceTopics",
    "SetCommand",
    "TopicError",
    "decode_availability",
    "decode_set",
    "decode_state",
    "encode_availability",
    "encode_set",
    "encode_state",
    "parse_device_topic",
]

TOPIC_ROOT = "courtroom"
MAX_PAYLOAD = 16 * 1024
"""Largest set or state payload either side accepts, in bytes."""
MAX_SEGMENT = 64

_BAD_SEGMENT = re.compile(r"[/+#\x00-\x1f\x7f]")
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ACTION = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class TopicError(LocalProtocolError, ValueError):
    """A room or device name cannot be one MQTT topic level."""


def _check_segment(kind: str, value: str) -> None:
    if not value or len(value) > MAX_SEGMENT or _BAD_SEGMENT.search(value):
        raise TopicError(
            f"MQTT {kind} {value!r} must be 1–{MAX_SEGMENT} characters without / + # "
            "or control characters"
        )


class Channel(enum.Enum):
    """The last level of a device topic."""

    SET = "set"
    STATE = "state"
    AVAILABILITY = "availability"


class Availability(enum.Enum):
    """Payload of an availability topic."""

    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class DeviceTopics:
    """The topics of one device.

    Raises:
        TopicError: on construction, for an invalid room or name.
    """

    room: str
    name: str

    def __post_init__(self) -> None:
        _check_segment("room", self.room)
        _check_segment("device name", self.name)

    def topic(self, channel: Channel) -> str:
        return f"{TOPIC_ROOT}/{self.room}/devices/{self.name}/{channel.value}"

    @property
    def set(self) -> str:
        return self.topic(Channel.SET)

    @property
    def state(self) -> str:
        return self.topic(Channel.STATE)

    @property
    def availability(self) -> str:
        return self.topic(Channel.AVAILABILITY)


@dataclass(frozen=True, slots=True)
class AgentTopics:
    """The agent's own topics in ``room``.

    Raises:
        TopicError: on construction, for an invalid room.
    """

    room: str

    def __post_init__(self) -> None:
        _check_segment("room", self.room)

    @property
    def availability(self) -> str:
        return f"{TOPIC_ROOT}/{self.room}/agent/availability"

    def devices_filter(self, channel: Channel) -> str:
        """Subscription filter for ``channel`` of every device in the room."""
        return f"{TOPIC_ROOT}/{self.room}/devices/+/{channel.value}"


def parse_device_topic(topic: str) -> tuple[DeviceTopics, Channel] | None:
    """Split a device topic; None if ``topic`` is not one (not an error: brokers
    deliver what the filters match, and a filter may match foreign topics)."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != TOPIC_ROOT or parts[2] != "devices":
        return None
    try:
        return DeviceTopics(parts[1], parts[3]), Channel(parts[4])
    except (TopicError, ValueError):
        return None


def new_command_id() -> str:
    """A fresh command id (``c-`` and 12 hex digits)."""
    return f"c-{secrets.token_hex(6)}"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class SetCommand:
    """A command published on ``/set``.

    Raises:
        LocalProtocolError: on construction, for an id outside ``[A-Za-z0-9._:-]{1,64}``,
            an action outside ``[a-z][a-z0-9_-]{0,31}`` or args that are not JSON.
    """

    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_command_id)

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise LocalProtocolError(f"MQTT command id {self.id!r} is invalid")
        if not _ACTION.fullmatch(self.action):
            raise LocalProtocolError(f"MQTT action {self.action!r} is invalid")
        try:
            json.dumps(dict(self.args), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise LocalProtocolError(f"MQTT args are not JSON: {exc}") from exc
        object.__setattr__(self, "args", _frozen(self.args))

    def __hash__(self) -> int:
        return hash((self.id, self.action))


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A device's retained state.

    Raises:
        LocalProtocolError: on construction, for a malformed command id or
            values that are not JSON.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    last_command_id: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.last_command_id is not None and not _ID.fullmatch(self.last_command_id):
            raise LocalProtocolError(f"MQTT command id {self.last_command_id!r} is invalid")
        try:
            json.dumps(dict(self.values), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise LocalProtocolError(f"MQTT state is not JSON: {exc}") from exc
        object.__setattr__(self, "values", _frozen(self.values))

    def __hash__(self) -> int:
        return hash((self.last_command_id, self.error))


def _dump(obj: dict[str, Any]) -> bytes:
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    if len(raw) > MAX_PAYLOAD:
        raise LocalProtocolError(f"MQTT payload of {len(raw)} bytes exceeds {MAX_PAYLOAD}")
    return raw


def _load(payload: bytes, what: str) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise RemoteProtocolError(
            f"MQTT {what} payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}", raw=payload[:64]
        )
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"MQTT {what} is not JSON: {exc}", raw=payload) from exc
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"MQTT {what} is not a JSON object", raw=payload)
    return obj


def encode_set(command: SetCommand) -> bytes:
    """Raises LocalProtocolError: the payload would exceed MAX_PAYLOAD."""
    return _dump({"id": command.id, "action": command.action, "args": dict(command.args)})


def decode_set(payload: bytes) -> SetCommand:
    """Raises RemoteProtocolError: not a command object (bad JSON, fields or size)."""
    obj = _load(payload, "command")
    args = obj.get("args", {})
    if not isinstance(obj.get("id"), str) or not isinstance(obj.get("action"), str):
        raise RemoteProtocolError("MQTT command needs string id and action", raw=payload)
    if not isinstance(args, dict):
        raise RemoteProtocolError("MQTT command args must be an object", raw=payload)
    try:
        return SetCommand(obj["action"], args, id=obj["id"])
    except LocalProtocolError as exc:
        raise RemoteProtocolError(exc.message, raw=payload) from exc


def encode_state(state: DeviceState) -> bytes:
    """Raises LocalProtocolError: the payload would exceed MAX_PAYLOAD."""
    return _dump(
        {
            "last_command_id": state.last_command_id,
            "state": dict(state.values),
            "error": state.error,
        }
    )


def decode_state(payload: bytes) -> DeviceState:
    """Raises RemoteProtocolError: not a state object (bad JSON, fields or size)."""
    obj = _load(payload, "state")
    values = obj.get("state", {})
    last = obj.get("last_command_id")
    error = obj.get("error")
    if not isinstance(values, dict):
        raise RemoteProtocolError("MQTT state.state must be an object", raw=payload)
    if last is not None and not isinstance(last, str):
        raise RemoteProtocolError("MQTT state.last_command_id must be a string", raw=payload)
    if error is not None and not isinstance(error, str):
        raise RemoteProtocolError("MQTT state.error must be a string", raw=payload)
    try:
        return DeviceState(values, last_command_id=last, error=error)
    except LocalProtocolError as exc:
        raise RemoteProtocolError(exc.message, raw=payload) from exc


def encode_availability(value: Availability) -> bytes:
    return value.value.encode()


def decode_availability(payload: bytes) -> Availability:
    """Raises RemoteProtocolError: neither ``online`` nor ``offline``."""
    try:
        return Availability(payload.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteProtocolError(
            "MQTT availability must be online or offline", raw=payload
        ) from exc
