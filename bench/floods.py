"""Another courtroom's clerk page while hostile clients flood the hub.

Starts a real ``courtroom hub`` process (open-file limit 1024, default
``[limits]``), an agent for courtroom A and a seeded hearing of courtroom B.
A clerk's page load for B is measured again and again: open ``/ws/live``,
subscribe → snapshot, then ``GET /api/hearings/{id}/transcript``. First at
rest, then during each flood, each flood run from a child process so the
flood's own work does not slow the measuring loop:

* slow-header: 1100 connections sending a partial request head, one more byte
  a second, reconnecting when closed;
* body: 4 clients posting ``/api/login`` bodies that declare 100 MB;
* login: 4 clients posting wrong passwords to ``/api/login`` as fast as they can;
* partial: courtroom A's agent sending partials as fast as it can.

Usage: ``python bench/floods.py [--seconds 10] [--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.synchronize
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import websockets
from readme_block import machine, percentile, update_readme

from courtroom_core.wire import Ack, Event, Hello, Partial, Welcome, decode, encode

PASSWORD = "bench-password"
TOKENS = {"court-a": "bench-token-court-a", "court-b": "bench-token-court-b"}
HEARING_B = "bench-hearing-b"
HEARING_A = "bench-hearing-a"
FD_LIMIT = 1024
SLOW_CLIENTS = 1100
SEGMENTS = 60
ATTACKER = "127.0.0.2"
"""Floods come from this loopback address; the clerk's page from 127.0.0.1."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def start_hub(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    rooms = "".join(
        f'\n[[courtrooms]]\nid = "{room}"\nname = "{room}"\ntoken = "{token}"\n'
        for room, token in TOKENS.items()
    )
    config = work / "hub.toml"
    config.write_text(
        f'data_dir = "{work}"\n\n[listen]\nhost = "127.0.0.1"\nport = {port}\n{rooms}',
        encoding="utf-8",
    )
    script = Path(sys.executable).with_name("courtroom")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "courtroom_agent.cli"]
    log = (work / "hub.log").open("wb")
    process = subprocess.Popen(
        [*command, "hub", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_limit_fds,
        env=os.environ | {"COURTROOM_ADMIN_PASSWORD": PASSWORD},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"hub exited: {(work / 'hub.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, port
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("hub did not start")


async def agent(port: int, room: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/agent", max_size=None)
    await ws.send(encode(Hello(courtroom=room, token=TOKENS[room])))
    welcome = decode(await ws.recv())
    assert isinstance(welcome, Welcome), welcome
    return ws


async def seed(port: int) -> None:
    """Courtroom B gets a hearing with SEGMENTS finals; courtroom A opens one."""
    for room, hearing, finals in (("court-b", HEARING_B, SEGMENTS), ("court-a", HEARING_A, 0)):
        ws = await agent(port, room)
        body = {"hearing_id": hearing, "title": "基准", "opened_at": "2026-01-05T09:00:00+08:00"}
        events = [Event(seq=1, kind="hearing.opened", body=body)]
        for i in range(finals):
            segment = {
                "start": float(i),
                "end": i + 0.9,
                "channel": i % 4,
                "role": "judge",
                "text": f"第{i}句 现在开庭审理本案",
                "confidence": 0.9,
                "words": [],
            }
            final = {"hearing_id": hearing, "segment": segment}
            events.append(Event(seq=i + 2, kind="transcript.final", body=final))
        for event in events:
            await ws.send(encode(event))
        while True:
            ack = decode(await ws.recv())
            if isinstance(ack, Ack) and ack.seq == len(events):
                break
        await ws.close()


async def page_load(port: int, client: httpx.AsyncClient, token: str) -> float:
    """Seconds for one clerk page load of courtroom B (live snapshot + transcript)."""
    began = time.perf_counter()
    url = f"ws://127.0.0.1:{port}/ws/live?token={token}"
    async with websockets.connect(url, max_size=None) as live:
        await live.send(json.dumps({"type": "subscribe", "courtroom": "court-b"}))
        snapshot = json.loads(await live.recv())
        assert snapshot["type"] == "snapshot", snapshot
    reply = await client.get(
        f"/api/hearings/{HEARING_B}/transcript", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code == 200 and len(reply.json()) == SEGMENTS, reply.status_code
    return time.perf_counter() - began


LOAD_TIMEOUT_S = 30.0
"""A page load taking longer counts as this long (the clerk has given up)."""


async def measure(port: int, seconds: float, token: str) -> tuple[list[float], int]:
    """Page load times for ``seconds``, and how many loads failed (503, reset …)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        samples: list[float] = []
        failed = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                load = await asyncio.wait_for(page_load(port, client, token), LOAD_TIMEOUT_S)
            except TimeoutError:
                load = LOAD_TIMEOUT_S
            except (OSError, AssertionError, httpx.HTTPError, websockets.WebSocketException):
                failed += 1
                continue
            samples.append(load)
        return samples, failed


# -- floods (each runs in a child process until ``stop`` is set) ----------------


async def _until(stop: multiprocessing.synchronize.Event, workers: list[Awaitable[None]]) -> None:
    tasks = [asyncio.ensure_future(w) for w in workers]
    await asyncio.to_thread(stop.wait)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def slow_header_flood(port: int, stop: multiprocessing.synchronize.Event) -> None:
    async def slow() -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(ATTACKER, 0)
                )
                writer.write(b"GET / HTTP/1.1\r\nHost: hub\r\n")
                while not reader.at_eof():
                    writer.write(b"X")
                    await asyncio.wait_for(reader.read(1024), 1.0)
            except (OSError, TimeoutError):
                pass
            await asyncio.sleep(0.05)

    await _until(stop, [slow() for _ in range(SLOW_CLIENTS)])


async def body_flood(port: int, stop: multiprocessing.synchronize.Event) -> None:
    async def big() -> None:
        chunk = b"A" * 65536
        while True:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(ATTACKER, 0)
                )
                writer.write(
                    b"POST /api/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 104857600\r\n\r\n"
                )
                for _ in range(64):
                    writer.write(chunk)
                    await writer.drain()
                await reader.read()
                writer.close()
            except OSError:
                pass

    await _until(stop, [big() for _ in range(4)])


async def login_flood(port: int, stop: multiprocessing.synchronize.Event) -> None:
    async def guess(client: httpx.AsyncClient) -> None:
        n = 0
        while True:
            n += 1
            try:
                await client.post("/api/login", json={"username": "admin", "password": f"x{n}"})
            except httpx.TransportError:
                await asyncio.sleep(0.05)

    transport = httpx.AsyncHTTPTransport(local_address=ATTACKER)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=30, transport=transport
    ) as client:
        await _until(stop, [guess(client) for _ in range(4)])


async def partial_flood(port: int, stop: multiprocessing.synchronize.Event) -> None:
    async def flood() -> None:
        while True:
            try:
                ws = await agent(port, "court-a")
                n = 0
                while True:
                    n += 1
                    await ws.send(
                        encode(Partial(HEARING_A, 0, "judge", 1.0, f"部分结果 {n}", end=1.5))
                    )
            except (OSError, websockets.ConnectionClosed, AssertionError):
                await asyncio.sleep(0.05)

    await _until(stop, [flood()])


FLOODS: dict[str, Callable[[int, multiprocessing.synchronize.Event], Coroutine[Any, Any, None]]] = {
    "slow-header": slow_header_flood,
    "body": body_flood,
    "login": login_flood,
    "partial": partial_flood,
}


def _run_flood(name: str, port: int, stop: multiprocessing.synchronize.Event) -> None:
    asyncio.run(FLOODS[name](port, stop))


Results = list[tuple[str, tuple[list[float], int]]]


def run(seconds: float) -> Results:
    results: Results = []
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-floods-") as tmp:
        hub, port = start_hub(Path(tmp))
        try:
            asyncio.run(seed(port))
            login = {"username": "admin", "password": PASSWORD}
            reply = httpx.post(f"http://127.0.0.1:{port}/api/login", json=login, timeout=30)
            token = reply.json()["token"]
            results.append(("rest", asyncio.run(measure(port, seconds, token))))
            for name in FLOODS:
                stop = context.Event()
                child = context.Process(target=_run_flood, args=(name, port, stop), daemon=True)
                child.start()
                time.sleep(1.0)  # let the flood build up before measuring
                results.append((name, asyncio.run(measure(port, seconds, token))))
                stop.set()
                child.join(10)
                if child.is_alive():
                    child.kill()
                if hub.poll() is not None:
                    raise SystemExit(f"hub died during the {name} flood")
        finally:
            hub.terminate()
            hub.wait(30)
    return results


def summary(results: Results) -> str:
    rest = statistics.median(results[0][1][0])
    lines = [
        "clerk page load of another courtroom (live snapshot + transcript), hub at 1024 files",
        f"{'flood':<12} {'loads':>6} {'failed':>6} {'median ms':>10} {'p95 ms':>8} {'× rest':>7}",
    ]
    for name, (samples, failed) in results:
        if not samples:
            lines.append(f"{name:<12} {0:>6} {failed:>6} {'-':>10} {'-':>8} {'-':>7}")
            continue
        median = statistics.median(samples)
        lines.append(
            f"{name:<12} {len(samples):>6} {failed:>6} {median * 1000:>10.1f} "
            f"{percentile(samples, 95) * 1000:>8.1f} {median / rest:>7.2f}"
        )
    lines.append(machine())
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per phase")
    parser.add_argument("--update-readme", type=Path, default=None)
    args = parser.parse_args()
    text = summary(run(args.seconds))
    print(text)
    if args.update_readme is not None:
        update_readme(args.update_readme, "floods", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
