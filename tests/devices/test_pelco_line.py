"""Pelco-D through a DeviceLink over a real pty to the simulated camera.

Pelco-D never answers, so each check reads the camera's own state: what it
applied, its presets. A command completes once its frame is written and
drained; before that fix ``link.command`` waited forever for an event nobody
read. Line faults only shape replies, so they are exercised with the
camera's ``echo`` fault on (it sends applied frames back, as a half-duplex
RS-485 adapter hears its own transmission).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from courtroom_core.backoff import BackoffPolicy
from devices.events import DeviceEvent, Direction
from devices.link import DeviceLink
from devices.pelco import (
    CameraPower,
    PelcoDSession,
    PresetClear,
    PresetGoto,
    PresetSet,
    VirtualPelcoCamera,
)
from devices.simulate import LineFaults, Simulator
from devices.transport import SerialTransport
from tests.devices.test_simulate_echo import eventually

#: No Pelco-D command may take longer than this through the link (it used to hang).
WITHIN = 5.0


@dataclass
class PelcoLine:
    simulator: Simulator
    camera: VirtualPelcoCamera
    link: DeviceLink
    events: list[DeviceEvent]

    async def command(self, command: object) -> object:
        return await asyncio.wait_for(self.link.command(command), WITHIN)

    def directions(self) -> list[Direction]:
        return [e.direction for e in self.events]


@contextlib.asynccontextmanager
async def pelco_line(tmp_path: Path) -> AsyncIterator[PelcoLine]:
    camera = VirtualPelcoCamera(address=1)
    stable = tmp_path / "usb-pelco-if00-port0"
    async with Simulator(camera, pty_link=stable, poll_interval=0.005) as simulator:
        sim_task = asyncio.create_task(simulator.run(), name="pelco simulator")
        events: list[DeviceEvent] = []
        link = DeviceLink(
            name="gallery-camera",
            session=PelcoDSession(address=1, device="gallery-camera"),
            transport=SerialTransport(str(stable), baudrate=9600),
            on_event=events.append,
            backoff=BackoffPolicy(initial=0.01, maximum=0.05, jitter=0.5),
            stable_after=0.0,
        )
        async with link:
            link_task = asyncio.create_task(link.run(), name="device gallery-camera")
            await asyncio.wait_for(link.wait_online(), WITHIN)
            try:
                yield PelcoLine(simulator, camera, link, events)
            finally:
                for task in (link_task, sim_task):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def test_pelco_link_preset_set_goto_clear_complete_and_apply(tmp_path: Path) -> None:
    async with pelco_line(tmp_path) as ln:
        assert await ln.command(PresetSet(3)) is None
        assert await ln.command(PresetGoto(3)) is None
        await eventually(lambda: ln.camera.applied == [PresetSet(3), PresetGoto(3)])
        assert set(ln.camera.presets) == {3}
        assert await ln.command(PresetClear(3)) is None
        await eventually(lambda: ln.camera.presets == {})
        sent = [e for e in ln.events if e.direction is Direction.TX]
        assert [e.raw_hex.replace(" ", "").upper() for e in sent][:2] == [
            "FF010003000307",
            "FF01000700030B",
        ]
        assert ln.directions().count(Direction.RX) == 3  # one "ok" per completed command
        assert ln.link.state.last_success is not None


async def test_pelco_link_echo_with_garbage_is_fault_and_commands_still_apply(
    tmp_path: Path,
) -> None:
    async with pelco_line(tmp_path) as ln:
        ln.simulator.set_fault("echo", True)
        ln.simulator.set_line_faults(LineFaults(garbage=1.0))
        await ln.command(PresetSet(5))
        await eventually(lambda: Direction.FAULT in ln.directions())
        await eventually(lambda: Direction.UNSOLICITED in ln.directions())
        await ln.command(PresetGoto(5))
        await eventually(lambda: ln.camera.applied == [PresetSet(5), PresetGoto(5)])
        assert ln.camera.rejected == []  # garbage went to the controller, not the camera


async def test_pelco_link_echo_dropped_or_slow_does_not_delay_completion(
    tmp_path: Path,
) -> None:
    async with pelco_line(tmp_path) as ln:
        ln.simulator.set_fault("echo", True)
        ln.simulator.set_line_faults(LineFaults(drop=1.0))
        await ln.command(CameraPower(on=False))
        await eventually(lambda: not ln.camera.powered)
        assert Direction.UNSOLICITED not in ln.directions()
        ln.simulator.set_line_faults(LineFaults(slow_ms=2000))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await ln.command(CameraPower(on=True))
        assert loop.time() - started < 1.0  # nothing waits for the (slow) echo
        await eventually(lambda: ln.camera.powered)


async def test_pelco_link_disconnect_reopens_and_commands_apply_again(tmp_path: Path) -> None:
    async with pelco_line(tmp_path) as ln:
        await ln.command(PresetSet(1))
        # "written" is the kernel's buffer, not the camera: a frame still in
        # the old pty when it goes away is lost, as on a real unplug
        await eventually(lambda: set(ln.camera.presets) == {1})
        ln.simulator.disconnect()  # the pty is replaced, as a re-enumerated USB adapter
        await eventually(
            lambda: (
                [e.meaning.split()[0] for e in ln.events if e.direction is Direction.STATE]
                == ["online", "offline:", "online"]
            ),
            within=WITHIN,
        )
        await ln.command(PresetSet(2))
        await eventually(lambda: set(ln.camera.presets) == {1, 2})
