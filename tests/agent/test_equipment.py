"""The agent's equipment runner: embedded broker, MQTT devices, event publishing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
import pytest

from courtroom_agent.config import AgentConfig
from courtroom_agent.equipment_runner import Equipment
from devices import extron
from devices.mqtt.contract import AgentTopics, SetCommand
from devices.mqtt.virtual import MqttDeviceSimulator, SimulatorKind
from devices.simulate import Simulator, load_device
from tests.fixtures.rooms import room_toml

if TYPE_CHECKING:
    from tests.fixtures.mosquitto import MosquittoBroker

ROOT = Path(__file__).resolve().parents[2]
#: The wall clock the status tests pretend it is (2027-01-15 08:00 UTC).
NOW = 1_800_000_000.0


def config_with_mqtt_device() -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "courtroom": {"id": "fy-01", "name": "第一法庭"},
            "hub": {"url": "ws://127.0.0.1:9/ws/agent", "token": "t"},
            "audio": {"roles": ["审判长"]},
            "devices": [{"name": "lights", "kind": "mqtt"}],
        }
    )


async def test_equipment_embedded_broker_serves_mqtt_devices() -> None:
    published: list[tuple[str, dict[str, Any]]] = []
    equipment = Equipment(config_with_mqtt_device(), publish=lambda k, b: published.append((k, b)))
    async with equipment:
        assert equipment.broker_address is not None and equipment.mqtt is not None
        host, port = equipment.broker_address
        relay = MqttDeviceSimulator(
            host=host, port=port, room="fy-01", name="lights", kind=SimulatorKind("relay")
        )
        relay_task = asyncio.create_task(relay.run())
        try:
            async with asyncio.timeout(10):
                while not equipment.status()["devices"]["lights"]["online"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert equipment.status()["devices"]["lights"]["last_success"] is None
            state = await equipment.mqtt.send("lights", SetCommand("power", {"state": "on"}))
            assert state.values["power"] == "on"
            assert equipment.status()["devices"]["lights"]["last_success"] is not None
        finally:
            relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay_task
    kinds = {kind for kind, _ in published}
    assert kinds == {"device"}
    directions = [body["direction"] for _, body in published]
    assert "tx" in directions and "rx" in directions
    assert all(body["device"] == "lights" for _, body in published)
    assert all("hearing_id" not in body for _, body in published)  # no hearing open


def test_retries_per_kind_policy_from_the_table() -> None:
    from devices import extron, hyperdeck, pjlink, visca
    from devices.kinds import KINDS

    assert KINDS["visca"].retries(visca.PowerInquiry()) == 2
    assert KINDS["pjlink"].retries(pjlink.LampQuery()) == 2
    assert KINDS["extron-sis"].retries(extron.ReadTie(1)) == 2
    info = hyperdeck.Command.simple(hyperdeck.CommandName.TRANSPORT_INFO)
    assert KINDS["hyperdeck"].retries(info) == 2
    assert KINDS["visca"].retries(visca.PresetRecall(1)) == 1
    assert KINDS["extron-sis"].retries(extron.Tie(1, 2)) == 1
    assert KINDS["hyperdeck"].retries(hyperdeck.Command.record(name="hearing")) == 0


def test_describe_reads_like_the_protocol_not_python() -> None:
    from courtroom_agent.equipment import describe
    from devices import extron

    reply = extron.TieReply(output=4, input=1, layer=extron.TieLayer.ALL)
    assert describe(reply) == "TieReply(output=4, input=1, layer=ALL, width=2)"
    assert describe(None) == "None" and describe((1, extron.TieLayer.AUDIO)) == "(1, AUDIO)"


def test_devices_probe_unset_broker_password_is_config_error(tmp_path: Path) -> None:
    config = room_toml(
        tmp_path / "room.toml",
        audio={"roles": ["审判长"]},
        extra="""[mqtt]
