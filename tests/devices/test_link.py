"""DeviceLink over loopback TCP and a real pty against the serving harness."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from courtroom_core.backoff import BackoffPolicy
from devices.errors import (
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
)
from devices.events import DeviceEvent, Direction
from devices.link import DeviceLink
from devices.simulate import LineFaults, Simulator
from devices.transport import SerialTransport, TcpTransport, Transport
from tests.devices.test_simulate_echo import (
    GREETING,
    UNIT,
    Announce,
    Count,
    EchoDevice,
    EchoSession,
    Fail,
    Ping,
    eventually,
    running,
)

FAST = BackoffPolicy(initial=0.01, maximum=0.05, jitter=0.0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(EchoDevice(), tcp_port=0, rng=random.Random(7)) as simulator:
        task = asyncio.create_task(simulator.run(), name="simulator")
        yield simulator
        task.cancel()


def make_link(
    transport: Transport, events: list[DeviceEvent] | None = None, **options: object
) -> DeviceLink:
    timeout = options.pop("timeout", 2 * UNIT)
    assert isinstance(timeout, float)
    return DeviceLink(
        name="echo",
        session=EchoSession(timeout=timeout),
        transport=transport,
        backoff=FAST,
        on_event=events.append if events is not None else None,
        **options,  # type: ignore[arg-type]
    )


def tcp(sim: Simulator) -> TcpTransport:
    assert sim.tcp_port is not None
    return TcpTransport("127.0.0.1", sim.tcp_port)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_link_ping_returns_reply_and_audit_events(sim: Simulator) -> None:
    events: list[DeviceEvent] = []
    link = make_link(tcp(sim), events, hearing_clock=lambda: 42.5)
    async with running(link):
        await link.wait_online()
        assert await link.command(Ping(7)) == 7
    state = link.state
    assert state.last_success is not None and state.round_trip_ms is not None
    assert 0 <= state.round_trip_ms < 1000
    directions = [e.direction for e in events]
    assert directions[0] is Direction.STATE and events[0].meaning.startswith("online")
    tx = next(e for e in events if e.direction is Direction.TX)
    rx = next(e for e in events if e.direction is Direction.RX)
    assert (tx.raw_hex, tx.meaning) == (b"PING 7\r".hex(), "Ping(n=7)")
    assert (rx.raw, rx.meaning) == (b"PONG 7\r", "7")
    greeting = next(e for e in events if e.direction is Direction.UNSOLICITED)
    assert greeting.raw == GREETING
    assert {e.time for e in events} == {42.5}
    assert all(e.device == "echo" for e in events)


async def test_link_error_reply_raises_named_device_error(sim: Simulator) -> None:
    events: list[DeviceEvent] = []
    async with running(make_link(tcp(sim), events)) as link:
        await link.wait_online()
        with pytest.raises(DeviceReportedError) as caught:
            await link.command(Fail(5))
        assert await link.command(Ping(1)) == 1
    assert str(caught.value) == "echo: echo error 5"
    assert caught.value.code == "5" and caught.value.raw == b"ERR 5\r"
    error = next(e for e in events if e.direction is Direction.ERROR)
    assert error.meaning == "Fail(n=5): echo error 5" and error.raw == b"ERR 5\r"
    assert link.state.last_error == "echo error 5"


async def test_link_unsolicited_output_becomes_event(sim: Simulator) -> None:
    events: list[DeviceEvent] = []
    async with running(make_link(tcp(sim), events)) as link:
        await link.wait_online()
        assert await link.command(Announce("bell")) is None
        await eventually(lambda: any(e.meaning == "Note(text='bell')" for e in events))
    note = next(e for e in events if e.meaning == "Note(text='bell')")
    assert note.direction is Direction.UNSOLICITED and note.raw == b"NOTE bell\r"


async def test_link_local_protocol_error_propagates_without_sending(sim: Simulator) -> None:
    events: list[DeviceEvent] = []
    async with running(make_link(tcp(sim), events)) as link:
        await link.wait_online()
        with pytest.raises(LocalProtocolError):
            await link.command("SELF-DESTRUCT")
        assert await link.command(Ping(2)) == 2
    assert [e.meaning for e in events if e.direction is Direction.TX] == ["Ping(n=2)"]


async def test_link_slow_replies_time_out_then_recover(sim: Simulator) -> None:
    sim.set_line_faults(LineFaults(slow_ms=1000 * 4 * UNIT))
    events: list[DeviceEvent] = []
    async with running(make_link(tcp(sim), events, timeout=UNIT)) as link:
        await link.wait_online()
        with pytest.raises(DeviceTimeoutError):
            await link.command(Ping(1))
        sim.set_line_faults(LineFaults())
        # the late PONG 1 arrives with no command waiting: a fault, not a crash
        await eventually(lambda: any(e.direction is Direction.FAULT for e in events))
        assert await link.command(Ping(2)) == 2


async def test_link_dropped_replies_retried_until_fault_clears(sim: Simulator) -> None:
    sim.set_line_faults(LineFaults(drop=1.0))
    events: list[DeviceEvent] = []
    async with running(make_link(tcp(sim), events, timeout=UNIT, retries=5)) as link:
        await link.wait_online()
        command = asyncio.create_task(link.command(Ping(3)))
        await eventually(lambda: sum(e.direction is Direction.ERROR for e in events) >= 1)
        sim.set_line_faults(LineFaults())
        assert await command == 3
    errors = [e for e in events if e.direction is Direction.ERROR]
    assert errors and all("no reply to Ping(n=3)" in e.meaning for e in errors)
    assert sum(e.meaning == "Ping(n=3)" for e in events if e.direction is Direction.TX) >= 2


async def test_link_retry_count_follows_command_kind(sim: Simulator) -> None:
    sim.set_fault("busy", True)
    events: list[DeviceEvent] = []
    kinds = {Ping: 2, Count: 0}
    link = make_link(tcp(sim), events, retries=lambda command: kinds[type(command)])
    async with running(link):
        await link.wait_online()
        with pytest.raises(DeviceReportedError, match="echo busy"):
            await link.command(Ping(1))
        with pytest.raises(DeviceReportedError, match="echo busy"):
            await link.command(Count())
        with pytest.raises(DeviceReportedError, match="echo busy"):
            await link.command(Count(), retries=1)
    sent = [e.meaning for e in events if e.direction is Direction.TX]
    assert sent == ["Ping(n=1)"] * 3 + ["Count()"] + ["Count()"] * 2


async def test_link_garbage_is_a_fault_and_command_completes(sim: Simulator) -> None:
    sim.set_line_faults(LineFaults(garbage=1.0))
    events: list[DeviceEvent] = []
    async with running(make_link(tcp(sim), events)) as link:
        await link.wait_online()
        assert await link.command(Ping(4)) == 4
        assert await link.command(Ping(5)) == 5
    faults = [e for e in events if e.direction is Direction.FAULT]
    assert len(faults) == 2
    for fault in faults:
        assert fault.raw.endswith(b"\r") and all(0x80 <= b < 0x90 for b in fault.raw[:-1])
        assert fault.meaning.startswith("bad line")


async def test_link_reconnects_after_disconnect_and_state_persists(sim: Simulator) -> None:
    events: list[DeviceEvent] = []
    async with running(make_link(tcp(sim), events)) as link:
        await link.wait_online()
        assert await link.command(Ping(1)) == 1
        sim.disconnect()
        await eventually(lambda: any(e.meaning.startswith("offline") for e in events))
        await link.wait_online()
        assert await link.command(Count()) == 1
    states = [e.meaning for e in events if e.direction is Direction.STATE]
    assert [s.split(":")[0].split(" ")[0] for s in states] == ["online", "offline", "online"]
    assert "connection closed by the device" in states[1]


async def test_link_lost_line_fails_outstanding_command(sim: Simulator) -> None:
    sim.set_line_faults(LineFaults(drop=1.0))
    async with running(make_link(tcp(sim), timeout=2.0)) as link:
        await link.wait_online()
        command = asyncio.create_task(link.command(Ping(1), retries=3))
        await eventually(lambda: link.state.pending == 1)
        sim.disconnect()
        with pytest.raises(DeviceUnavailableError):
            await command


async def test_link_offline_commands_fail_fast(sim: Simulator) -> None:
    async with running(make_link(TcpTransport("127.0.0.1", closed_port()))) as link:
        state = await link.ready()
        assert not state.online and state.last_error is not None
        started = time.monotonic()
        with pytest.raises(DeviceUnavailableError) as caught:
            await link.command(Ping(1))
        assert time.monotonic() - started < 5 * UNIT  # no network wait, no timeout
    assert caught.value.code == "offline"
    assert "cannot connect" in str(caught.value)


async def test_link_queue_overflow_rejects_with_busy(sim: Simulator) -> None:
    sim.set_line_faults(LineFaults(drop=1.0))
    async with running(make_link(tcp(sim), timeout=1.0, max_pending=2)) as link:
        await link.wait_online()
        waiting = [asyncio.create_task(link.command(Ping(n))) for n in (1, 2)]
        await eventually(lambda: link.state.pending == 2)
        with pytest.raises(DeviceUnavailableError) as caught:
            await link.command(Ping(3))
        assert caught.value.code == "busy"
        for task in waiting:
            task.cancel()


async def test_link_logs_first_failure_and_recovery_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    caplog.set_level(logging.DEBUG, logger="devices.link")
    async with running(make_link(TcpTransport("127.0.0.1", port))) as link:
        await eventually(lambda: link.state.failures >= 5)
        async with Simulator(EchoDevice(), tcp_port=port):
            await link.wait_online()
            assert await link.command(Ping(9)) == 9
    records = [r for r in caplog.records if r.name == "devices.link"]
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "offline" in warnings[0].getMessage()
    recovered = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert len(recovered) == 1 and "back online" in recovered[0]
    assert sum("still offline" in r.getMessage() for r in records) >= 4


class FakeClock:
    """Monotonic time that moves only when the link sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay
        await asyncio.sleep(0)


