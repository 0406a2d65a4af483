"""The serving harness: line faults, control port, pty, registry and CLI."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devices.simulate import KINDS, LineFaults, Simulator, load_device, main
from tests.devices.test_simulate_echo import GREETING, UNIT, EchoDevice

ECHO = "tests.devices.test_simulate_echo:EchoDevice"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    device = EchoDevice(note_delay=0.0)
    async with Simulator(
        device, tcp_port=0, control_port=0, rng=random.Random(3), poll_interval=0.005
    ) as simulator:
        task = asyncio.create_task(simulator.run(), name="simulator")
        yield simulator
        task.cancel()


async def connect(sim: Simulator) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert sim.tcp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.tcp_port)
    assert await asyncio.wait_for(reader.readuntil(b"\r"), 1) == GREETING
    return reader, writer


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    writer.write(line)
    return await asyncio.wait_for(reader.readuntil(b"\r"), 1)


async def control(sim: Simulator, command: str) -> str:
    assert sim.control_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.control_port)
    writer.write(command.encode() + b"\n")
    answer = await asyncio.wait_for(reader.readline(), 1)
    writer.close()
    return answer.decode().strip()


async def test_simulator_state_shared_across_connections(sim: Simulator) -> None:
    reader, writer = await connect(sim)
    assert await ask(reader, writer, b"PING 1\r") == b"PONG 1\r"
    writer.close()
    reader, writer = await connect(sim)
    assert await ask(reader, writer, b"COUNT\r") == b"COUNT 1\r"
    writer.close()
    assert isinstance(sim.device, EchoDevice) and sim.device.connections == 2


async def test_simulator_poll_output_reaches_client(sim: Simulator) -> None:
    reader, writer = await connect(sim)
    assert await ask(reader, writer, b"ANNOUNCE gavel\r") == b"OK\r"
    assert await asyncio.wait_for(reader.readuntil(b"\r"), 1) == b"NOTE gavel\r"
    writer.close()


async def test_simulator_slow_fault_delays_replies(sim: Simulator) -> None:
    reader, writer = await connect(sim)
    assert (await control(sim, "slow 100")).startswith("OK slow=100 ")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await ask(reader, writer, b"PING 2\r") == b"PONG 2\r"
    assert loop.time() - started >= 0.1
    writer.close()


async def test_simulator_drop_fault_drops_replies_not_greeting(sim: Simulator) -> None:
    await control(sim, "drop 1")
    reader, writer = await connect(sim)
    writer.write(b"PING 3\r")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readuntil(b"\r"), 2 * UNIT)
    assert (await control(sim, "drop 0")).startswith("OK slow=0 drop=0 ")
    assert await ask(reader, writer, b"PING 4\r") == b"PONG 4\r"
    writer.close()


async def test_simulator_garbage_fault_prefixes_terminated_junk(sim: Simulator) -> None:
    await control(sim, "garbage 1")
    reader, writer = await connect(sim)
    junk = await ask(reader, writer, b"PING 5\r")
    assert 2 <= len(junk) <= 9 and all(0x80 <= b < 0x90 for b in junk[:-1])
    assert await asyncio.wait_for(reader.readuntil(b"\r"), 1) == b"PONG 5\r"
    writer.close()


async def test_simulator_disconnect_fault_closes_clients_periodically(sim: Simulator) -> None:
    reader, writer = await connect(sim)
    await control(sim, f"disconnect-every {UNIT}")
    assert await asyncio.wait_for(reader.read(), 20 * UNIT) == b""
    writer.close()
    await control(sim, "disconnect-every 0")
    reader, writer = await connect(sim)
    assert await ask(reader, writer, b"PING 6\r") == b"PONG 6\r"
    writer.close()


async def test_simulator_control_device_fault_clear_and_errors(sim: Simulator) -> None:
    assert (await control(sim, "fault busy on")).endswith("faults=busy")
    reader, writer = await connect(sim)
    assert await ask(reader, writer, b"PING 7\r") == b"BUSY\r"
    assert (await control(sim, "clear")).endswith("disconnect-every=0 faults=-")
    assert await ask(reader, writer, b"PING 7\r") == b"PONG 7\r"
    writer.close()
    assert (await control(sim, "fault melted on")).startswith("ERR unknown echo fault")
    assert (await control(sim, "drop 2")).startswith("ERR drop and garbage are probabilities")
    assert (await control(sim, "slow fast")).startswith("ERR could not convert")
    assert await control(sim, "explode now") == "ERR unknown command 'explode now'"
    assert (await control(sim, "status")).startswith("OK slow=0 drop=0 garbage=0")


async def read_pty(fd: int) -> bytes:
    """Read what is waiting on a non-blocking pty slave, letting the harness run."""
    for _ in range(200):
        try:
            return os.read(fd, 64)
        except BlockingIOError:
            await asyncio.sleep(0.005)
    raise AssertionError("nothing arrived on the pty")


async def test_simulator_pty_symlink_follows_reopen(tmp_path: Path) -> None:
    stable = tmp_path / "camera"
    async with Simulator(EchoDevice(), pty_link=stable) as simulator:
        first = simulator.pty_path
        assert first is not None and os.readlink(stable) == first
        fd = os.open(stable, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert await read_pty(fd) == GREETING
            os.write(fd, b"PING 8\r")
            assert await read_pty(fd) == b"PONG 8\r"
            simulator.disconnect()
            assert os.readlink(stable) == simulator.pty_path != first
            try:
                hung_up = os.read(fd, 64)
            except OSError:  # EIO on a hung-up tty
                hung_up = b""
            assert hung_up == b""
        finally:
            os.close(fd)
    assert not stable.is_symlink()


def test_line_faults_validate() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        LineFaults(drop=1.5)
    with pytest.raises(ValueError, match=">= 0"):
        LineFaults(slow_ms=-1)
    assert LineFaults(slow_ms=250).describe() == "slow=250 drop=0 garbage=0 disconnect-every=0"


def test_load_device_by_module_path_with_options() -> None:
    device, frame_end = load_device(ECHO, {"note_delay": 0.5})
    assert isinstance(device, EchoDevice) and device.note_delay == 0.5
    assert frame_end == b"\r"
    with pytest.raises(LookupError, match="unknown device kind 'toaster'"):
        load_device("toaster", {})
    with pytest.raises(LookupError, match="has no Nothing"):
        load_device("tests.devices.test_simulate_echo:Nothing", {})
    with pytest.raises(ValueError, match=r"wattage.*--option"):
        load_device(ECHO, {"wattage": 3})


def test_load_device_registered_kind_finds_the_virtual_device() -> None:
    device, frame_end = load_device("extron-sis", {"inputs": 4, "outputs": 4})
    assert type(device).__module__ == KINDS["extron-sis"][0]
    assert frame_end == b"\r\n"


def test_simulate_main_rejects_bad_kind_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["toaster", "--port", "0"]) == 2
    assert "unknown device kind" in capsys.readouterr().err
    assert main([ECHO, "--port", "0", "--drop", "3"]) == 2
    assert "probabilities" in capsys.readouterr().err
    assert main([ECHO, "--port", "0", "--fault", "melted"]) == 2
    assert "unknown echo fault" in capsys.readouterr().err


async def test_simulate_main_serves_tcp_and_control_in_a_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devices.simulate",
        ECHO,
        "--port=0",
        "--control-port=0",
        "--fault=busy",
        "--seed=1",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        tcp = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().split()
        ctl = (await asyncio.wait_for(process.stdout.readline(), 5)).decode().split()
        assert tcp[:2] == ["tcp", "127.0.0.1"] and ctl[:2] == ["control", "127.0.0.1"]
        reader, writer = await asyncio.open_connection("127.0.0.1", int(tcp[2]))
        assert await asyncio.wait_for(reader.readuntil(b"\r"), 1) == GREETING
        assert await ask(reader, writer, b"PING 1\r") == b"BUSY\r"
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", int(ctl[2]))
        writer2.write(b"fault busy off\n")
        assert (await reader2.readline()).startswith(b"OK ")
        assert await ask(reader, writer, b"PING 1\r") == b"PONG 1\r"
        writer.close()
        writer2.close()
    finally:
        process.terminate()
        assert await process.wait() == 0


async def test_simulate_main_on_pty_removes_symlink_on_sigterm(tmp_path: Path) -> None:
    stable = tmp_path / "ttyCAM"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devices.simulate",
        ECHO,
        "--port",
        str(stable),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        words = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().split()
        assert words[0] == "pty" and words[1].startswith("/dev/pts/")
        assert words[2] == str(stable) and os.readlink(stable) == words[1]
    finally:
        process.terminate()
        assert await process.wait() == 0
    assert not stable.is_symlink()
