"""MQTT simulator fault modes against a real Mosquitto: slow, drop, garbage, disconnect.

The agent side is the real :class:`MqttDeviceLink`; each fault must end in a
named error or a recorded fault, never a crash, and the next command works.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from devices.errors import DeviceTimeoutError, DeviceUnavailableError, RemoteProtocolError
from devices.mqtt import (
    Availability,
    MqttDeviceLink,
    MqttDeviceSimulator,
    MqttFaults,
    SetCommand,
    SimulatorKind,
)
from devices.session import Fault, SessionEvent, Unsolicited
from tests.devices.test_mqtt_link import FAST, ROOT, WAIT, eventually, new_room, running

if TYPE_CHECKING:
    from tests.fixtures.mosquitto import MosquittoBroker

pytestmark = pytest.mark.slow
Events = list[tuple[str, SessionEvent]]
ON = SetCommand("power", {"state": "on"})


@contextlib.asynccontextmanager
async def relay(broker: MosquittoBroker, room: str) -> AsyncIterator[MqttDeviceSimulator]:
    sim = MqttDeviceSimulator(
        host=broker.host,
        port=broker.port,
        room=room,
        name="relay",
        kind=SimulatorKind.RELAY,
        backoff=FAST,
        rng=random.Random(7),
    )
    task = asyncio.create_task(sim.run(), name="sim-relay")
    try:
        async with asyncio.timeout(WAIT):
            await sim.connected.wait()
        yield sim
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def room_with_relay(
    broker: MosquittoBroker, events: Events
) -> AsyncIterator[tuple[MqttDeviceSimulator, MqttDeviceLink]]:
    room = new_room()
    async with relay(broker, room) as sim, running(broker, room, "relay", events=events) as link:
        await eventually(
            lambda: link.status("relay").availability is Availability.ONLINE, what="online"
        )
        yield sim, link


def test_mqtt_faults_validate() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        MqttFaults(drop=2)
    with pytest.raises(ValueError, match=">= 0"):
        MqttFaults(slow_ms=-5)


async def test_mqtt_slow_device_times_out_then_confirms_when_given_time(
    mosquitto: MosquittoBroker,
) -> None:
    events = Events()
    async with room_with_relay(mosquitto, events) as (sim, link):
        sim.faults = MqttFaults(slow_ms=300)
        with pytest.raises(DeviceTimeoutError, match="no MQTT state confirming"):
            await link.send("relay", ON, confirm_within=0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        state = await link.send("relay", SetCommand("power", {"state": "off"}), confirm_within=5)
        assert state.values == {"power": "off"}
        assert loop.time() - started >= 0.3


async def test_mqtt_dropped_command_times_out_and_is_not_applied(
    mosquitto: MosquittoBroker,
) -> None:
    events = Events()
    async with room_with_relay(mosquitto, events) as (sim, link):
        sim.faults = MqttFaults(drop=1.0)
        with pytest.raises(DeviceTimeoutError):
            await link.send("relay", ON, confirm_within=0.3)
        assert sim.device.values == {"power": "off"}
        assert isinstance(link.status("relay").last_error, DeviceTimeoutError)
        sim.faults = MqttFaults()
        assert (await link.send("relay", ON)).values == {"power": "on"}


async def test_mqtt_garbage_state_is_a_fault_and_the_real_state_still_confirms(
    mosquitto: MosquittoBroker,
) -> None:
    events = Events()
    async with room_with_relay(mosquitto, events) as (sim, link):
        sim.faults = MqttFaults(garbage=1.0)
        state = await link.send("relay", ON)
        assert state.values == {"power": "on"}
        faults = [e for name, e in events if name == "relay" and isinstance(e, Fault)]
        assert faults and isinstance(faults[0].error, RemoteProtocolError)
        assert faults[0].error.device == "relay"
        assert isinstance(link.status("relay").last_error, RemoteProtocolError)
        assert link.connected  # the agent's link survived
        sim.faults = MqttFaults()
        assert (await link.send("relay", SetCommand("power", {"state": "off"}))).values == {
            "power": "off"
        }


def availability_changes(events: Events) -> list[Availability]:
    seen = [e.message for _, e in events if isinstance(e, Unsolicited)]
    return [m for m in seen if isinstance(m, Availability)]


async def test_mqtt_disconnect_fires_last_will_then_device_returns(
    mosquitto: MosquittoBroker,
) -> None:
    events = Events()
    async with room_with_relay(mosquitto, events) as (sim, link):
        assert sim.disconnect()
        await eventually(
            lambda: Availability.OFFLINE in availability_changes(events), what="last will"
        )
        await eventually(
            lambda: availability_changes(events)[-1] is Availability.ONLINE, what="back online"
        )
        assert availability_changes(events)[-2:] == [Availability.OFFLINE, Availability.ONLINE]
        assert (await link.send("relay", ON)).values == {"power": "on"}


async def test_mqtt_simulator_process_disconnects_periodically(
    mosquitto: MosquittoBroker,
) -> None:
    room, events = new_room(), Events()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "courtroom_agent.cli",
        "simulate",
        "mqtt",
        "--port",
        str(mosquitto.port),
        "--room",
        room,
        "--name",
        "relay",
        "--disconnect-every",
        "0.3",
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with running(mosquitto, room, "relay", events=events) as link:
            await eventually(
                lambda: availability_changes(events).count(Availability.OFFLINE) >= 2,
                what="two last wills",
            )
            await eventually(
                lambda: link.status("relay").availability is Availability.ONLINE, what="online"
            )
            with contextlib.suppress(DeviceUnavailableError, DeviceTimeoutError):
                # it may drop again meanwhile; a named error then, never a hang
                await link.send("relay", ON, confirm_within=1.0)
    finally:
        process.kill()
        await process.wait()