async def test_link_injected_clock_drives_timeouts_without_waiting(sim: Simulator) -> None:
    sim.set_line_faults(LineFaults(drop=1.0))
    clock = FakeClock()
    link = make_link(tcp(sim), timeout=30.0, clock=clock, sleep=clock.sleep)
    started = time.monotonic()
    async with running(link):
        await link.wait_online()
        with pytest.raises(DeviceTimeoutError):
            await link.command(Ping(1), retries=1)
    assert clock.now >= 1060.0
    assert time.monotonic() - started < 20 * UNIT


async def test_link_over_pty_reopens_stable_path_after_reenumeration(
    tmp_path: Path,
) -> None:
    stable = tmp_path / "usb-echo-if00"
    events: list[DeviceEvent] = []
    async with Simulator(EchoDevice(), pty_link=stable) as simulator:
        first = simulator.pty_path
        transport = SerialTransport(str(stable), baudrate=9600)
        async with running(make_link(transport, events)) as link:
            await link.wait_online()
            assert await link.command(Ping(1)) == 1
            simulator.disconnect()
            assert simulator.pty_path != first and stable.resolve() == Path(str(simulator.pty_path))
            await eventually(lambda: sum(e.direction is Direction.STATE for e in events) >= 3)
            await link.wait_online()
            assert await link.command(Count()) == 1
    assert [e.meaning.split(" ")[0] for e in events if e.direction is Direction.STATE] == [
        "online",
        "offline:",
        "online",
    ]
