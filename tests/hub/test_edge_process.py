"""Findings 1 and 2 of issue 11, replayed against a real ``courtroom hub`` process.

The hub runs with ``RLIMIT_NOFILE`` 1024 (soft and hard), as on a default
Linux box, and a 2-s request-head timeout so the flood ends quickly:

- 1100 connections from 11 addresses that send a partial request head and
  trickle more bytes:
  ``/healthz`` keeps answering, every flood connection is closed by the hub
  (408 at the head timeout, or 503 when evicted for a newcomer), and the log
  stays a few lines long;
- four ``POST /api/login`` declaring 100 MB and sending 4 MB each: 413 at once,
  nothing echoed, and the hub's resident memory barely moves.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.hub_process import HubProcess, run_hub_process
from tests.hub.conftest import TIMEOUT

FD_LIMIT = 1024
HEAD_TIMEOUT_S = 2.0
FLOOD = 1100


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.fixture(scope="module")
def hub_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with run_hub_process(
        tmp_path_factory.mktemp("edge-hub"),
        f"[limits]\nheader_timeout_s = {HEAD_TIMEOUT_S}\n",
        preexec_fn=_limit_fds,
    ) as hub:
        yield hub


async def _healthz_latency(url: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
        began = time.perf_counter()
        reply = await client.get("/healthz")
        elapsed = time.perf_counter() - began
    assert reply.status_code == 200
    return elapsed


async def test_slow_header_flood_is_shed_and_healthz_answers(hub_process: HubProcess) -> None:
    hub = hub_process
    log_before = len(hub.log_lines())
    began = time.monotonic()
    outcomes: list[bytes] = []
    closed_at: list[float] = []
    connected = 0
    all_connected = asyncio.Event()

    def one_connected() -> None:
        nonlocal connected
        connected += 1
        if connected == FLOOD:
            all_connected.set()

    async def slow_client() -> None:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", hub.port, local_addr=(next(sources), 0)
            )
        except OSError:
            outcomes.append(b"connect failed")
            one_connected()
            return
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        one_connected()

        async def trickle() -> None:  # one more header byte every quarter timeout
            while True:
                await asyncio.sleep(HEAD_TIMEOUT_S / 4)
                writer.write(b"X")

        trickler = asyncio.create_task(trickle())
        try:
            answer = await asyncio.wait_for(reader.read(), HEAD_TIMEOUT_S + 4 * TIMEOUT)
            outcomes.append(answer.split(b"\r\n", 1)[0])
        except (OSError, TimeoutError) as exc:
            outcomes.append(type(exc).__name__.encode())
        finally:
            closed_at.append(time.monotonic() - began)
            trickler.cancel()
            writer.close()

    # From 11 addresses, 100 each: under the per-client bound, over the global one.
    sources = itertools.cycle([f"127.0.0.{2 + i}" for i in range(11)])
    flood = [asyncio.create_task(slow_client()) for _ in range(FLOOD)]
    await asyncio.wait_for(all_connected.wait(), 2 * TIMEOUT)
    fds_during = hub.open_fds()
    latencies = [await _healthz_latency(hub.url) for _ in range(5)]
    await asyncio.gather(*flood)

    assert hub.process.poll() is None
    assert max(latencies) < TIMEOUT / 5, latencies
    assert fds_during < FD_LIMIT
    statuses = set(outcomes)
    # Closed by the hub: with 408 or 503, or reset when a trickled byte was still unread.
    closed_by_hub = {
        b"HTTP/1.1 408 Request Timeout",
        b"HTTP/1.1 503 Service Unavailable",
        b"ConnectionResetError",
    }
    assert statuses <= closed_by_hub, statuses
    assert len(outcomes) == FLOOD
    assert max(closed_at) < HEAD_TIMEOUT_S + 2 * TIMEOUT
    new_lines = hub.log_lines()[log_before:]
    assert len(new_lines) < 20, new_lines[:20]
    print(
        f"slow-header flood: healthz max {max(latencies) * 1000:.1f} ms, hub fds {fds_during}, "
        f"408 {outcomes.count(b'HTTP/1.1 408 Request Timeout')}, "
        f"503 {outcomes.count(b'HTTP/1.1 503 Service Unavailable')}, "
        f"reset {outcomes.count(b'ConnectionResetError')}, "
        f"all closed by {max(closed_at):.2f} s, log lines {len(new_lines)}"
    )
    print("\n".join(new_lines))


BODY_DECLARED = 100 * 1024 * 1024
BODY_SENT = 4 * 1024 * 1024


async def _large_login(port: int) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.perf_counter()
    writer.write(
        b"POST /api/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b'Content-Length: %d\r\n\r\n{"username": "' % BODY_DECLARED
    )

    async def send_body() -> None:
        chunk = b"A" * 65536
        for _ in range(BODY_SENT // len(chunk)):
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(send_body())
    try:
        answer = await asyncio.wait_for(reader.read(), 2 * TIMEOUT)
    finally:
        elapsed = time.perf_counter() - began
        await asyncio.gather(sender, return_exceptions=True)  # the hub stops reading
        writer.close()
    return answer, elapsed


async def test_large_bodies_get_413_without_memory_growth(hub_process: HubProcess) -> None:
    hub = hub_process
    await _healthz_latency(hub.url)  # warm the path first
    rss_before = hub.rss_kib()
    answers = await asyncio.gather(*(_large_login(hub.port) for _ in range(4)))
    rss_after = hub.rss_kib()
    for answer, elapsed in answers:
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert len(answer) < 1000 and b"AAAA" not in answer
        assert elapsed < TIMEOUT / 5
    growth_kib = rss_after - rss_before
    assert growth_kib < 4096, growth_kib
    print(
        f"body flood: 4 x 100 MB declared → 413 in max "
        f"{max(e for _, e in answers) * 1000:.1f} ms, RSS +{growth_kib} KiB"
    )
