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

Fault modes (:class:`MqttFaults`, switchable at run time through
:attr:`MqttDeviceSimulator.faults`, or ``courtroom simulate mqtt --slow …``):

* ``slow_ms`` — each command is applied and its state published that late
  (commands are handled one after another, as by a busy device);
* ``drop`` — each ``/set`` is ignored with this probability: no state, no
  change, as a device that missed it;
* ``garbage`` — with this probability a malformed ``/state`` payload (cut-off
  JSON) is published before the real state; the controller must record a
  fault and still take the real state that follows;
* ``disconnect_every`` — the broker connection is torn down (socket shut, no
  DISCONNECT packet) every so many seconds, so the broker publishes the last
  will ``offline``; the simulator then reconnects and says ``online`` again.
  :meth:`MqttDeviceSimulator.disconnect` does it once, on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import socket
from collections.abc import Sequence
from typing import Any

import aiomqtt

from courtroom_core.backoff import Backoff, BackoffPolicy
from devices.errors import RemoteProtocolError
from devices.faults import Faults
from devices.mqtt.contract import (
    Availability,
    DeviceState,
    DeviceTopics,
    SetCommand,
    decode_set,
    encode_availability,
    encode_state,
)

__all__ = [
    "MqttDeviceSimulator",
    "MqttFaults",
    "SimulatorKind",
    "VirtualMqttDevice",
    "run_mqtt_simulator",
]

log = logging.getLogger(__name__)

DISPLAY_INPUTS = ("hdmi1", "hdmi2", "doc-camera", "pc")
#: What the ``garbage`` fault publishes on ``/state``: JSON cut off mid-object.
GARBAGE_STATE = b'{"last_command_id": "\x80\x81", "state": {"power": '


#: Fault modes of a simulated MQTT device (see the module docstring).
MqttFaults = Faults


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
        faults: fault modes from the start (:attr:`faults` may be replaced
            at any time).
        rng: randomness for ``drop`` and ``garbage`` (seed it to repeat a run).
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
        faults: MqttFaults | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.topics = DeviceTopics(room, name)
        self.device = VirtualMqttDevice(kind)
        self.faults = faults or MqttFaults()
        self._rng = rng or random.Random()
        self._backoff = Backoff(backoff or BackoffPolicy(initial=0.2, maximum=5.0))
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        #: Broker connections torn down by the ``disconnect`` fault so far.
        self.disconnects = 0

    def disconnect(self) -> bool:
        """Tear the broker connection down now, without DISCONNECT: the last will fires.

        Returns:
            False if there was no connection to tear down.
        """
        client = self._client
        # aiomqtt has no "drop the line" call; paho's socket is the only way to it.
        sock = client._client.socket() if client is not None else None
        if not isinstance(sock, socket.socket):
            return False
        # Shut, not close: paho still owns the descriptor and notices the loss itself.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        self.disconnects += 1
        return True

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
                self._client = client
                self.connected.set()
                timer = asyncio.create_task(
                    self._disconnect_periodically(), name=f"sim-{self.topics.name} disconnect"
                )
                try:
                    async for message in client.messages:
                        await self._handle(client, message)
                except asyncio.CancelledError:
                    await client.publish(
                        self.topics.availability, offline, qos=1, retain=True, timeout=1.0
                    )
                    raise
                finally:
                    timer.cancel()
        finally:
            self._client = None
            self.connected.clear()

    async def _disconnect_periodically(self) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(0.05)
            every = self.faults.disconnect_every
            waited = waited + 0.05 if every else 0.0
            if every and waited >= every:
                self.disconnect()
                return

    async def _handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            command = decode_set(payload)
        except RemoteProtocolError as exc:
            log.warning("simulator %s: ignoring bad command: %s", self.topics.name, exc.message)
            return
        faults = self.faults
        if faults.drop and self._rng.random() < faults.drop:
            log.info("simulator %s: dropping command %s (fault)", self.topics.name, command.id)
            return
        if faults.slow_ms:
            await asyncio.sleep(faults.slow_ms / 1000.0)
        state = self.device.apply(command)
        if faults.garbage and self._rng.random() < faults.garbage:
            await client.publish(self.topics.state, GARBAGE_STATE, qos=1)
        await client.publish(self.topics.state, encode_state(state), qos=1, retain=True)


def run_mqtt_simulator(
    host: str,
    port: int,
    room: str,
    name: str,
    kind: str,
    *,
    faults: MqttFaults | None = None,
    seed: int | None = None,
) -> None:
    """Run a simulated MQTT ``kind`` (``relay`` | ``display``) until interrupted.

    The entry point behind ``courtroom simulate mqtt``. Killing the process
    (SIGKILL) leaves the broker to publish the device's last will, ``offline``.

    Raises:
        ValueError: unknown ``kind``.
        devices.mqtt.contract.TopicError: invalid ``room`` or ``name``.
    """
    simulator = MqttDeviceSimulator(
        host=host,
        port=port,
        room=room,
        name=name,
        kind=SimulatorKind(kind),
        faults=faults,
        rng=random.Random(seed),
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(simulator.run())
