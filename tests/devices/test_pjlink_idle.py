"""A PJLink display hanging up on an idle connection is not an outage.

Real displays close a connection after ~30 s without a command; the
simulator does the same after ``idle_close`` seconds (scaled down here). The
link reopens quietly: no offline/online events, the device stays online, and
commands keep working. A hang-up sooner than expected, or with a command
waiting, is still an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from courtroom_agent.config import DeviceConfig
from courtroom_agent.equipment import build_link
from courtroom_core.backoff import BackoffPolicy
from devices import pjlink
from devices.errors import DeviceUnavailableError
from devices.events import DeviceEvent, Direction
from devices.kinds import KINDS
from devices.link import DeviceLink
from devices.simulate import LineFaults, Simulator
from devices.transport import TcpTransport
from tests.devices.test_simulate_echo import eventually

IDLE = 0.15  # the display hangs up after this much silence (30 s in the field)
WITHIN = 5.0


@dataclass
class Display:
    simulator: Simulator
    link: DeviceLink
    events: list[DeviceEvent]

    def states(self) -> list[str]:
        return [e.meaning.split()[0] for e in self.events if e.direction is Direction.STATE]


@contextlib.asynccontextmanager
async def display(*, idle_close_after: float | None) -> AsyncIterator[Display]:
    device = pjlink.VirtualDisplay(password="s3cret", idle_close=IDLE)
    async with Simulator(device, tcp_port=0, poll_interval=0.005) as simulator:
        assert simulator.idle_close == IDLE and simulator.tcp_port is not None
        sim_task = asyncio.create_task(simulator.run(), name="display simulator")
        events: list[DeviceEvent] = []
        link = DeviceLink(
            name="display",
            session=pjlink.PJLinkSession(password="s3cret", reply_timeout=0.5),
            transport=TcpTransport("127.0.0.1", simulator.tcp_port),
            on_event=events.append,
            backoff=BackoffPolicy(initial=0.01, maximum=0.05, jitter=0.5),
            idle_close_after=idle_close_after,
        )
        async with link:
            link_task = asyncio.create_task(link.run(), name="device display")
            await asyncio.wait_for(link.wait_online(), WITHIN)
            try:
                yield Display(simulator, link, events)
            finally:
                for task in (link_task, sim_task):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def test_pjlink_idle_hang_ups_reopen_quietly_and_commands_keep_working() -> None:
    async with display(idle_close_after=IDLE / 2) as d:
        assert await d.link.command(pjlink.PowerQuery()) is pjlink.PowerState.OFF
        await eventually(lambda: d.simulator.connections >= 4, within=WITHIN)  # 3 hang-ups
        assert d.states() == ["online"]  # no offline, no second online
        assert d.link.state.online and d.link.state.failures == 0
        assert d.link.state.last_error is None
        for _ in range(4):  # some of these land while the link reopens
            await asyncio.sleep(IDLE)
            assert await d.link.command(pjlink.PowerQuery()) is pjlink.PowerState.OFF
        assert d.states() == ["online"]


async def test_pjlink_hang_up_sooner_than_an_idle_timeout_is_an_outage() -> None:
    async with display(idle_close_after=10.0) as d:
        await eventually(lambda: d.states()[:3] == ["online", "offline:", "online"], within=WITHIN)
        assert "closed by the device" in (d.link.state.last_error or "")


async def test_pjlink_hang_up_while_the_display_talks_is_an_outage() -> None:
    async with display(idle_close_after=IDLE / 2) as d:
        assert await d.link.command(pjlink.PowerQuery()) is pjlink.PowerState.OFF
        d.simulator.disconnect()  # right after a reply: not its idle timer
        await eventually(lambda: d.states()[:3] == ["online", "offline:", "online"], within=WITHIN)


async def test_pjlink_command_the_display_ignores_fails_named_without_an_outage() -> None:
    async with display(idle_close_after=IDLE / 2) as d:
        d.simulator.set_line_faults(LineFaults(drop=1.0))  # no reply: it hangs up (IDLE < 0.5 s)
        with pytest.raises(DeviceUnavailableError, match="display: PJLink connection lost"):
            await asyncio.wait_for(d.link.command(pjlink.PowerQuery(), retries=0), WITHIN)
        sent = [e for e in d.events if e.direction is Direction.TX and "PowerQuery" in e.meaning]
        assert len(sent) == 2  # once more after the first hang-up, then given up
        d.simulator.set_line_faults(LineFaults())
        assert await d.link.command(pjlink.PowerQuery()) is pjlink.PowerState.OFF
        assert d.states() == ["online"]


def test_agent_pjlink_links_treat_idle_hang_ups_as_normal() -> None:
    display_config = DeviceConfig(name="display", kind="pjlink", host="10.0.0.7", port=4352)
    matrix_config = DeviceConfig(name="matrix", kind="extron-sis", host="10.0.0.8", port=23)
    assert (
        build_link(display_config)._idle_close_after == KINDS["pjlink"].transport.idle_close_after
    )
    assert build_link(matrix_config)._idle_close_after is None
