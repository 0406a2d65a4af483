"""Confirmed actions (devices.actions) against the simulators over real lines.

Extron, PJLink and HyperDeck are served on loopback TCP, VISCA and Pelco-D
on pty pairs, each by the simulator harness in this process; the MQTT relay
sits on a real Mosquitto. Faults are switched through the simulator's control
port, as the demo and the end-to-end tests do from another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from courtroom_core.backoff import BackoffPolicy
from devices.actions import ActionOutcome, MqttTarget, Outcome, perform, read_state
from devices.errors import LocalProtocolError
from devices.events import DeviceEvent, Direction
from devices.faults import SCENARIOS
from devices.kinds import KINDS
from devices.link import DeviceLink
from devices.simulate import Simulator, load_device
from devices.transport import SerialTransport, TcpTransport, Transport

if TYPE_CHECKING:
    from tests.fixtures.mosquitto import MosquittoBroker

pytestmark = pytest.mark.slow
WAIT = 10.0  # upper bound for anything that should take milliseconds
TIMEOUT = 0.3  # the devices' command timeout in these tests
FAST = BackoffPolicy(initial=0.05, maximum=0.2, jitter=0.0)


@dataclass
class Served:
    simulator: Simulator
    link: DeviceLink
    events: list[DeviceEvent]

    async def control(self, line: str) -> str:
        """Say ``line`` on the simulator's control port (as another process would)."""
        assert self.simulator.control_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", self.simulator.control_port)
        try:
            writer.write(line.encode() + b"\n")
            return (await reader.readline()).decode().strip()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def served(
    kind: str, tmp_path: Path, *, serial: bool = False, **options: Any
) -> AsyncIterator[Served]:
    device, frame_end = load_device(kind, options)
    symlink = tmp_path / f"{kind}-by-id"
    simulator = Simulator(
        device,
        pty_link=symlink if serial else None,
        tcp_port=None if serial else 0,
        control_port=0,
        garbage_end=frame_end,
    )
    async with simulator:
        sim_task = asyncio.create_task(simulator.run(), name=f"sim {kind}")
        transport: Transport
        if serial:
            transport = SerialTransport(str(symlink))
        else:
            assert simulator.tcp_port is not None
            transport = TcpTransport("127.0.0.1", simulator.tcp_port)
        spec = KINDS[kind]
        assert spec.session is not None
        events: list[DeviceEvent] = []
        link = DeviceLink(
            name=kind,
            session=spec.session(name=kind, address=1, timeout=TIMEOUT, password=None),
            transport=transport,
            on_event=events.append,
            retries=spec.retries,
            backoff=FAST,
            stable_after=0.0,
        )
        async with link:
            link_task = asyncio.create_task(link.run(), name=f"link {kind}")
            await asyncio.wait_for(link.wait_online(), WAIT)
            try:
                yield Served(simulator, link, events)
            finally:
                for task in (link_task, sim_task):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def eventually(predicate: Any, *, what: str) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110 - the simulators offer no event for it
            await asyncio.sleep(0.01)
    assert predicate(), what


def assert_timed(outcome: ActionOutcome) -> None:
    assert outcome.device_ms is not None and outcome.device_ms >= 0
    assert outcome.confirm_ms is not None and outcome.confirm_ms >= outcome.device_ms


# --- the table ---------------------------------------------------------------------


def test_kinds_every_state_change_says_how_it_is_confirmed() -> None:
    for spec in KINDS.values():
        for name, verb in spec.verbs.items():
            if name in ("status", "read"):
                assert verb.expect is None, (spec.name, name)
            else:
                assert verb.expect is not None and verb.expect.text, (spec.name, name)
                assert " · " in verb.expect.text  # zh · en
    assert all(v.expect and v.expect.unconfirmable for v in KINDS["pelco-d"].verbs.values())
    assert KINDS["pelco-d"].probe is None and KINDS["mqtt"].session is None


def test_kinds_match_config_and_simulator_tables() -> None:
    import typing

    from courtroom_agent.config import DeviceKind
    from devices.simulate import KINDS as SIMULATED

    assert set(typing.get_args(DeviceKind)) == set(KINDS)
    assert set(SIMULATED) == {k for k, s in KINDS.items() if s.simulator is not None}
    assert KINDS["pjlink"].transport.idle_close_after is not None
    assert KINDS["extron-sis"].transport.serial_or_tcp


