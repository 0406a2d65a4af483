"""Simulated MQTT relay and display (``courtroom simulate mqtt``).

:class:`VirtualMqttDevice` is the behaviour, no I/O: apply a
:class:`~devices.mqtt.contract.SetCommand`, return the new state.
:class:`MqttDeviceSimulator` puts it on a broker the way a Tasmota-style
device would: last will ``offline`` and retained ``online`` on
``/availability``, retained state on ``/state``, commands from ``/set``.

The simulator uses a *clean* session on purpose: a real relay must not act on
commands queued at the broker while it was switched off — the agent saw it
offline and already failed them.

Actions (see the contract): ``power`` ``{"state": "on"|"off"}`` for both
kinds; ``input`` ``{"source": NAME}`` for displays. Anything else is answered
with the unchanged state and an ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Sequence
from typing import Any

import aiomqtt

from courtroom_agent.backoff import Backoff, BackoffPolicy
from devices.errors import RemoteProtocolError
from devices.mqtt.contract import (
    Availability,
    DeviceState,
    DeviceTopics,
    SetCommand,
    decode_set,
    encode_availability,
    encode_state,
)

__all__ = ["MqttDeviceSimulator", "SimulatorKind", "VirtualMqttDevice", "run_mqtt_simulator"]

log = logging.getLogger(__name__)

DISPLAY_INPUTS = ("hdmi1", "hdmi2", "doc-camera", "pc")


class SimulatorKind(enum.Enum):
    RELAY = "relay"
    DISPLAY = "display"


class VirtualMqttDevice:
    """The behaviour of a relay or a display, sans I/O.

    Args:
        kind: relay (power only) or display (power and input).
        inputs: a display's input names.
    """

    def __init__(self, kind: SimulatorKind, *, inputs: Sequence[str] = DISPLAY_INPUTS) -> None:
        self.kind = kind
        self.inputs = tuple(inputs)
        self.values: dict[str, Any] = {"power": "off"}
        if kind is SimulatorKind.DISPLAY:
            self.values["input"] = self.inputs[0]
        self.last_command_id: str | None = None

    def state(self, *, error: str | None = None) -> DeviceState:
        return DeviceState(dict(self.values), last_command_id=self.last_command_id, error=error)

    def apply(self, command: SetCommand) -> DeviceState:
        """Apply ``command``; the returned state confirms it (with ``error`` if refused)."""
        self.last_command_id = command.id
        error = self._apply(command.action, command.args)
        return self.state(error=error)

    def _apply(self, action: str, args: Any) -> str | None:
        if action == "power":
            value = args.get("state")
            if value not in ("on", "off"):
                return "power state must be on or off"
            self.values["power"] = value
            return None
        if action == "input" and self.kind is SimulatorKind.DISPLAY:
            source = args.get("source")
            if source not in self.inputs:
                return f"unknown input {source!r}"
            self.values["input"] = source
            return None
        return f"unsupported action {action!r}"


class MqttDeviceSimulator:
    """A :class:`VirtualMqttDevice` connected to a broker.

    Args:
        host, port: the broker.
        room, name: the device's topics (:class:`DeviceTopics`).
        kind: relay or display.
        backoff: reconnect policy after broker loss.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 1883,
        room: str,
        name: str,
        kind: SimulatorKind,
        backoff: BackoffPolicy | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.topics = DeviceTopics(room, name)
        self.device = VirtualMqttDevice(kind)
        self._backoff = Backoff(backoff or BackoffPolicy(initial=0.2, maximum=5.0))
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Serve until cancelled, reconnecting after broker loss."""
        while True:
            try:
                await self._serve()
            except aiomqtt.MqttError as exc:
                delay = self._backoff.next()
                log.warning(
                    "simulator %s: broker: %s; retry in %.1f s", self.topics.name, exc, delay
                )
                await asyncio.sleep(delay)

    async def _serve(self) -> None:
        offline = encode_availability(Availability.OFFLINE)
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=f"courtroom-sim-{self.topics.room}-{self.topics.name}",
            clean_session=True,
            will=aiomqtt.Will(self.topics.availability, offline, qos=1, retain=True),
            keepalive=10,
        )
        try:
            async with client:
                await client.subscribe(self.topics.set, qos=1)
                await client.publish(
                    self.topics.state, encode_state(self.device.state()), qos=1, retain=True
                )
                await client.publish(
                    self.topics.availability,
                    encode_availability(Availability.ONLINE),
                    qos=1,
                    retain=True,
                )
                self._backoff.reset()
                self.connected.set()
                try:
                    async for message in client.messages:
                        await self._handle(client, message)
                except asyncio.CancelledError:
                    await client.publish(
                        self.topics.availability, offline, qos=1, retain=True, timeout=1.0
                    )
                    raise
        finally:
            self.connected.clear()

    async def _handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            command = decode_set(payload)
        except RemoteProtocolError as exc:
            log.warning("simulator %s: ignoring bad command: %s", self.topics.name, exc.message)
            return
        state = self.device.apply(command)
        await client.publish(self.topics.state, encode_state(state), qos=1, retain=True)


def run_mqtt_simulator(host: str, port: int, room: str, name: str, kind: str) -> None:
    """Run a simulated MQTT ``kind`` (``relay`` | ``display``) until interrupted.

    The entry point behind ``courtroom simulate mqtt``. Killing the process
    (SIGKILL) leaves the broker to publish the device's last will, ``offline``.

    Raises:
        ValueError: unknown ``kind``.
        devices.mqtt.contract.TopicError: invalid ``room`` or ``name``.
    """
    simulator = MqttDeviceSimulator(
        host=host, port=port, room=room, name=name, kind=SimulatorKind(kind)
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(simulator.run())
