"""The hub against hostile HTTP clients, in-process (see test_edge_process.py for floods).

Request-head timeout, connection bound (evict the slowest head, else 503),
body limit (413 before parsing), bounded 422, security headers, and the
repeated-log filter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from hub.config import LimitsConfig
from hub.edge import (
    LINGER_WINDOW_S,
    LINGERS_PER_CLIENT,
    ConnectionGuard,
    EdgeLimits,
    RepeatedLogFilter,
)
from tests.hub.conftest import TIMEOUT, HubFactory, RunningHub, make_config

HEAD_TIMEOUT = 0.5


def _address(hub: RunningHub) -> tuple[str, int]:
    return "127.0.0.1", hub.server.port


@asynccontextmanager
async def raw(hub: RunningHub) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*_address(hub)), TIMEOUT)
    try:
        yield reader, writer
    finally:
        writer.close()


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the hub writes before it closes the connection."""
    return await asyncio.wait_for(reader.read(), 2 * TIMEOUT)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def headers_of(response: bytes) -> dict[str, str]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head)}


async def start(hub_factory: HubFactory, tmp_path: Path, **limits: Any) -> RunningHub:
    return await hub_factory(make_config(tmp_path, limits=LimitsConfig(**limits)))


def live_connections(hub: RunningHub) -> int:
    return len(hub.server._uvicorn.server_state.connections)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most 2 TIMEOUT) for ``condition()`` to hold; the hub offers no event for it."""
    async with asyncio.timeout(2 * TIMEOUT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


# -- request-head timeout ------------------------------------------------------


async def test_head_timeout_closes_a_partial_head_with_408(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path, header_timeout_s=HEAD_TIMEOUT)
    loop = asyncio.get_running_loop()
    async with raw(hub) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
        began = loop.time()
        response = await read_until_closed(reader)
        waited = loop.time() - began
    assert status_of(response) == 408
    assert HEAD_TIMEOUT * 0.8 <= waited < HEAD_TIMEOUT + TIMEOUT
    assert hub.server.guard.timed_out == 1


async def test_head_timeout_restarts_after_a_kept_alive_response(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path, header_timeout_s=HEAD_TIMEOUT)
    async with raw(hub) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert status_of(head) == 200
        await asyncio.wait_for(reader.readexactly(int(headers_of(head)["content-length"])), TIMEOUT)
        # A byte cancels uvicorn's keep-alive timer; ours still runs.
        writer.write(b"G")
        response = await read_until_closed(reader)
    assert status_of(response) == 408


async def test_head_timeout_covers_a_trickled_body(
    hub_factory: HubFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await start(hub_factory, tmp_path, header_timeout_s=HEAD_TIMEOUT)
    async with raw(hub) as (reader, writer):
        writer.write(
            b"POST /api/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        response = await read_until_closed(reader)
    assert status_of(response) == 408
    assert hub.server.guard.timed_out == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_head_timeout_spares_a_prompt_keep_alive_post(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        for _ in range(3):  # the same connection: head, body, response, next head
            login = {"username": "admin", "password": hub.admin_password}
            assert (await client.post("/api/login", json=login)).status_code == 200
    assert hub.server.guard.timed_out == 0


async def test_head_timeout_spares_websockets(hub_factory: HubFactory, tmp_path: Path) -> None:
    hub = await start(hub_factory, tmp_path, header_timeout_s=HEAD_TIMEOUT)
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    async with raw(hub) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\n")
        assert status_of(await read_until_closed(reader)) == 408  # the timeout has passed
    await asyncio.wait_for(await browser.ping(), TIMEOUT)
    await asyncio.wait_for(await agent.ping(), TIMEOUT)
    await browser.close()
    await agent.close()


# -- connection bound ----------------------------------------------------------


async def test_connection_bound_evicts_the_slowest_head(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path, max_connections=4, header_timeout_s=60)
    idle = [await asyncio.open_connection(*_address(hub)) for _ in range(4)]
    await until(lambda: live_connections(hub) == 4)
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        assert (await client.get("/healthz")).status_code == 200
    oldest = await read_until_closed(idle[0][0])
    assert status_of(oldest) == 503
    assert headers_of(oldest)["retry-after"] == "5"
    assert headers_of(oldest)["connection"] == "close"
    assert hub.server.guard.evicted == 1
    for _, writer in idle:
        writer.close()


async def test_connection_bound_refuses_with_503_when_none_is_slow(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path, max_connections=2)
    await hub.token()
    await until(lambda: live_connections(hub) == 0)
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    await until(lambda: live_connections(hub) == 2)
    async with raw(hub) as (reader, _writer):
        refused = await read_until_closed(reader)
    assert status_of(refused) == 503
    assert headers_of(refused)["retry-after"] == "5"
    assert "连接过多" in refused.decode()
    assert hub.server.guard.refused == 1
    await asyncio.wait_for(await browser.ping(), TIMEOUT)  # the admitted ones are untouched
    await browser.close()
    await agent.close()


async def test_per_client_bound_refuses_one_client_not_another(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path, max_connections_per_client=3, header_timeout_s=60)
    greedy = [
        await asyncio.open_connection(*_address(hub), local_addr=("127.0.0.2", 0)) for _ in range(4)
    ]
    refused = await read_until_closed(greedy[3][0])
    assert status_of(refused) == 503 and headers_of(refused)["retry-after"] == "5"
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        assert (await client.get("/healthz")).status_code == 200  # from 127.0.0.1
    assert hub.server.guard.refused == 1 and hub.server.guard.evicted == 0
    greedy[0][1].close()  # a slot is given back when a connection closes
    await until(lambda: live_connections(hub) <= 3)
    reader, writer = await asyncio.open_connection(*_address(hub), local_addr=("127.0.0.2", 0))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
    assert status_of(await read_until_closed(reader)) == 200
    for _, greedy_writer in greedy:
        greedy_writer.close()


def test_edge_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="header_timeout_s"):
        EdgeLimits(header_timeout_s=math.nan, max_connections=10, max_connections_per_client=1)
    with pytest.raises(ValueError, match="max_connections"):
        EdgeLimits(header_timeout_s=1, max_connections=0, max_connections_per_client=1)
    with pytest.raises(ValueError, match="max_connections_per_client"):
        EdgeLimits(header_timeout_s=1, max_connections=1, max_connections_per_client=0)
    with pytest.raises(ValidationError, match="header_timeout_s"):
        LimitsConfig(header_timeout_s=math.inf)
    with pytest.raises(ValidationError, match="max_body_bytes"):
        LimitsConfig(max_body_bytes=10)


def test_guard_lingers_a_few_times_per_client_then_cuts() -> None:
    guard = ConnectionGuard(
        EdgeLimits(header_timeout_s=1, max_connections=10, max_connections_per_client=10)
    )
    allowed = [guard.may_linger("10.0.0.9", 100.0 + i / 10) for i in range(LINGERS_PER_CLIENT + 2)]
    assert allowed == [True] * LINGERS_PER_CLIENT + [False, False]  # a body flood: cut at once
    assert guard.may_linger("10.0.0.8", 100.5)  # another address is not affected
    assert guard.may_linger("10.0.0.9", 100.0 + LINGER_WINDOW_S)  # the oldest one aged out


# -- request bodies --------------------------------------------------------------


async def test_body_limit_refuses_declared_length_before_reading(hub: RunningHub) -> None:
    async with raw(hub) as (reader, writer):
        writer.write(
            b"POST /api/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100000000\r\n\r\n{"username": "secret-input'
        )
        response = await read_until_closed(reader)
    assert status_of(response) == 413
    assert headers_of(response)["connection"] == "close"
    assert headers_of(response)["x-content-type-options"] == "nosniff"
    assert b"secret-input" not in response
    assert "请求体过大" in response.decode()


async def test_body_limit_cuts_a_chunked_body(hub: RunningHub) -> None:
    chunk = b"x" * 8192
    async with raw(hub) as (reader, writer):
        writer.write(
            b"POST /api/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )

        async def stream() -> None:
            for _ in range(64):  # 512 KiB, eight times the limit
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()

        sender = asyncio.create_task(stream())
        response = await read_until_closed(reader)
        await asyncio.gather(sender, return_exceptions=True)  # the hub may reset it
    assert status_of(response) == 413
    assert b"xxxxxxxx" not in response


async def test_body_limit_passes_a_small_body(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        reply = await client.post(
            "/api/login", json={"username": "admin", "password": hub.admin_password}
        )
    assert reply.status_code == 200


async def test_validation_error_names_fields_without_echoing_input(hub: RunningHub) -> None:
    payload = {"username": "u" * 50_000, "password": "", "x" * 500: 1}
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        reply = await client.post("/api/login", json=payload)
        not_json = await client.post(
            "/api/login", content=b"{" + b"z" * 30_000, headers={"content-type": "application/json"}
        )
    assert reply.status_code == 422
    assert len(reply.content) < 1000
    problems = reply.json()["detail"]
    assert {tuple(p["loc"]) for p in problems} == {("body", "username"), ("body", "password")}
    assert all(set(p) == {"loc", "msg", "type"} for p in problems)
    assert b"uuuu" not in reply.content
    assert not_json.status_code == 422
    assert len(not_json.content) < 1000 and b"zzzz" not in not_json.content


# -- security headers -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/patrol", "/healthz", "/static/app.js", "/api/courtrooms"])
async def test_security_headers_on_every_response(hub: RunningHub, path: str) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        reply = await client.get(path)
    csp = reply.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    if path.startswith("/api/"):
        assert reply.status_code == 401
        assert reply.headers["cache-control"] == "no-store"


async def test_security_headers_allow_no_third_party_source(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        replies = [await client.get(path) for path in ("/", "/patrol", "/admin", "/docs")]
    assert replies[3].status_code == 404  # Swagger UI would load from a CDN: off
    for reply in replies:
        policy = reply.headers["content-security-policy"]
        assert "https:" not in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy


async def test_responses_are_not_held_back_by_nagle(hub: RunningHub) -> None:
    """The listening socket is made IPPROTO_TCP, so asyncio sets TCP_NODELAY on each
    connection; without it Nagle and delayed ACK hold every response ~40 ms."""
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        await client.get("/healthz")  # connect once; the rest reuse the connection
        took = []
        for _ in range(21):
            started = loop.time()
            assert (await client.get("/healthz")).status_code == 200
            took.append(loop.time() - started)
    assert sorted(took)[10] < 0.030, f"median /healthz {sorted(took)[10] * 1000:.1f} ms"


async def test_security_headers_replace_an_api_cache_header(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        reply = await client.get(
            "/api/hearings/none/transcript",
            headers={"Authorization": f"Bearer {await hub.token()}"},
        )
    assert reply.status_code == 404
    assert reply.headers.get_list("cache-control") == ["no-store"]
    assert json.loads(reply.content)["detail"]


# -- repeated log lines -------------------------------------------------------------


def test_repeated_log_filter_lets_one_line_per_window_with_a_count() -> None:
    now = [0.0]
    limiter = RepeatedLogFilter(window_s=10, clock=lambda: now[0])
    logger = logging.getLogger("tests.edge.repeated")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.addFilter(limiter)
    logger.addHandler(Keep())
    logger.propagate = False
    try:
        for _ in range(100_000):
            logger.error("socket.accept() out of system resource: %s", "EMFILE")
            now[0] += 0.0001
        logger.error("another kind")
        now[0] = 10.5
        logger.error("socket.accept() out of system resource: %s", "EMFILE")
    finally:
        logger.removeFilter(limiter)
        logger.handlers.clear()
    lines = [r.getMessage() for r in records]
    assert lines == [
        "socket.accept() out of system resource: EMFILE",
        "another kind",
        "socket.accept() out of system resource: EMFILE (suppressed 99999 similar messages)",
    ]


def test_repeated_log_filter_forgets_the_oldest_kind() -> None:
    limiter = RepeatedLogFilter(window_s=10, max_kinds=2, clock=lambda: 0.0)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("x", logging.ERROR, __file__, 1, msg, None, None)

    assert [limiter.filter(record(m)) for m in ("a", "b", "a", "c", "a")] == [
        True,
        True,
        False,
        True,  # a third kind: "a", the oldest, is forgotten
        True,
    ]