async def test_perform_bad_verb_or_argument_names_it(tmp_path: Path) -> None:
    async with served("extron-sis", tmp_path) as s:
        with pytest.raises(LocalProtocolError, match="'zoom'"):
            await perform(s.link, KINDS["extron-sis"], "zoom", [], within=1.0)
        with pytest.raises(LocalProtocolError, match="tie 1 judge: unknown output 'judge'"):
            await perform(s.link, KINDS["extron-sis"], "tie", ["1", "judge"], within=1.0)
        with pytest.raises(LocalProtocolError, match="changes state"):
            await read_state(s.link, KINDS["extron-sis"], "tie", ["1", "2"], within=1.0)


# --- confirmed ---------------------------------------------------------------------


async def test_perform_hyperdeck_record_and_stop_confirmed(tmp_path: Path) -> None:
    spec = KINDS["hyperdeck"]
    async with served("hyperdeck", tmp_path, directory=tmp_path) as s:
        started = await perform(s.link, spec, "record", ["hearing-7"], within=2.0)
        assert started.outcome is Outcome.CONFIRMED, started.message
        assert "RECORD" in (started.observed or "")
        assert s.simulator.device.status.value == "record"  # type: ignore[attr-defined]
        assert_timed(started)
        assert started.message.startswith("已确认 confirmed: hyperdeck record hearing-7")
        stopped = await perform(s.link, spec, "stop", [], within=2.0)
        assert stopped.outcome is Outcome.CONFIRMED, stopped.message
        assert "STOPPED" in (stopped.observed or "")
        assert_timed(stopped)


async def test_perform_extron_tie_confirmed_by_its_reply_and_read_restores(
    tmp_path: Path,
) -> None:
    spec = KINDS["extron-sis"]
    names = {"inputs": {"doc-camera": 3}, "outputs": {"gallery": 4}}
    async with served("extron-sis", tmp_path) as s:
        before = await read_state(s.link, spec, "read", ["gallery"], within=1.0, **names)
        assert before.outcome is Outcome.CONFIRMED and isinstance(before.value, int)
        tie = await perform(s.link, spec, "tie", ["doc-camera", "gallery"], within=1.0, **names)
        assert tie.outcome is Outcome.CONFIRMED, tie.message
        assert tie.confirm_ms == tie.device_ms  # the reply itself is the confirmation
        assert "Out04 In03 All" in " ".join(e.raw.decode() for e in s.events if e.raw)
        now = await read_state(s.link, spec, "read", ["gallery"], within=1.0, **names)
        assert now.value == 3
        restore = ["untie", ["gallery"]] if before.value == 0 else ["tie", [str(before.value), "4"]]
        back = await perform(s.link, spec, restore[0], restore[1], within=1.0, **names)  # type: ignore[arg-type]
        assert back.outcome is Outcome.CONFIRMED
        again = await read_state(s.link, spec, "read", ["4"], within=1.0)
        assert again.value == before.value


async def test_perform_pjlink_power_and_input_confirmed_by_inquiry(tmp_path: Path) -> None:
    spec = KINDS["pjlink"]
    async with served("pjlink", tmp_path, warm_up=0.2, cool_down=0.2) as s:
        on = await perform(s.link, spec, "power", ["on"], within=3.0)
        assert on.outcome is Outcome.CONFIRMED, on.message
        assert on.observed == "ON"
        assert on.confirm_ms is not None and on.confirm_ms >= 150  # waited out the warm-up
        source = await perform(s.link, spec, "input", ["32"], within=1.0)
        assert source.outcome is Outcome.CONFIRMED, source.message
        assert_timed(source)


async def test_perform_visca_preset_recall_confirmed_by_completion(tmp_path: Path) -> None:
    spec = KINDS["visca"]
    async with served("visca", tmp_path, serial=True) as s:
        await perform(s.link, spec, "preset-set", ["2"], within=2.0)
        recalled = await perform(s.link, spec, "preset-recall", ["2"], within=2.0)
        assert recalled.outcome is Outcome.CONFIRMED, recalled.message
        assert_timed(recalled)


async def test_perform_pelco_d_sent_but_unconfirmable(tmp_path: Path) -> None:
    spec = KINDS["pelco-d"]
    async with served("pelco-d", tmp_path, serial=True) as s:
        outcome = await perform(s.link, spec, "preset-recall", ["5"], within=1.0)
        assert outcome.outcome is Outcome.UNCONFIRMABLE
        assert not outcome.ok and outcome.confirm_ms is None
        assert "unconfirmable" in outcome.message and "无法确认" in outcome.message
        await eventually(
            lambda: "applied=1" in s.simulator.device.state_text(),  # type: ignore[attr-defined]
            what="the camera took the command",
        )


