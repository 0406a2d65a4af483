"""Unplug and replug: the simulator runs as a real process, killed and restarted."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from courtroom_core.backoff import BackoffPolicy
from devices.errors import DeviceUnavailableError
from devices.events import DeviceEvent, Direction
from devices.link import DeviceLink
from devices.transport import SerialTransport, TcpTransport, Transport
from tests.devices.test_simulate_echo import EchoSession, Ping, eventually, running

ROOT = Path(__file__).resolve().parents[2]
ECHO = "tests.devices.test_simulate_echo:EchoDevice"


class Harness:
    """A simulator process and the endpoints it printed."""

    def __init__(self, process: asyncio.subprocess.Process, endpoints: dict[str, list[str]]):
        self.process = process
        self.endpoints = endpoints

    async def unplug(self) -> None:
        """SIGKILL: no goodbye, the kernel closes the port or the pty master."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@asynccontextmanager
async def harness(*args: str) -> AsyncIterator[Harness]:
    """Run ``python -m devices.simulate ECHO ARGS`` until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devices.simulate",
        ECHO,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    running_harness = Harness(process, {})
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        words = line.decode().split()
        assert words, "simulator exited before it was ready"
        running_harness.endpoints[words[0]] = words[1:]
        yield running_harness
    finally:
        await running_harness.unplug()


def make_link(transport: Transport, events: list[DeviceEvent]) -> DeviceLink:
    return DeviceLink(
        name="echo",
        session=EchoSession(timeout=0.5),
        transport=transport,
        backoff=BackoffPolicy(initial=0.01, maximum=0.05, jitter=0.5),
        on_event=events.append,
    )


def state_changes(events: list[DeviceEvent]) -> list[str]:
    return [e.meaning.split(" ")[0] for e in events if e.direction is Direction.STATE]


async def test_link_tcp_simulator_killed_and_restarted_on_same_port() -> None:
    events: list[DeviceEvent] = []
    async with harness("--port", "0") as first:
        port = int(first.endpoints["tcp"][1])
        link = make_link(TcpTransport("127.0.0.1", port), events)
        async with running(link):
            await link.wait_online()
            assert await link.command(Ping(1)) == 1
            await first.unplug()
            await eventually(lambda: not link.state.online, within=5.0)
            with pytest.raises(DeviceUnavailableError, match="offline"):
                await link.command(Ping(2))
            async with harness("--port", str(port)):
                await link.wait_online()
                assert await link.command(Ping(3)) == 3
                assert state_changes(events) == ["online", "offline:", "online"]


async def test_link_pty_simulator_killed_and_restarted_behind_stable_path(
    tmp_path: Path,
) -> None:
    stable = tmp_path / "usb-echo-if00-port0"
    events: list[DeviceEvent] = []
    async with harness("--port", str(stable)) as first:
        first_pty, link_path = first.endpoints["pty"]
        assert link_path == str(stable) and stable.resolve() == Path(first_pty)
        link = make_link(SerialTransport(str(stable), baudrate=9600), events)
        async with running(link):
            await link.wait_online()
            assert await link.command(Ping(1)) == 1
            await first.unplug()
            # udev removes the by-id link of an unplugged adapter; a stale one
            # could name a pty number the kernel hands to someone else
            stable.unlink()
            await eventually(lambda: not link.state.online, within=5.0)
            async with harness("--port", str(stable)):
                await link.wait_online()
                assert await link.command(Ping(2)) == 2
                assert state_changes(events) == ["online", "offline:", "online"]
