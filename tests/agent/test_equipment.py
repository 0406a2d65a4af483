"""The agent's equipment runner: embedded broker, MQTT devices, event publishing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from courtroom_agent.config import AgentConfig
from courtroom_agent.equipment_runner import Equipment
from devices.mqtt.contract import SetCommand
from devices.mqtt.virtual import MqttDeviceSimulator, SimulatorKind


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
            state = await equipment.mqtt.send("lights", SetCommand("power", {"state": "on"}))
            assert state.values["power"] == "on"
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


def test_retries_for_per_kind_policy() -> None:
    from courtroom_agent.equipment import retries_for
    from devices import extron, hyperdeck, pjlink, visca

    assert retries_for(visca.PowerInquiry()) == 2
    assert retries_for(pjlink.LampQuery()) == 2
    assert retries_for(extron.ReadTie(1)) == 2
    assert retries_for(hyperdeck.Command.simple(hyperdeck.CommandName.TRANSPORT_INFO)) == 2
    assert retries_for(visca.PresetRecall(1)) == 1
    assert retries_for(extron.Tie(1, 2)) == 1
    assert retries_for(hyperdeck.Command.record(name="hearing")) == 0


def test_describe_reads_like_the_protocol_not_python() -> None:
    from courtroom_agent.equipment import describe
    from devices import extron

    reply = extron.TieReply(output=4, input=1, layer=extron.TieLayer.ALL)
    assert describe(reply) == "TieReply(output=4, input=1, layer=ALL, width=2)"
    assert describe(None) == "None" and describe((1, extron.TieLayer.AUDIO)) == "(1, AUDIO)"


def test_devices_probe_unset_broker_password_is_config_error(tmp_path: Path) -> None:
    config = tmp_path / "room.toml"
    config.write_text(
        """
[courtroom]
id = "fy-01"
name = "第一法庭"
[hub]
url = "ws://127.0.0.1:9/ws/agent"
token = "t"
[audio]
roles = ["审判长"]
[mqtt]
host = "127.0.0.1"
port = 1
username = "agent"
password_env = "COURTROOM_TEST_UNSET_MQTT_PASSWORD"
[[devices]]
name = "lights"
kind = "mqtt"
""",
        encoding="utf-8",
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
