"""Each protocol session over a real line against its simulator, with every line fault.

VISCA and Extron SIS (RS-232) over a real pty pair (behind a stable symlink,
as /dev/serial/by-id); Extron SIS (Telnet), PJLink and HyperDeck over
loopback TCP. Pelco-D, which never replies, has its own line tests in
test_pelco_line.py. The
simulator adds slow replies, dropped replies, garbage bytes and disconnects;
the link must time out, resynchronise and reconnect, and name the errors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devices import extron, hyperdeck, pjlink, visca
from devices.errors import DeviceTimeoutError
from devices.events import DeviceEvent, Direction
from devices.link import DeviceLink
from devices.session import DeviceSession
from devices.simulate import LineFaults, Simulator, load_device
from devices.transport import SerialTransport, TcpTransport, Transport


@dataclass(frozen=True)
class Kind:
    name: str  # the simulator's kind, then "@pty" when a TCP device is served on a serial line
    options: Callable[[Path], dict[str, Any]]
    session: Callable[[], DeviceSession]
    command: Any
    check: Callable[[Any], bool]
    serial: bool = False


KINDS = [
    Kind(
        "visca",
        lambda tmp: {},
        lambda: visca.ViscaSession(ack_timeout=0.3, inquiry_timeout=0.3),
        visca.PowerInquiry(),
        lambda reply: reply == visca.PowerState(on=True),
        serial=True,
    ),
    Kind(
        "extron-sis",
        lambda tmp: {},
        lambda: extron.ExtronSession(reply_timeout=0.3),
        extron.Tie(2, 3),
        lambda reply: reply.output == 3 and reply.input == 2,
    ),
    Kind(
        "extron-sis@pty",
        lambda tmp: {},
        lambda: extron.ExtronSession(reply_timeout=0.3),
        extron.Tie(4, 1, extron.TieLayer.VIDEO),
        lambda reply: (reply.output, reply.input, reply.layer) == (1, 4, extron.TieLayer.VIDEO),
        serial=True,
    ),
    Kind(
        "pjlink",
        lambda tmp: {"password": "s3cret"},
        lambda: pjlink.PJLinkSession(password="s3cret", reply_timeout=0.3),
        pjlink.LampQuery(),
        lambda reply: isinstance(reply, tuple) and len(reply) >= 1,
    ),
    Kind(
        "hyperdeck",
        lambda tmp: {"directory": str(tmp)},
        lambda: hyperdeck.HyperDeckSession(timeout=0.3),
        hyperdeck.Command.simple(hyperdeck.CommandName.DEVICE_INFO),
        lambda reply: isinstance(reply, hyperdeck.DeviceInfo),
    ),
]


@dataclass
class Line:
    simulator: Simulator
    link: DeviceLink
    events: list[DeviceEvent]


@contextlib.asynccontextmanager
async def line(kind: Kind, tmp_path: Path) -> AsyncIterator[Line]:
    device, frame_end = load_device(kind.name.partition("@")[0], kind.options(tmp_path))
    symlink = tmp_path / "ttyUSB-by-id"
    simulator = Simulator(
        device,
        pty_link=symlink if kind.serial else None,
        tcp_port=None if kind.serial else 0,
        garbage_end=frame_end,
    )
    async with simulator:
        sim_task = asyncio.create_task(simulator.run())
        transport: Transport
        if kind.serial:
            transport = SerialTransport(str(symlink))
        else:
            assert simulator.tcp_port is not None
            transport = TcpTransport("127.0.0.1", simulator.tcp_port)
        events: list[DeviceEvent] = []
        link = DeviceLink(
            name=kind.name,
            session=kind.session(),
            transport=transport,
            on_event=events.append,
            stable_after=0.0,
        )
        async with link:
            link_task = asyncio.create_task(link.run())
            await asyncio.wait_for(link.wait_online(), 10)
            try:
                yield Line(simulator, link, events)
            finally:
                link_task.cancel()
                sim_task.cancel()
                for task in (link_task, sim_task):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


@pytest.fixture(params=KINDS, ids=[k.name for k in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


async def test_line_normal_command_and_audit_trail(kind: Kind, tmp_path: Path) -> None:
    async with line(kind, tmp_path) as ln:
        reply = await ln.link.command(kind.command)
        assert kind.check(reply), reply
        directions = [e.direction for e in ln.events]
        assert Direction.TX in directions and Direction.RX in directions
        sent = next(e for e in ln.events if e.direction is Direction.TX)
        assert sent.raw_hex and sent.device == kind.name
        assert ln.link.state.last_success is not None


async def test_line_garbage_is_a_fault_and_command_still_completes(
    kind: Kind, tmp_path: Path
) -> None:
    async with line(kind, tmp_path) as ln:
        ln.simulator.set_line_faults(LineFaults(garbage=1.0))
        reply = await ln.link.command(kind.command, retries=2)
        assert kind.check(reply)
        assert any(e.direction is Direction.FAULT for e in ln.events)


async def test_line_dropped_replies_time_out_then_recover(kind: Kind, tmp_path: Path) -> None:
    async with line(kind, tmp_path) as ln:
        ln.simulator.set_line_faults(LineFaults(drop=1.0))
        with pytest.raises(DeviceTimeoutError):
            await ln.link.command(kind.command, retries=0)
        ln.simulator.set_line_faults(LineFaults())
        reply = await ln.link.command(kind.command, retries=3)
        assert kind.check(reply)


async def test_line_slow_replies_within_deadline_succeed(kind: Kind, tmp_path: Path) -> None:
    async with line(kind, tmp_path) as ln:
        ln.simulator.set_line_faults(LineFaults(slow_ms=100))
        assert kind.check(await ln.link.command(kind.command))


async def test_line_disconnect_reconnects_and_state_survives(kind: Kind, tmp_path: Path) -> None:
    async with line(kind, tmp_path) as ln:
        assert kind.check(await ln.link.command(kind.command))
        ln.simulator.disconnect()
        for _ in range(200):
            states = [e.meaning for e in ln.events if e.direction is Direction.STATE]
            if len(states) >= 3:  # online, offline, online again
                break
            await asyncio.sleep(0.02)
        assert len(states) >= 3, states
        reply = await ln.link.command(kind.command, retries=3)
        assert kind.check(reply)
