"""The demo courtroom's equipment: every kind of device, each simulator its own process.

Two cameras on ptys behind stable symlinks (as ``/dev/serial/by-id``): a
VISCA PTZ camera that follows the speaker (a preset per seat) and a Pelco-D
camera for the gallery; an Extron matrix, three PJLink displays with a
password (the plaintiff's, the defendant's and the gallery's screens) and a
HyperDeck recorder on loopback TCP; and an MQTT relay for the courtroom
lights on an embedded broker. :attr:`DemoEquipment.sync` says which plays
which part of the five synchronisations (``[sync]``).

Faults for ``courtroom demo --fault DEVICE:FAULT`` are staged on the running
simulator through its control port (:meth:`DemoEquipment.stage_faults`, the
lines of :data:`devices.faults.SCENARIOS`): ``recorder:disk-full`` (the
HyperDeck's disk fills: a recording in progress stops), ``matrix:drop`` (the
Extron stops answering), ``display:unplug`` (the gallery display's cable pulled).

Each simulator is the ``courtroom simulate`` of its kind, run as a child
process (``python -m devices.simulate KIND``, ``python -m
courtroom_agent.cli simulate mqtt``), so the agent drives them exactly as it
would real hardware, across a process boundary; their events reach the
hub's audit trail. A ``room.toml`` describing them is written to the data
directory, so ``courtroom devices probe|send`` work against the running demo.

Life cycle: on entry each child is started and waited for until it serves
(its ``pty …``/``tcp …`` ready line, or for MQTT its retained availability
``online``); on exit each gets SIGTERM (the pty simulators then remove their
symlink) and, if it lingers, SIGKILL. The children also get SIGTERM from the
kernel when the demo process dies, even by SIGKILL (``PR_SET_PDEATHSIG``,
set by a short launcher in the child before it runs the module), so no
simulator outlives the demo. Each child's stderr goes to
``<data dir>/equipment/<device>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from courtroom_agent.embedded_broker import EmbeddedBroker
from courtroom_core.errors import CourtroomError
from devices.faults import SCENARIOS

__all__ = ["DISPLAY_PASSWORD_ENV", "DemoEquipment", "DemoEquipmentError"]

DISPLAY_PASSWORD_ENV = "COURTROOM_DEMO_DISPLAY_PASSWORD"
MATRIX_INPUTS = {"doc-camera": 1, "evidence-pc": 2, "judge-camera": 3}
DISPLAYS = {
    "plaintiff": "plaintiff-display",
    "defendant": "defendant-display",
    "gallery": "gallery-display",
}
"""Each party screen (a matrix output) → its PJLink display."""
DISPLAY_INPUT = "31"
"""The display input (PJLink HDMI 1) the matrix output is wired to."""
SEAT_PRESETS = {0: 1, 1: 2, 2: 3, 3: 4}
"""Each microphone channel → the follow camera's preset that shows its seat."""
FAULT_DEVICES = {"recorder": "recorder", "matrix": "matrix", "display": "gallery-display"}
"""``--fault DEVICE:…`` → the demo device it stages (:data:`devices.faults.SCENARIOS`)."""
MATRIX_OUTPUTS = {"judge": 1, "plaintiff": 2, "defendant": 3, "gallery": 4}
#: Seconds a simulator may take to start serving (a cold Python start on a busy machine).
START_TIMEOUT = 30.0
#: Seconds a simulator may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 5.0

