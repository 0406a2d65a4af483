"""Hub test fixtures: a real hub on a loopback port, and a throwaway PostgreSQL.

``hub_factory`` starts :class:`hub.server.HubServer` in the test's event loop
on port 0 and stops it at teardown; a test may stop and start it again on the
same data directory. ``postgres_url`` runs ``initdb``/``pg_ctl`` from the
Debian ``postgresql`` 15 package as the ``postgres`` user in a temporary
directory (unix socket there too) and yields a URL for a fresh database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from courtroom_core.wire import Hello, Welcome, decode, encode
from hub.config import CourtroomConfig, HubConfig, ListenConfig, LiveConfig
from hub.server import HubServer

TIMEOUT = 5.0
"""One unit of patience; every wait in the hub tests is a multiple of it."""

COURT = "court-1"
COURT_TOKEN = "agent-token-court-1"
OTHER = "court-2"
OTHER_TOKEN = "agent-token-court-2"
ADMIN_PASSWORD = "correct horse battery"

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def make_config(data_dir: Path, **overrides: Any) -> HubConfig:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "listen": ListenConfig(host="127.0.0.1", port=0),
        "courtrooms": (
            CourtroomConfig(id=COURT, name="第一法庭", token=COURT_TOKEN),
            CourtroomConfig(id=OTHER, name="第二法庭", token=OTHER_TOKEN),
        ),
        "live": LiveConfig(queue_size=64),
    }
    base.update(overrides)
    return HubConfig(**base)


@dataclass
class RunningHub:
    server: HubServer
    task: asyncio.Task[None]
    admin_password: str
    _token: str | None = field(default=None)

    @property
    def url(self) -> str:
        return self.server.url

    def ws(self, path: str) -> str:
        return self.url.replace("http://", "ws://") + path

    async def stop(self) -> None:
        self.server.stop()
        await asyncio.wait_for(self.task, 4 * TIMEOUT)
        await self.server.__aexit__(None, None, None)

    async def token(self) -> str:
        """A clerk bearer token (logs in as admin once)."""
        if self._token is None:
            async with httpx.AsyncClient(base_url=self.url, timeout=TIMEOUT) as client:
                response = await client.post(
                    "/api/login", json={"username": "admin", "password": self.admin_password}
                )
                response.raise_for_status()
                self._token = response.json()["token"]
        return self._token

    async def agent(
        self, courtroom: str = COURT, token: str = COURT_TOKEN
    ) -> tuple[websockets.ClientConnection, Welcome]:
        """Connect as the courtroom's agent and return the socket and Welcome."""
        ws = await websockets.connect(self.ws("/ws/agent"), open_timeout=TIMEOUT)
        await ws.send(encode(Hello(courtroom=courtroom, token=token)))
        welcome = decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert isinstance(welcome, Welcome)
        return ws, welcome

    async def browser(
        self, courtroom: str = COURT, **kwargs: Any
    ) -> tuple[websockets.ClientConnection, dict[str, Any]]:
        """Connect as a clerk's page, subscribe, and return the socket and snapshot."""
        token = await self.token()
        ws = await websockets.connect(
            self.ws(f"/ws/live?token={token}"), open_timeout=TIMEOUT, **kwargs
        )
        await ws.send(json.dumps({"type": "subscribe", "courtroom": courtroom}))
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert snapshot["type"] == "snapshot"
        return ws, snapshot


async def close_code(ws: websockets.ClientConnection) -> tuple[int | None, str]:
    """Read until the hub closes ``ws``; return the close code and reason it sent."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert info.value.rcvd is not None, "the hub dropped the connection without a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


HubFactory = Callable[..., Awaitable[RunningHub]]


@pytest.fixture
async def hub_factory(tmp_path: Path) -> AsyncIterator[HubFactory]:
    started: list[RunningHub] = []

    async def start(config: HubConfig | None = None, **kwargs: Any) -> RunningHub:
        config = config or make_config(tmp_path)
        kwargs.setdefault("admin_password", ADMIN_PASSWORD)
        server = HubServer(config, **kwargs)
        await server.__aenter__()
        ready = asyncio.Event()
        task = asyncio.create_task(server.run(ready=ready), name="test-hub")
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, timeout=4 * TIMEOUT, return_when="FIRST_COMPLETED")
        if not ready.is_set():
            waiter.cancel()
            await task  # raises the startup error
            raise AssertionError("hub did not start")
        hub = RunningHub(server=server, task=task, admin_password=kwargs["admin_password"])
        started.append(hub)
        return hub

    yield start
    for hub in started:
        if not hub.task.done():
            await hub.stop()


@pytest.fixture
async def hub(hub_factory: HubFactory) -> RunningHub:
    return await hub_factory()


# -- PostgreSQL -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """A PostgreSQL 15 cluster for this test session: (host, port)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="hub-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()
    run = subprocess.run
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "hub", "-A", "trust", "-E", "UTF8"]
    run(_as_postgres([*initdb, "--locale=C", "--no-sync"]), check=True, capture_output=True)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w"]
    run(_as_postgres([*start, "-o", options, "start"]), check=True, capture_output=True)
    try:
        yield "127.0.0.1", port
    finally:
        stop = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        run(_as_postgres(stop), check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: tuple[str, int]) -> Iterator[str]:
    """URL of a fresh, empty database in the session's PostgreSQL cluster."""
    import psycopg

    host, port = postgres_server
    name = f"hub_{uuid.uuid4().hex[:12]}"
    admin = f"host={host} port={port} user=hub dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://hub@{host}:{port}/{name}"
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(admin, autocommit=True) as conn,
    ):
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
