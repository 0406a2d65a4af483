"""MQTT link and simulator against a real Mosquitto on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiomqtt
import pytest

from courtroom_core.backoff import BackoffPolicy
from devices.errors import (
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    RemoteProtocolError,
)
from devices.mqtt import (
    Availability,
    DeviceTopics,
    MqttDeviceLink,
    MqttDeviceSimulator,
    SetCommand,
    SimulatorKind,
)
from devices.session import Completed, Fault, SessionEvent

if TYPE_CHECKING:
    from tests.fixtures.mosquitto import MosquittoBroker

pytestmark = pytest.mark.slow
Events = list[tuple[str, SessionEvent]]
ROOT = Path(__file__).resolve().parents[2]

FAST = BackoffPolicy(initial=0.05, maximum=0.3, jitter=0.0)
WAIT = 10.0  # upper bound for anything that should take milliseconds
_rooms = itertools.count(1)


def new_room() -> str:
    return f"room-{os.getpid()}-{next(_rooms)}"


async def eventually(predicate: Callable[[], bool], *, what: str) -> None:
    for _ in range(int(WAIT / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out waiting for: {what}")


@contextlib.asynccontextmanager
async def running(
    broker: MosquittoBroker, room: str, *names: str, events: list[tuple[str, SessionEvent]]
) -> AsyncIterator[MqttDeviceLink]:
    link = MqttDeviceLink(
        host=broker.host,
        port=broker.port,
        room=room,
        devices=names,
        client_id=f"agent-{room}",
        timeout=3.0,
        backoff=FAST,
        on_event=lambda name, event: events.append((name, event)),
    )
    async with link:
        async with asyncio.timeout(WAIT):
            await link.wait_connected()
        yield link


@contextlib.asynccontextmanager
async def simulator(
    broker: MosquittoBroker, room: str, name: str, kind: SimulatorKind
) -> AsyncIterator[MqttDeviceSimulator]:
    sim = MqttDeviceSimulator(
        host=broker.host, port=broker.port, room=room, name=name, kind=kind, backoff=FAST
    )
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(sim.run(), name=f"sim-{name}")
        async with asyncio.timeout(WAIT):
            await sim.connected.wait()
        try:
            yield sim
        finally:
            task.cancel()


async def test_link_command_round_trip_confirmed_by_state(mosquitto: MosquittoBroker) -> None:
    room, events = new_room(), Events()
    async with (
        simulator(mosquitto, room, "display", SimulatorKind.DISPLAY),
        running(mosquitto, room, "display", events=events) as link,
    ):
        await eventually(
            lambda: link.status("display").availability is Availability.ONLINE, what="online"
        )
        command = SetCommand("input", {"source": "doc-camera"})
        state = await link.send("display", command)
        assert state.last_command_id == command.id
        assert state.values["input"] == "doc-camera"
        assert link.status("display").last_success is not None
        completed = [e for _, e in events if isinstance(e, Completed)]
        assert completed[-1].command == command and b"doc-camera" in completed[-1].raw
        with pytest.raises(DeviceReportedError, match="unknown input 'vga9'"):
            await link.send("display", SetCommand("input", {"source": "vga9"}))


async def test_link_agent_availability_retained_and_last_will(mosquitto: MosquittoBroker) -> None:
    room, events = new_room(), Events()
    async with running(mosquitto, room, events=events) as link:
        seen = await read_retained(mosquitto, link.agent.availability)
        assert seen == b"online"
    assert await read_retained(mosquitto, link.agent.availability) == b"offline"


async def read_retained(broker: MosquittoBroker, topic: str) -> bytes:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(WAIT):
            message = await anext(aiter(client.messages))
    assert isinstance(message.payload, bytes)
    return message.payload


async def test_link_times_out_without_device(mosquitto: MosquittoBroker) -> None:
    room, events = new_room(), Events()
    async with running(mosquitto, room, "ghost", events=events) as link:
        with pytest.raises(DeviceTimeoutError):
            await link.send("ghost", SetCommand("power", {"state": "on"}), confirm_within=0.2)
        assert isinstance(link.status("ghost").last_error, DeviceTimeoutError)


async def test_simulator_killed_goes_offline_by_last_will(
    mosquitto: MosquittoBroker,
) -> None:
    room, events = new_room(), Events()
    code = (
        "from devices.mqtt.virtual import run_mqtt_simulator; "
        f"run_mqtt_simulator({mosquitto.host!r}, {mosquitto.port}, {room!r}, 'relay', 'relay')"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    try:
        async with running(mosquitto, room, "relay", events=events) as link:
            await eventually(
                lambda: link.status("relay").availability is Availability.ONLINE,
                what="simulator online",
            )
            state = await link.send("relay", SetCommand("power", {"state": "on"}))
            assert state.values == {"power": "on"}
            proc.send_signal(signal.SIGKILL)
            await eventually(
                lambda: link.status("relay").availability is Availability.OFFLINE,
                what="offline via last will",
            )
            with pytest.raises(DeviceUnavailableError, match="offline"):
                await link.send("relay", SetCommand("power", {"state": "off"}))
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_link_reconnects_after_broker_restart(
    mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    room, events = new_room(), Events()
    caplog.set_level(logging.INFO, logger="devices.mqtt.link")
    async with (
        simulator(mosquitto, room, "relay", SimulatorKind.RELAY) as sim,
        running(mosquitto, room, "relay", events=events) as link,
    ):
        await eventually(lambda: link.status("relay").availability is Availability.ONLINE, what="")
        await link.send("relay", SetCommand("power", {"state": "on"}))
        mosquitto.stop()
        await eventually(lambda: not link.connected, what="link saw broker loss")
        with pytest.raises(DeviceUnavailableError, match="broker not connected"):
            await link.send("relay", SetCommand("power", {"state": "off"}))
        await asyncio.sleep(0.5)  # several failed attempts: only the first is logged
        mosquitto.start()
        await eventually(
            lambda: (
                link.connected
                and sim.connected.is_set()
                and link.status("relay").availability is Availability.ONLINE
            ),
            what="reconnected",
        )
        state = await link.send("relay", SetCommand("power", {"state": "off"}))
        assert state.values == {"power": "off"}
    ours = [r for r in caplog.records if r.name == "devices.mqtt.link"]
    warnings = [r for r in ours if r.levelno == logging.WARNING and "broker" in r.msg]
    recoveries = [r for r in ours if "connected again" in r.getMessage()]
    assert len(warnings) == 1 and len(recoveries) == 1


async def test_link_survives_malformed_state_json(
    mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    room, events = new_room(), Events()
    topics = DeviceTopics(room, "relay")
    async with (
        simulator(mosquitto, room, "relay", SimulatorKind.RELAY),
        running(mosquitto, room, "relay", events=events) as link,
    ):
        await eventually(lambda: link.status("relay").state is not None, what="retained state")
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as rogue:
            await rogue.publish(topics.state, b'{"last_command_id": "c-1", "state": [', qos=1)
        await eventually(
            lambda: any(isinstance(e, Fault) for _, e in events), what="fault recorded"
        )
        assert isinstance(link.status("relay").last_error, RemoteProtocolError)
        assert "relay: fault on state" in caplog.text
        state = await link.send("relay", SetCommand("power", {"state": "on"}))
        assert state.values == {"power": "on"}


async def test_link_persistent_session_survives_link_and_broker_restart(
    mosquitto: MosquittoBroker,
) -> None:
    room, events = new_room(), Events()
    topics = DeviceTopics(room, "panel")
    async with running(mosquitto, room, "panel", events=events):
        pass  # subscribed once with clean_session=False, then left
    mosquitto.restart()  # the session is in the broker's persistence file
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as device:
        # not retained: only a persistent session can hand it to the agent later
        await device.publish(topics.state, b'{"last_command_id":null,"state":{"k":1}}', qos=1)
    events.clear()
    async with running(mosquitto, room, "panel", events=events) as link:
        await eventually(lambda: link.status("panel").state is not None, what="queued state")
        state = link.status("panel").state
        assert state is not None and state.values == {"k": 1}


async def test_link_refuses_to_run_twice(mosquitto: MosquittoBroker) -> None:
    # Two clients with one id take the broker session from each other: the
    # second run must be refused, not race the first.
    room, events = new_room(), Events()
    async with running(mosquitto, room, "lights", events=events) as link:
        with pytest.raises(RuntimeError, match="already running"):
            async with asyncio.timeout(WAIT):
                await link.run()
        assert link.connected


async def test_lost_connection_is_transient_not_bad_credentials(
    mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # paho reports "not connected" as code 4, which is also the CONNACK code
    # for bad credentials: only a refused CONNECT means "fix the config".
    room, events = new_room(), Events()
    async with running(mosquitto, room, "lights", events=events) as link:
        caplog.set_level(logging.INFO, logger="devices.mqtt.link")
        thief = aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=link.client_id)
        async with asyncio.timeout(WAIT), thief:
            await eventually(lambda: not link.connected, what="session taken over")
        await eventually(lambda: link.connected, what="reconnected at once")
    retry = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert retry and all(float(m.rsplit("in ", 1)[1].split()[0]) <= FAST.maximum for m in retry)