host = "127.0.0.1"
port = 1
username = "agent"
password_env = "COURTROOM_TEST_UNSET_MQTT_PASSWORD"
[[devices]]
name = "lights"
kind = "mqtt"
""",
    )
    env = {k: v for k, v in os.environ.items() if k != "COURTROOM_TEST_UNSET_MQTT_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", "devices", "probe", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert "COURTROOM_TEST_UNSET_MQTT_PASSWORD is not set" in done.stderr
    assert "Traceback" not in done.stderr


def room_config(devices: list[dict[str, Any]], **extra: Any) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "courtroom": {"id": "fy-01", "name": "第一法庭"},
            "hub": {"url": "ws://127.0.0.1:9/ws/agent", "token": "t"},
            "audio": {"roles": ["审判长"]},
            "devices": devices,
            **extra,
        }
    )


async def test_equipment_status_reports_each_devices_last_success_time() -> None:
    device, frame_end = load_device("extron-sis", {})
    async with Simulator(device, tcp_port=0, garbage_end=frame_end) as simulator:
        sim_task = asyncio.create_task(simulator.run(), name="matrix simulator")
        config = room_config(
            [
                {
                    "name": "matrix",
                    "kind": "extron-sis",
                    "host": "127.0.0.1",
                    "port": simulator.tcp_port,
                }
            ]
        )
        equipment = Equipment(config, publish=lambda k, b: None, wall_clock=lambda: NOW)
        try:
            async with equipment:
                link = equipment.links["matrix"]
                async with asyncio.timeout(10):
                    await link.wait_online()
                before = equipment.status()["devices"]["matrix"]
                assert before == {"online": True, "last_error": None, "last_success": None}
                assert await link.command(extron.QueryFirmware()) == "1.05"
                after = equipment.status()["devices"]["matrix"]
                when = datetime.fromisoformat(after["last_success"])
                assert when.tzinfo is UTC
                assert NOW - 5 < when.timestamp() <= NOW  # "just now" on the injected clock
                assert after["last_success"].endswith("+00:00")
        finally:
            sim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sim_task


async def test_equipment_perform_by_name_uses_the_matrix_names_and_confirms() -> None:
    from devices.actions import Outcome
    from devices.errors import LocalProtocolError

    device, frame_end = load_device("extron-sis", {})
    async with Simulator(device, tcp_port=0, garbage_end=frame_end) as simulator:
        sim_task = asyncio.create_task(simulator.run(), name="matrix simulator")
        config = room_config(
            [
                {
                    "name": "matrix",
                    "kind": "extron-sis",
                    "host": "127.0.0.1",
                    "port": simulator.tcp_port,
                    "inputs": {"doc-camera": 5},
                    "outputs": {"gallery": 2},
                }
            ]
        )
        equipment = Equipment(config, publish=lambda k, b: None)
        try:
            async with equipment:
                async with asyncio.timeout(10):
                    await equipment.links["matrix"].wait_online()
                tie = await equipment.perform("matrix", "tie", ["doc-camera", "gallery"], within=1)
                assert tie.outcome is Outcome.CONFIRMED, tie.message
                read = await equipment.read_state("matrix", "read", ["gallery"], within=1)
                assert read.value == 5
                with pytest.raises(LocalProtocolError, match="no device named 'projector'"):
                    await equipment.perform("projector", "power", ["on"], within=1)
        finally:
            sim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sim_task


HOLD_EQUIPMENT = """
import asyncio, sys
from pathlib import Path
from courtroom_agent.config import load_agent_config
from courtroom_agent.equipment_runner import Equipment

async def main():
    config = load_agent_config(Path(sys.argv[1]))
    async with Equipment(config, publish=lambda kind, body: None) as equipment:
        await equipment.mqtt.wait_connected()
        print("ready", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_agent_killed_goes_offline_through_its_last_will(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    room = f"kill-{os.getpid()}"
    config = room_toml(
        tmp_path / "room.toml",
        courtroom=room,
        audio={"roles": ["审判长"]},
        extra=f"""[mqtt]
host = "{mosquitto.host}"
port = {mosquitto.port}
[[devices]]
name = "lights"
kind = "mqtt"
""",
    )
    topic = AgentTopics(room).availability
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_EQUIPMENT,
        str(config),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert agent.stdout is not None
    try:
        assert await asyncio.wait_for(agent.stdout.readline(), 20) == b"ready\n"
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as observer:
            await observer.subscribe(topic, qos=1)
            messages = aiter(observer.messages)
            async with asyncio.timeout(10):
                first = await anext(messages)
                assert first.payload == b"online" and first.retain
                agent.send_signal(signal.SIGKILL)  # no goodbye: only the broker can tell
                last = await anext(messages)
            assert last.payload == b"offline"
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as late:  # retained too
            await late.subscribe(topic, qos=1)
            async with asyncio.timeout(10):
                assert (await anext(aiter(late.messages))).payload == b"offline"
    finally:
        if agent.returncode is None:
            agent.kill()
        await agent.wait()


def test_config_refuses_two_devices_on_one_serial_port() -> None:
    from pydantic import ValidationError

    camera = {"name": "cam-1", "kind": "visca", "port": "/dev/ttyUSB0"}
    with pytest.raises(ValidationError, match="serial port used by two devices: /dev/ttyUSB0"):
        room_config([camera, {"name": "cam-2", "kind": "pelco-d", "port": "/dev/ttyUSB0"}])
    config = room_config(  # different lines, and TCP devices on one host, are fine
        [
            camera,
            {"name": "cam-2", "kind": "pelco-d", "port": "/dev/ttyUSB1"},
            {"name": "display", "kind": "pjlink", "host": "10.0.0.7"},
            {"name": "recorder", "kind": "hyperdeck", "host": "10.0.0.7"},
        ]
    )
    assert [d.name for d in config.devices] == ["cam-1", "cam-2", "display", "recorder"]
