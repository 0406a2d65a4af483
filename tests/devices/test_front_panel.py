"""Someone at the device: front-panel actions triggered through a running simulator's
control port reach the agent's link as unsolicited device events.

The simulators run as real processes (``python -m devices.simulate``), the
links are the agent's own (:func:`courtroom_agent.equipment.build_link`): the
Extron matrix on a pty (RS-232), the HyperDeck on loopback TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from courtroom_agent.config import DeviceConfig
from courtroom_agent.equipment import build_link
from devices.events import DeviceEvent, Direction
from devices.extron import ReadTie
from devices.hyperdeck import Command, CommandName, TransportInfo, TransportStatus
from devices.link import DeviceLink

ROOT = Path(__file__).resolve().parents[2]
WITHIN = 5.0


@contextlib.asynccontextmanager
async def simulator(*argv: str) -> AsyncIterator[tuple[dict[str, list[str]], Control]]:
    """Run ``courtroom simulate ARGV --control-port 0``; yield its ready lines and control."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devices.simulate",
        *argv,
        "--control-port=0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        ready: dict[str, list[str]] = {}
        async with asyncio.timeout(20):
            while "control" not in ready:
                words = (await process.stdout.readline()).decode().split()
                assert words, "simulator exited before it was ready"
                ready[words[0]] = words[1:]
        async with Control(int(ready["control"][1])) as control:
            yield ready, control
    finally:
        process.terminate()
        assert await process.wait() == 0


class Control:
    """The simulator's line-based control port."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def __aenter__(self) -> Control:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._writer.close()

    async def ask(self, line: str) -> str:
        self._writer.write(line.encode() + b"\n")
        return (await asyncio.wait_for(self._reader.readline(), WITHIN)).decode().strip()


@contextlib.asynccontextmanager
async def running(device: DeviceConfig) -> AsyncIterator[tuple[DeviceLink, list[DeviceEvent]]]:
    events: list[DeviceEvent] = []
    async with build_link(device, on_event=events.append) as link:
        task = asyncio.create_task(link.run(), name=f"device {device.name}")
        try:
            await asyncio.wait_for(link.wait_online(), WITHIN)
            yield link, events
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def unsolicited(events: list[DeviceEvent], match: Callable[[str], bool]) -> DeviceEvent:
    async with asyncio.timeout(WITHIN):
        while True:
            for event in events:
                if event.direction is Direction.UNSOLICITED and match(event.meaning):
                    return event
            await asyncio.sleep(0.01)


async def test_front_panel_tie_reaches_the_link_as_an_unsolicited_device_event(
    tmp_path: Path,
) -> None:
    stable = tmp_path / "usb-matrix"
    argv = ("extron-sis", f"--port={stable}", "--option=inputs=4", "--option=outputs=4")
    async with simulator(*argv) as (_, control):
        config = DeviceConfig(name="matrix", kind="extron-sis", port=str(stable))
        async with running(config) as (link, events):
            # The line is up and answers before anyone touches the panel.
            assert await asyncio.wait_for(link.command(ReadTie(output=4)), WITHIN) == 0
            assert (await control.ask("tie 2 4 all")).startswith("OK front panel tie 2*4 All")
            tie = await unsolicited(events, lambda m: m.startswith("TieReply("))
            assert tie.meaning.startswith("TieReply(output=4, input=2, layer=ALL")
            assert tie.raw == b"Out04 In02 All\r\n"
            assert tie.raw_hex == b"Out04 In02 All\r\n".hex()
            assert (await control.ask("reconfig")) == "OK reconfig"
            await unsolicited(events, lambda m: m.startswith("Reconfig"))
            # The agent's view follows the panel: the output now shows input 2,
            # and neither message was taken for a fault.
            assert await asyncio.wait_for(link.command(ReadTie(output=4)), WITHIN) == 2
            assert not [e for e in events if e.direction is Direction.FAULT]
            assert link.state.online and link.state.last_error is None
            assert (await control.ask("tie 9 4")).startswith("ERR no tie 9*4")


async def test_recorder_front_panel_sends_only_the_changed_transport_and_slot_fields(
    tmp_path: Path,
) -> None:
    argv = ("hyperdeck", "--port=0", f"--option=directory={tmp_path}")
    async with simulator(*argv) as (ready, control):
        config = DeviceConfig(
            name="recorder", kind="hyperdeck", host="127.0.0.1", port=int(ready["tcp"][1])
        )
        async with running(config) as (link, events):
            # The agent's session subscribes on open; wait until the deck has said ok.
            info = await asyncio.wait_for(
                link.command(Command.simple(CommandName.TRANSPORT_INFO)), WITHIN
            )
            assert isinstance(info, TransportInfo)
            assert (await control.ask("transport record Panel")).startswith("OK recording Panel-")
            started = await unsolicited(events, lambda m: "status=RECORD" in m)
            assert started.raw.startswith(b"508 transport info:\r\nstatus: record\r\n")
            assert b"video format" not in started.raw  # unchanged, so not sent
            assert (await control.ask("transport stopped")) == "OK stopped"
            stopped = await unsolicited(events, lambda m: "status=STOPPED" in m)
            assert stopped.meaning.startswith("TransportChange(status=STOPPED, slot_id=None")
            assert b"clip id" not in stopped.raw and b"slot id" not in stopped.raw
            assert (await control.ask("fault no-disk on")).startswith("OK ")
            slot = await unsolicited(events, lambda m: m.startswith("SlotChange("))
            assert slot.meaning == (
                "SlotChange(slot_id=1, status=EMPTY, volume_name=, recording_time=0)"
            )
            pulled = b"502 slot info:\r\nslot id: 1\r\nstatus: empty\r\nvolume name:\r\n"
            assert slot.raw_hex == (pulled + b"recording time: 0\r\n\r\n").hex()
            info = await asyncio.wait_for(
                link.command(Command.simple(CommandName.TRANSPORT_INFO)), WITHIN
            )
            assert isinstance(info, TransportInfo) and info.status is TransportStatus.STOPPED
            assert not [e for e in events if e.direction is Direction.FAULT]
            assert (await control.ask("transport fly")).startswith("ERR unknown HyperDeck")
    (clip,) = await asyncio.to_thread(os.listdir, tmp_path)  # the deck really recorded
    assert clip.startswith("Panel-")
