"""The demo courtroom's equipment: every kind of device, simulated in-process.

A VISCA camera on a pty (behind a stable symlink, as /dev/serial/by-id), an
Extron matrix, a PJLink display with a password and a HyperDeck recorder on
loopback TCP, and an MQTT relay for the courtroom lights on an embedded
broker. The agent drives them exactly as it would real hardware; their
events reach the hub's audit trail. A ``room.toml`` describing them is
written to the data directory, so ``courtroom devices send`` works against
the running demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Self

from courtroom_agent.embedded_broker import EmbeddedBroker
from devices.simulate import Simulator

__all__ = ["DISPLAY_PASSWORD_ENV", "DemoEquipment"]

DISPLAY_PASSWORD_ENV = "COURTROOM_DEMO_DISPLAY_PASSWORD"
MATRIX_INPUTS = {"doc-camera": 1, "evidence-pc": 2, "judge-camera": 3}
MATRIX_OUTPUTS = {"judge": 1, "plaintiff": 2, "defendant": 3, "gallery": 4}


class DemoEquipment:
    """Simulators for the demo room; :attr:`devices` and :attr:`mqtt` are config tables."""

    def __init__(self, data_dir: Path, *, room: str) -> None:
        self._dir = data_dir / "equipment"
        self._room = room
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self.devices: list[dict[str, Any]] = []
        self.mqtt: dict[str, Any] = {}

    async def __aenter__(self) -> Self:
        from devices.extron.virtual import VirtualMatrix
        from devices.hyperdeck.virtual import VirtualHyperDeck
        from devices.mqtt.virtual import MqttDeviceSimulator, SimulatorKind
        from devices.pjlink.virtual import VirtualDisplay
        from devices.visca.virtual import VirtualViscaCamera

        (self._dir / "recorder").mkdir(parents=True, exist_ok=True)
        password = secrets.token_hex(4)
        os.environ[DISPLAY_PASSWORD_ENV] = password
        await self._stack.__aenter__()
        camera = await self._serve(
            Simulator(VirtualViscaCamera(), pty_link=self._dir / "judge-camera")
        )
        matrix = await self._serve(
            Simulator(VirtualMatrix(inputs=4, outputs=4), tcp_port=0, garbage_end=b"\r\n")
        )
        display = await self._serve(
            Simulator(VirtualDisplay(password=password, warm_up=2.0, cool_down=2.0), tcp_port=0)
        )
        recorder = await self._serve(
            Simulator(VirtualHyperDeck(self._dir / "recorder"), tcp_port=0)
        )
        broker = await self._stack.enter_async_context(EmbeddedBroker())
        lights = MqttDeviceSimulator(
            host=broker.host,
            port=broker.port,
            room=self._room,
            name="lights",
            kind=SimulatorKind("relay"),
        )
        self._tasks.append(asyncio.create_task(lights.run(), name="demo lights"))
        self.mqtt = {"host": broker.host, "port": broker.port}
        self.devices = [
            {"name": "judge-camera", "kind": "visca", "port": str(camera.pty_link)},
            {
                "name": "matrix",
                "kind": "extron-sis",
                "host": "127.0.0.1",
                "port": matrix.tcp_port,
                "inputs": MATRIX_INPUTS,
                "outputs": MATRIX_OUTPUTS,
            },
            {
                "name": "display",
                "kind": "pjlink",
                "host": "127.0.0.1",
                "port": display.tcp_port,
                "password_env": DISPLAY_PASSWORD_ENV,
            },
            {
                "name": "recorder",
                "kind": "hyperdeck",
                "host": "127.0.0.1",
                "port": recorder.tcp_port,
            },
            {"name": "lights", "kind": "mqtt"},
        ]
        return self

    async def _serve(self, simulator: Simulator) -> Simulator:
        await self._stack.enter_async_context(simulator)
        self._tasks.append(asyncio.create_task(simulator.run(), name="demo simulator"))
        return simulator

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stack.__aexit__(None, None, None)

    def room_toml(self, *, courtroom: dict[str, str], hub_url: str, token: str) -> str:
        """A courtroom config for the running demo (for ``courtroom devices``)."""
        lines = [
            "# The running demo courtroom; try:",
            f"#   export {DISPLAY_PASSWORD_ENV}={os.environ.get(DISPLAY_PASSWORD_ENV, '')}",
            "#   courtroom devices probe --config room.toml",
            "#   courtroom devices send --config room.toml matrix tie doc-camera gallery",
            "[courtroom]",
            f'id = "{courtroom["id"]}"',
            f'name = "{courtroom["name"]}"',
            "[hub]",
            f'url = "{hub_url}"',
            f'token = "{token}"',
            "[audio]",
            'roles = ["审判长", "原告", "被告", "书记员"]',
            "[mqtt]",
            f'host = "{self.mqtt["host"]}"',
            f"port = {self.mqtt['port']}",
        ]
        for device in self.devices:
            lines.append("[[devices]]")
            for key, value in device.items():
                if isinstance(value, dict):
                    inner = ", ".join(f"{k} = {v}" for k, v in value.items())
                    lines.append(f"{key} = {{ {inner} }}")
                elif isinstance(value, int):
                    lines.append(f"{key} = {value}")
                else:
                    lines.append(f'{key} = "{value}"')
        return "\n".join(lines) + "\n"
