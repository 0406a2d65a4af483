"""Unplug and replug real protocol simulators: ``courtroom simulate KIND`` killed and restarted.

The echo device has the same test in test_link_replug.py; here the device on
the other end is a VISCA camera or a Pelco-D camera on a pty (behind a stable
by-id style symlink) or an Extron matrix on TCP, each a separate process
killed with SIGKILL (no goodbye: the kernel closes the pty master or the
socket) and started again on the same path or port. The restarted process is
a power-cycled device: the link must reopen by itself and commands work again.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from courtroom_core.backoff import BackoffPolicy
from devices import extron, pelco, visca
from devices.errors import DeviceUnavailableError
from devices.events import DeviceEvent
from devices.link import DeviceLink
from devices.session import DeviceSession
from devices.transport import SerialTransport, TcpTransport, Transport
from tests.devices.test_link_replug import Harness, state_changes
from tests.devices.test_simulate_echo import eventually

ROOT = Path(__file__).resolve().parents[2]
WITHIN = 10.0


@asynccontextmanager
async def simulator(kind: str, port: str, *options: str) -> AsyncIterator[Harness]:
    """Run ``python -m devices.simulate KIND --port PORT --control-port 0 OPTIONS``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devices.simulate",
        kind,
        "--port",
        port,
        "--control-port",
        "0",
        *options,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    harness = Harness(process, {})
    try:
        while "control" not in harness.endpoints:
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            words = line.decode().split()
            assert words, f"simulator {kind} exited before it was ready"
            harness.endpoints[words[0]] = words[1:]
        yield harness
    finally:
        await harness.unplug()


async def control(harness: Harness, line: str) -> str:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", int(harness.endpoints["control"][1])
    )
    writer.write(line.encode() + b"\n")
    answer = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return answer.decode().strip()


def make_link(
    name: str, session: DeviceSession, transport: Transport, events: list[DeviceEvent]
) -> DeviceLink:
    return DeviceLink(
        name=name,
        session=session,
        transport=transport,
        backoff=BackoffPolicy(initial=0.01, maximum=0.05, jitter=0.5),
        on_event=events.append,
    )


@asynccontextmanager
async def running(link: DeviceLink) -> AsyncIterator[DeviceLink]:
    async with link:
        task = asyncio.create_task(link.run(), name=f"device {link.name}")
        try:
            yield link
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def replug_serial(
    tmp_path: Path,
    kind: str,
    session: DeviceSession,
    use: Callable[[DeviceLink, Harness, int], Any],
) -> list[str]:
    """Serve ``kind`` on a pty behind a stable path; use, unplug, replug, use again.

    Returns:
        The link's state changes, taken while the replugged device still runs.
    """
    stable = tmp_path / f"usb-{kind}-if00-port0"
    events: list[DeviceEvent] = []
    link = make_link(kind, session, SerialTransport(str(stable), baudrate=9600), events)
    async with simulator(kind, str(stable)) as first, running(link):
        await asyncio.wait_for(link.wait_online(), WITHIN)
        await use(link, first, 1)
        await first.unplug()
        stable.unlink()  # udev removes the by-id link of an unplugged adapter
        await eventually(lambda: not link.state.online, within=WITHIN)
        with pytest.raises(DeviceUnavailableError, match="offline"):
            await link.command(session_probe(kind))
        async with simulator(kind, str(stable)) as second:
            await asyncio.wait_for(link.wait_online(), WITHIN)
            await use(link, second, 2)
            # taken before the second simulator goes away too
            return state_changes(events)
    raise AssertionError("unreachable")


def session_probe(kind: str) -> Any:
    return visca.PowerInquiry() if kind == "visca" else pelco.PresetGoto(1)


async def test_visca_simulator_process_killed_and_restarted_on_pty(tmp_path: Path) -> None:
    async def use(link: DeviceLink, harness: Harness, round_: int) -> None:
        assert await asyncio.wait_for(link.command(visca.PowerInquiry()), WITHIN) == (
            visca.PowerState(on=True)
        )
        assert await asyncio.wait_for(link.command(visca.PresetSet(round_)), WITHIN) is None

    session = visca.ViscaSession(address=1, ack_timeout=0.5, inquiry_timeout=0.5)
    changes = await replug_serial(tmp_path, "visca", session, use)
    assert changes == ["online", "offline:", "online"]


async def test_pelco_simulator_process_killed_and_restarted_on_pty(tmp_path: Path) -> None:
    async def use(link: DeviceLink, harness: Harness, round_: int) -> None:
        await asyncio.wait_for(link.command(pelco.PresetSet(round_ + 2)), WITHIN)
        await asyncio.wait_for(link.command(pelco.PresetGoto(round_ + 2)), WITHIN)
        # the restarted process is a fresh camera: it holds only this round's preset
        expected = f"OK powered=on presets={round_ + 2} applied=2 rejected=0"
        for _ in range(100):
            if (answer := await control(harness, "state")) == expected:
                break
            await asyncio.sleep(0.01)
        assert answer == expected

    changes = await replug_serial(tmp_path, "pelco-d", pelco.PelcoDSession(address=1), use)
    assert changes == ["online", "offline:", "online"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_extron_simulator_process_killed_and_restarted_on_tcp() -> None:
    port = free_port()
    events: list[DeviceEvent] = []
    session = extron.ExtronSession(reply_timeout=0.5)
    link = make_link("matrix", session, TcpTransport("127.0.0.1", port), events)
    async with simulator("extron-sis", str(port)) as first, running(link):
        await asyncio.wait_for(link.wait_online(), WITHIN)
        reply = await asyncio.wait_for(link.command(extron.Tie(2, 3)), WITHIN)
        assert (reply.input, reply.output) == (2, 3)
        await first.unplug()
        await eventually(lambda: not link.state.online, within=WITHIN)
        with pytest.raises(DeviceUnavailableError, match="offline"):
            await link.command(extron.ReadTie(3))
        async with simulator("extron-sis", str(port)):
            await asyncio.wait_for(link.wait_online(), WITHIN)
            assert await asyncio.wait_for(link.command(extron.ReadTie(3)), WITHIN) == 0
            reply = await asyncio.wait_for(link.command(extron.Tie(1, 3)), WITHIN)
            assert (reply.input, reply.output) == (1, 3)
            assert await asyncio.wait_for(link.command(extron.ReadTie(3)), WITHIN) == 1
            assert state_changes(events) == ["online", "offline:", "online"]