async def test_perform_mqtt_power_confirmed_by_state(mosquitto: MosquittoBroker) -> None:
    from devices.mqtt import MqttDeviceLink, MqttDeviceSimulator, SimulatorKind

    room = f"actions-{time.monotonic_ns()}"
    sim = MqttDeviceSimulator(
        host=mosquitto.host,
        port=mosquitto.port,
        room=room,
        name="lights",
        kind=SimulatorKind.RELAY,
        backoff=FAST,
    )
    link = MqttDeviceLink(
        host=mosquitto.host,
        port=mosquitto.port,
        room=room,
        devices=["lights"],
        client_id=f"agent-{room}",
        backoff=FAST,
    )
    sim_task = asyncio.create_task(sim.run(), name="sim lights")
    try:
        async with link:
            await asyncio.wait_for(link.wait_connected(), WAIT)
            await eventually(
                lambda: link.status("lights").availability is not None, what="relay online"
            )
            target = MqttTarget(link, "lights")
            on = await perform(target, KINDS["mqtt"], "power", ["on"], within=2.0)
            assert on.outcome is Outcome.CONFIRMED, on.message
            assert on.value.values["power"] == "on" and "power" in on.reply
            assert_timed(on)
            toggles = [
                await perform(target, KINDS["mqtt"], "power", [state], within=2.0)
                for state in ("off", "on") * 5
            ]
            assert all(o.ok for o in toggles)
            device = statistics.median(o.device_ms or 0.0 for o in toggles)
            print(f"mqtt power: device_ms median {device:.2f}, overhead median 0 (state = reply)")
            bad = await perform(target, KINDS["mqtt"], "set", ["dance"], within=2.0)
            assert bad.outcome is Outcome.FAILED and "dance" in bad.message
    finally:
        sim_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sim_task


# --- unconfirmed and failed --------------------------------------------------------


async def test_perform_pjlink_warming_up_past_within_is_unconfirmed(tmp_path: Path) -> None:
    spec = KINDS["pjlink"]
    async with served("pjlink", tmp_path, warm_up=30.0) as s:
        began = time.monotonic()
        outcome = await perform(s.link, spec, "power", ["on"], within=0.3)
        took = time.monotonic() - began
        assert outcome.outcome is Outcome.UNCONFIRMED, outcome.message
        assert outcome.observed == "WARM_UP" and "WARM_UP" in outcome.message
        assert outcome.device_ms is not None and outcome.confirm_ms is None
        assert 0.3 <= took < 0.3 + spec.reply_timeout


async def test_perform_recorder_disk_full_stops_recording_then_fails(tmp_path: Path) -> None:
    spec = KINDS["hyperdeck"]
    async with served("hyperdeck", tmp_path, directory=tmp_path) as s:
        assert (await perform(s.link, spec, "record", [], within=2.0)).ok
        for line in SCENARIOS["recorder:disk-full"]:
            assert (await s.control(line)).startswith("OK")
        # The deck stops on its own and says so (508 transport info, status stopped).
        await eventually(
            lambda: any(
                e.direction is Direction.UNSOLICITED and "STOPPED" in e.meaning for e in s.events
            ),
            what="the deck's 508 notification",
        )
        status = await read_state(s.link, spec, "status", [], within=1.0)
        assert status.value.status.value == "stopped"
        began = time.monotonic()
        again = await perform(s.link, spec, "record", [], within=1.0)
        assert again.outcome is Outcome.FAILED
        assert "104 disk full" in again.message and again.error is not None
        assert again.attempts == 1  # record is never repeated blindly
        assert time.monotonic() - began < 1.0 + spec.reply_timeout


async def test_perform_matrix_dropping_replies_fails_bounded(tmp_path: Path) -> None:
    spec = KINDS["extron-sis"]
    async with served("extron-sis", tmp_path) as s:
        for line in SCENARIOS["matrix:drop"]:
            assert (await s.control(line)).startswith("OK")
        began = time.monotonic()
        outcome = await perform(
            s.link, spec, "tie", ["1", "2"], within=0.5, command_timeout=TIMEOUT
        )
        took = time.monotonic() - began
        assert outcome.outcome is Outcome.FAILED and "no Extron reply" in outcome.message
        assert outcome.attempts == 2  # a tie is retried once after a timeout
        assert took < 0.5 + TIMEOUT + 0.2
        assert (await s.control("clear")).startswith("OK")
        assert (await perform(s.link, spec, "tie", ["1", "2"], within=1.0)).ok