# Each child first asks the kernel for SIGTERM when the demo dies, then runs
# its module as `python -m` would. Done in the child itself rather than in a
# preexec_fn: the demo has threads by then, and forking with threads makes
# anything run between fork and exec unsafe. argv: PARENT_PID MODULE ARGS...
_CHILD = """\
import ctypes, os, runpy, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)  # the demo died before we asked
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


class DemoEquipmentError(CourtroomError, RuntimeError):
    """A simulator did not start; the message names its log file."""


class DemoEquipment:
    """Simulators for the demo room; :attr:`devices` and :attr:`mqtt` are config tables.

    Attributes:
        processes: the running simulator processes by device name.
    """

    def __init__(
        self, data_dir: Path, *, room: str, faults: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._dir = data_dir / "equipment"
        self._room = room
        self.faults: list[tuple[str, tuple[str, ...]]] = []
        """(simulator, control lines) of each fault to stage (:meth:`stage_faults`)."""
        self.controls: dict[str, int] = {}
        """Each simulator's control port (``courtroom simulate --control-port``)."""
        for device, fault in faults:
            lines = SCENARIOS.get(f"{device}:{fault}")
            if lines is None or device not in FAULT_DEVICES:
                raise DemoEquipmentError(
                    f"--fault {device}:{fault}: unknown (known: {', '.join(SCENARIOS)})"
                )
            self.faults.append((FAULT_DEVICES[device], lines))
        self._stack = contextlib.AsyncExitStack()
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.devices: list[dict[str, Any]] = []
        self.mqtt: dict[str, Any] = {}

    async def __aenter__(self) -> Self:
        (self._dir / "recorder").mkdir(parents=True, exist_ok=True)
        # Not all digits: `courtroom simulate --option` would hand a number over.
        password = "demo-" + secrets.token_hex(4)
        os.environ[DISPLAY_PASSWORD_ENV] = password
        await self._stack.__aenter__()
        try:
            broker = await self._stack.enter_async_context(EmbeddedBroker())
            self.mqtt = {"host": broker.host, "port": broker.port}
            started = await asyncio.gather(
                self._simulate("judge-camera", "visca", str(self._dir / "judge-camera")),
                self._simulate("gallery-camera", "pelco-d", str(self._dir / "gallery-camera")),
                self._simulate(
                    "matrix",
                    "extron-sis",
                    "0",
                    "inputs=4",
                    "outputs=4",
                ),
                *(
                    self._simulate(
                        name,
                        "pjlink",
                        "0",
                        f"password={password}",
                        "warm_up=0.5",
                        "cool_down=0.5",
                    )
                    for name in DISPLAYS.values()
                ),
                self._simulate(
                    "recorder",
                    "hyperdeck",
                    "0",
                    f"directory={self._dir / 'recorder'}",
                ),
                self._simulate_mqtt("lights", broker.host, broker.port),
            )
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        judge, gallery, matrix, *displays, recorder, _ = (str(port) for port in started)
        self.devices = [
            {"name": "judge-camera", "kind": "visca", "port": judge},
            {"name": "gallery-camera", "kind": "pelco-d", "port": gallery, "address": 1},
            {
                "name": "matrix",
                "kind": "extron-sis",
                "host": "127.0.0.1",
                "port": int(matrix),
                "inputs": MATRIX_INPUTS,
                "outputs": MATRIX_OUTPUTS,
            },
            *(
                {
                    "name": name,
                    "kind": "pjlink",
                    "host": "127.0.0.1",
                    "port": int(port),
                    "password_env": DISPLAY_PASSWORD_ENV,
                }
                for name, port in zip(DISPLAYS.values(), displays, strict=True)
            ),
            {"name": "recorder", "kind": "hyperdeck", "host": "127.0.0.1", "port": int(recorder)},
            {"name": "lights", "kind": "mqtt"},
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        processes = list(self.processes.values())
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.processes.clear()
        await self._stack.__aexit__(None, None, None)

    async def _spawn(self, name: str, module: str, *argv: str) -> asyncio.subprocess.Process:
        """Run ``python -m MODULE ARGV`` as a child that dies with the demo."""
        with (self._dir / f"{name}.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _CHILD,
                str(os.getpid()),
                module,
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        self.processes[name] = process
        return process

    async def show_screens(self, url: str) -> None:
        """Open the display pages at ``url`` in a headless Chromium (the room's screens)."""
        await self._spawn(
            "screens", "courtroom_agent.demo_screen", url, str(self._dir / "screens-profile")
        )

    async def stage_faults(self) -> list[str]:
        """Make the ``--fault`` devices fail now, through their control ports; the answers."""
        answers: list[str] = []
        for name, lines in self.faults:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.controls[name])
            try:
                for line in lines:
                    writer.write(line.encode() + b"\n")
                    await writer.drain()
                    answer = await asyncio.wait_for(reader.readline(), START_TIMEOUT)
                    answers.append(f"{name}: {line} → {answer.decode().strip()}")
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        return answers

    @property
    def sync(self) -> dict[str, Any]:
        """The ``[sync]`` table: which device plays which part of the five synchronisations."""
        screens: list[dict[str, Any]] = [{"name": "judge", "output": "judge", "party": False}]
        screens += [
            {"name": screen, "output": screen, "display": name, "display_input": DISPLAY_INPUT}
            for screen, name in DISPLAYS.items()
        ]
        return {
            "recorders": ["recorder"],
            "matrix": "matrix",
            "evidence_input": "evidence-pc",
            "screens": screens,
            "seats": [
                {"channel": channel, "camera": "judge-camera", "preset": preset}
                for channel, preset in SEAT_PRESETS.items()
            ],
            "priority_seats": [0],
        }

    async def _simulate(self, name: str, kind: str, port: str, *options: str) -> str:
        """Start ``courtroom simulate KIND``; return the pty symlink or the TCP port it serves.

        Its control port (for staged faults) is kept in :attr:`controls`.
        """
        argv = ["devices.simulate", kind, "--port", port, "--control-port", "0"]
        for option in options:
            argv += ["--option", option]
        process = await self._spawn(name, *argv)
        assert process.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT):
                served = None
                while words := (await process.stdout.readline()).decode().split():
                    if words[0] in ("pty", "tcp") and len(words) == 3:
                        served = words[2]
                    if words[0] == "control" and len(words) == 3:
                        self.controls[name] = int(words[2])
                    if served is not None and name in self.controls:
                        return served
        except TimeoutError:
            pass
        raise DemoEquipmentError(
            f"simulator {name} ({kind}) did not start; see {self._dir / f'{name}.log'}"
        )

    async def _simulate_mqtt(self, name: str, host: str, port: int) -> None:
        """Start ``courtroom simulate mqtt``; return once it announced itself ``online``."""
        import aiomqtt

        from devices.mqtt.contract import DeviceTopics

        topic = DeviceTopics(self._room, name).availability
        async with aiomqtt.Client(host, port, identifier=f"demo-{secrets.token_hex(4)}") as client:
            await client.subscribe(topic, qos=1)
            process = await self._spawn(
                name,
                "courtroom_agent.cli",
                "simulate",
                "mqtt",
                f"--host={host}",
                f"--port={port}",
                f"--room={self._room}",
                f"--name={name}",
                "--kind=relay",
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(START_TIMEOUT):
                    async for message in client.messages:
                        if message.payload == b"online":
                            return
                        if process.returncode is not None:
                            break
        raise DemoEquipmentError(
            f"simulator {name} (mqtt) did not come online; see {self._dir / f'{name}.log'}"
        )

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
