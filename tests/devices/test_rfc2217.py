"""A VISCA camera behind an RFC 2217 device server (``rfc2217://host:port``).

Courts often reach RS-232 equipment through a serial device server on the
network. Here the camera simulator serves a pty, a real RFC 2217 server
process (pyserial's PortManager, tests/fixtures/rfc2217_server.py) exposes
that pty on loopback TCP, and the agent's link talks to it by URL: commands,
the audit trail, and a reconnect after the device server restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devices import visca
from devices.events import DeviceEvent, Direction
from devices.link import DeviceLink
from devices.simulate import Simulator
from devices.transport import SerialTransport
from devices.visca.virtual import VirtualViscaCamera

pytestmark = [
    pytest.mark.slow,
    # pyserial's RFC 2217 client names its reader thread the pre-3.10 way.
    pytest.mark.filterwarnings(r"ignore:set(Daemon|Name)\(\) is deprecated:DeprecationWarning"),
]


class DeviceServer:
    """The RFC 2217 server process in front of ``tty``."""

    def __init__(self, tty: Path) -> None:
        self.tty = tty
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.rfc2217_server", str(self.tty), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("listening "), line
        self.port = int(line.split()[1])

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stdin is not None:
                self.process.stdin.close()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None


@pytest.fixture
def camera_tty(tmp_path: Path) -> Path:
    return tmp_path / "ttyS-camera"


@contextlib.asynccontextmanager
async def camera(tty: Path) -> AsyncIterator[Simulator]:
    simulator = Simulator(VirtualViscaCamera(), pty_link=tty)
    async with simulator:
        task = asyncio.create_task(simulator.run())
        try:
            yield simulator
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
def device_server(camera_tty: Path) -> Iterator[DeviceServer]:
    server = DeviceServer(camera_tty)
    yield server
    server.kill()


async def test_visca_over_rfc2217_commands_audit_and_reconnect(
    camera_tty: Path, device_server: DeviceServer
) -> None:
    async with camera(camera_tty):
        await asyncio.to_thread(device_server.start)
        events: list[DeviceEvent] = []
        link = DeviceLink(
            name="judge-camera",
            session=visca.ViscaSession(ack_timeout=1.0, inquiry_timeout=1.0),
            transport=SerialTransport(f"rfc2217://127.0.0.1:{device_server.port}"),
            on_event=events.append,
            stable_after=0.0,
        )
        async with link:
            task = asyncio.create_task(link.run())
            try:
                await asyncio.wait_for(link.wait_online(), 15)
                await link.command(visca.PresetSet(4))
                await link.command(visca.PresetRecall(4))
                assert await link.command(visca.PowerInquiry()) == visca.PowerState(on=True)
                sent = [e for e in events if e.direction is Direction.TX]
                assert sent and all(e.raw_hex for e in sent)
                # The device server restarts (power cycle): the link reopens the URL.
                port = device_server.port
                await asyncio.to_thread(device_server.kill)
                for _ in range(300):
                    if not link.state.online:
                        break
                    await asyncio.sleep(0.02)
                assert not link.state.online
                await asyncio.to_thread(device_server.start)
                assert device_server.port == port
                await asyncio.wait_for(link.wait_online(), 15)
                assert await link.command(visca.PowerInquiry()) == visca.PowerState(on=True)
                states = [e.meaning for e in events if e.direction is Direction.STATE]
                assert len(states) >= 3, states  # online, offline, online again
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
