"""Byte transports over loopback TCP, real pty pairs and pyserial URL handlers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from courtroom_core.backoff import ErrorClass, classify
from devices.errors import DeviceUnavailableError
from devices.simulate import Simulator
from devices.transport import SerialTransport, TcpTransport, transport_for
from tests.devices.test_simulate_echo import GREETING, EchoDevice


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(EchoDevice(), tcp_port=0) as simulator:
        yield simulator


async def read_exactly(transport: TcpTransport | SerialTransport, size: int) -> bytes:
    data = b""
    async with asyncio.timeout(2):
        while len(data) < size:
            data += await transport.read()
    return data


async def test_tcp_transport_reads_greeting_and_exchanges_bytes(sim: Simulator) -> None:
    assert sim.tcp_port is not None
    transport = TcpTransport("127.0.0.1", sim.tcp_port)
    await transport.open()
    try:
        assert await read_exactly(transport, len(GREETING)) == GREETING
        await transport.write(b"PING 12\r")
        assert await read_exactly(transport, 8) == b"PONG 12\r"
    finally:
        await transport.close()
    await transport.close()  # closing twice is harmless


async def test_tcp_transport_refused_is_unavailable_and_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = TcpTransport("127.0.0.1", port)
    with pytest.raises(DeviceUnavailableError, match=f"127.0.0.1:{port}: cannot connect") as caught:
        await transport.open()
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert classify(caught.value.__cause__) is ErrorClass.TRANSIENT


async def test_tcp_transport_closed_by_device_raises_on_read(sim: Simulator) -> None:
    assert sim.tcp_port is not None
    transport = TcpTransport("127.0.0.1", sim.tcp_port)
    await transport.open()
    assert await read_exactly(transport, len(GREETING)) == GREETING
    sim.disconnect()
    with pytest.raises(DeviceUnavailableError, match="closed by the device"):
        await read_exactly(transport, 1)
    await transport.close()


async def test_tcp_transport_not_open_raises_unavailable() -> None:
    transport = TcpTransport("127.0.0.1", 9)
    with pytest.raises(DeviceUnavailableError, match="not open"):
        await transport.read()
    with pytest.raises(DeviceUnavailableError, match="not open"):
        await transport.write(b"x")


async def test_serial_transport_over_pty_exchanges_bytes_and_sees_hangup(
    tmp_path: Path,
) -> None:
    async with Simulator(EchoDevice(), pty_link=tmp_path / "ttyECHO") as simulator:
        transport = SerialTransport(str(tmp_path / "ttyECHO"), baudrate=19200)
        await transport.open()
        try:
            await transport.write(b"PING 3\r")
            data = b""
            while not data.endswith(b"\r") or data == GREETING:
                data += await read_exactly(transport, 1)
            # the greeting arrives too if the harness wrote it after the port opened
            assert data in (b"PONG 3\r", GREETING + b"PONG 3\r")
            simulator.disconnect()
            with pytest.raises(DeviceUnavailableError, match="connection lost"):
                await read_exactly(transport, 1)
        finally:
            await transport.close()


async def test_serial_transport_missing_port_is_unavailable(tmp_path: Path) -> None:
    transport = SerialTransport(str(tmp_path / "ttyUSB9"))
    with pytest.raises(DeviceUnavailableError, match="cannot open") as caught:
        await transport.open()
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert classify(caught.value.__cause__) is ErrorClass.TRANSIENT


PERMISSION_PROBE = """
import asyncio, sys
from courtroom_core.backoff import classify
from devices.errors import DeviceUnavailableError
from devices.transport import SerialTransport
try:
    asyncio.run(SerialTransport(sys.argv[1]).open())
except DeviceUnavailableError as exc:
    print(type(exc.__cause__).__name__, classify(exc.__cause__).name)
"""


def test_serial_transport_permission_denied_is_config() -> None:
    # As root, drop to nobody: a port without the dialout group is the real case.
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        port = Path(directory) / "ttyS9"
        port.touch(mode=0o000)
        prefix = as_nobody if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, sys.executable, "-c", PERMISSION_PROBE, str(port)],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    assert result.stdout.split() == ["PermissionError", "CONFIG"]


async def test_serial_transport_invalid_setting_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="baudrate"):
        await SerialTransport("loop://", baudrate=-5).open()


async def test_serial_transport_loop_url_is_polled() -> None:
    transport = SerialTransport("loop://", poll_interval=0.002)
    await transport.open()
    try:
        await transport.write(b"\x81\x01\x04\x00\x02\xff")
        assert await read_exactly(transport, 6) == b"\x81\x01\x04\x00\x02\xff"
    finally:
        await transport.close()
    with pytest.raises(DeviceUnavailableError, match="not open"):
        await transport.read()


async def test_serial_transport_socket_url_reaches_tcp_device(sim: Simulator) -> None:
    transport = SerialTransport(f"socket://127.0.0.1:{sim.tcp_port}")
    await transport.open()
    try:
        assert await read_exactly(transport, len(GREETING)) == GREETING
        await transport.write(b"COUNT\r")
        assert await read_exactly(transport, 8) == b"COUNT 0\r"
    finally:
        await transport.close()


def test_transport_for_picks_tcp_or_serial_from_config() -> None:
    tcp = transport_for(host="10.1.2.3", port="4352")
    assert isinstance(tcp, TcpTransport) and tcp.target == "10.1.2.3:4352"
    serial_line = transport_for(port="/dev/ttyUSB0", baudrate=38400)
    assert isinstance(serial_line, SerialTransport) and serial_line.target == "/dev/ttyUSB0"
    with pytest.raises(ValueError, match="out of range"):
        transport_for(host="10.1.2.3", port=70000)