async def test_perform_display_unplugged_fails_at_once_until_replugged(tmp_path: Path) -> None:
    spec = KINDS["pjlink"]
    async with served("pjlink", tmp_path, warm_up=0.0) as s:
        port = s.simulator.tcp_port
        for line in SCENARIOS["display:unplug"]:
            assert "unplugged" in await s.control(line)
        await eventually(lambda: not s.link.state.online, what="the link saw the cable go")
        with pytest.raises(OSError):  # refused, like a pulled cable's dead port
            await asyncio.open_connection("127.0.0.1", port)
        began = time.monotonic()
        outcome = await perform(s.link, spec, "power", ["on"], within=1.0)
        assert outcome.outcome is Outcome.FAILED and "offline" in outcome.message
        assert time.monotonic() - began < 0.5
        assert "unplugged" not in await s.control("plug")
        await asyncio.wait_for(s.link.wait_online(), WAIT)
        assert (await perform(s.link, spec, "power", ["on"], within=2.0)).ok


# --- figures -----------------------------------------------------------------------


async def test_perform_timing_device_vs_overhead(tmp_path: Path) -> None:
    """Median device time and our overhead per confirmed action (printed for the report)."""
    runs = 15
    figures: dict[str, list[ActionOutcome]] = {}
    async with served("extron-sis", tmp_path) as m:
        for i in range(runs):
            out = await perform(
                m.link, KINDS["extron-sis"], "tie", [str(i % 4 + 1), "2"], within=1.0
            )
            figures.setdefault("extron tie", []).append(out)
    async with served("hyperdeck", tmp_path, directory=tmp_path) as r:
        for _ in range(runs):
            figures.setdefault("hyperdeck record", []).append(
                await perform(r.link, KINDS["hyperdeck"], "record", [], within=2.0)
            )
            figures.setdefault("hyperdeck stop", []).append(
                await perform(r.link, KINDS["hyperdeck"], "stop", [], within=2.0)
            )
    async with served("pjlink", tmp_path, warm_up=0.0) as d:
        await perform(d.link, KINDS["pjlink"], "power", ["on"], within=2.0)
        for i in range(runs):
            figures.setdefault("pjlink input", []).append(
                await perform(
                    d.link, KINDS["pjlink"], "input", ["31" if i % 2 else "32"], within=1.0
                )
            )
    for name, outcomes in figures.items():
        assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok]
        device = statistics.median(o.device_ms or 0.0 for o in outcomes)
        overhead = statistics.median(o.overhead_ms or 0.0 for o in outcomes)
        print(f"{name}: device_ms median {device:.2f}, overhead median {overhead:.2f}")
        assert overhead < 100.0


def test_devices_kinds_cli_lists_each_verb_and_its_confirmation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from courtroom_agent.cli import main
    from courtroom_agent.devices_cli import kinds_table

    rows = kinds_table()
    assert len(rows) == sum(len(spec.verbs) for spec in KINDS.values())
    pelco = [r for r in rows if r[0] == "pelco-d"]
    assert pelco and all("unconfirmable" in r[4] for r in pelco)
    assert main(["devices", "kinds"]) == 0
    out = capsys.readouterr().out
    assert "hyperdeck" in out and "preset-recall N" in out


async def test_simulator_unplug_on_a_pty_removes_the_port_until_plugged(tmp_path: Path) -> None:
    async with served("visca", tmp_path, serial=True) as s:
        link_path = tmp_path / "visca-by-id"
        assert link_path.is_symlink()
        assert "unplugged" in await s.control("unplug")
        assert not link_path.exists()
        await eventually(lambda: not s.link.state.online, what="the link saw the adapter go")
        failed = await perform(s.link, KINDS["visca"], "preset-recall", ["1"], within=0.5)
        assert failed.outcome is Outcome.FAILED
        assert "unplugged" not in await s.control("clear")
        assert link_path.is_symlink()
        await asyncio.wait_for(s.link.wait_online(), WAIT)
        assert (await perform(s.link, KINDS["visca"], "power", ["on"], within=2.0)).ok
