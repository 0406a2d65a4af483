"""Agent ⇄ hub over TLS with a real hub (uvicorn on loopback) and a throwaway CA.

The hub serves ``[tls]``; the agent's ``[hub]`` trusts ``ca_file`` and may pin
the certificate. A hub the agent does not trust never sees its Hello (so never
its token): the hub logs no "online" and its board keeps the courtroom offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from courtroom_agent.config import HubConfig as AgentHubConfig
from courtroom_agent.link import HubLink
from courtroom_agent.spool import EventSpool
from courtroom_core.backoff import BackoffPolicy
from hub.config import TlsConfig, load_config
from hub.errors import ConfigError
from tests.fixtures import tls as tls_fixture
from tests.fixtures.tls import TlsFiles
from tests.hub import conftest as hub_fixtures
from tests.hub.conftest import (
    ADMIN_PASSWORD,
    COURT,
    COURT_TOKEN,
    TIMEOUT,
    HubFactory,
    RunningHub,
    make_config,
)

tls_files = tls_fixture.tls_files
hub_factory = hub_fixtures.hub_factory

FAST = BackoffPolicy(initial=0.01, maximum=0.05, factor=2.0, jitter=0.5)


@pytest.fixture
async def tls_hub(hub_factory: HubFactory, tmp_path: Path, tls_files: TlsFiles) -> RunningHub:
    tls = TlsConfig(cert_file=tls_files.cert, key_file=tls_files.key)
    return await hub_factory(make_config(tmp_path, tls=tls))


async def test_tls_agent_checks_the_host_name(
    hub_factory: HubFactory, tmp_path: Path, tls_files: TlsFiles, spool: EventSpool
) -> None:
    tls = TlsConfig(cert_file=tls_files.elsewhere_cert, key_file=tls_files.key)
    hub = await hub_factory(make_config(tmp_path, tls=tls))
    async with link_to(hub, spool, ca=tls_files.ca) as link:
        link.publish("status", {"state": "ok"})
        async with asyncio.timeout(2 * TIMEOUT):
            while not link.state.untrusted:  # noqa: ASYNC110 - the link's state is the signal
                await asyncio.sleep(0.005)
    assert "IP address mismatch" in (link.last_error or "")
    assert spool.pending_count == 1


def agent_url(hub: RunningHub) -> str:
    return hub.url.replace("https://", "wss://") + "/ws/agent"


@contextlib.asynccontextmanager
async def link_to(
    hub: RunningHub,
    spool: EventSpool,
    *,
    ca: Path | None,
    pin: str | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[HubLink]:
    """A running link configured the way run_agent configures it, from [hub]."""
    config = AgentHubConfig(url=agent_url(hub), token=COURT_TOKEN, ca_file=ca, pin_sha256=pin)
    link = HubLink(
        url=config.url,
        token=config.resolve_token(),
        spool=spool,
        ssl=config.ssl_context(),
        pin_sha256=config.pin_sha256,
        backoff=FAST,
        sleep=sleep,
        open_timeout=TIMEOUT,
        welcome_timeout=TIMEOUT,
    )
    async with link:
        task = asyncio.create_task(link.run(), name="hub-link")
        try:
            yield link
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[EventSpool]:
    with EventSpool.open(tmp_path / "spool.db", courtroom=COURT) as opened:
        yield opened


async def archived_seqs(hub: RunningHub, ca: Path) -> list[int]:
    """The seqs the hub archived for COURT, read over https trusting ``ca``."""
    verify = ssl.create_default_context(cafile=ca)
    async with httpx.AsyncClient(base_url=hub.url, verify=verify, timeout=TIMEOUT) as http:
        login = await http.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        reply = await http.get(f"/api/courtrooms/{COURT}/events", headers=headers)
        reply.raise_for_status()
        return [event["seq"] for event in reply.json()]


def online_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hub.agent_ws" and "online" in r.getMessage()]


async def test_tls_hub_serves_https_and_refuses_plain_http(
    tls_hub: RunningHub, tls_files: TlsFiles
) -> None:
    assert tls_hub.url.startswith("https://127.0.0.1:")
    verify = ssl.create_default_context(cafile=tls_files.ca)
    async with httpx.AsyncClient(base_url=tls_hub.url, verify=verify, timeout=TIMEOUT) as http:
        assert (await http.get("/healthz")).status_code == 200
    assert await archived_seqs(tls_hub, tls_files.ca) == []
    plain = tls_hub.url.replace("https://", "http://")
    async with httpx.AsyncClient(base_url=plain, timeout=TIMEOUT) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get("/healthz")
    untrusting = ssl.create_default_context(cafile=tls_files.other_ca)
    async with httpx.AsyncClient(base_url=tls_hub.url, verify=untrusting, timeout=TIMEOUT) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get("/healthz")


async def test_tls_agent_with_ca_file_delivers_every_event(
    tls_hub: RunningHub, tls_files: TlsFiles, spool: EventSpool
) -> None:
    async with link_to(tls_hub, spool, ca=tls_files.ca) as link:
        for n in range(20):  # alarms: the archive thins status reports
            link.publish("av.alarm", {"hearing_id": "h1", "kind": "test", "message": str(n)})
        async with asyncio.timeout(2 * TIMEOUT):
            await link.wait_delivered()
    assert spool.pending_count == 0
    assert await archived_seqs(tls_hub, tls_files.ca) == list(range(1, 21))


@pytest.mark.parametrize("wrong", ["ca", "system-cas", "pin"])
async def test_tls_agent_refuses_untrusted_hub_before_sending_its_token(
    tls_hub: RunningHub,
    tls_files: TlsFiles,
    spool: EventSpool,
    caplog: pytest.LogCaptureFixture,
    wrong: str,
) -> None:
    caplog.set_level(logging.INFO)
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0.005)

    # Without ca_file the system CAs decide, and none of them signed the test CA.
    ca, pin = {
        "ca": (tls_files.other_ca, None),
        "system-cas": (None, None),
        "pin": (tls_files.ca, "00" * 32),
    }[wrong]
    async with link_to(tls_hub, spool, ca=ca, pin=pin, sleep=sleep) as link:
        link.publish("status", {"state": "ok"})
        async with asyncio.timeout(2 * TIMEOUT):
            while len(delays) < 3:  # noqa: ASYNC110 - the link's own retry sleeps are the signal
                await asyncio.sleep(0.005)
        state = link.state
    assert state.rejected and state.untrusted and not state.connected
    assert "hub certificate not trusted" in (state.last_error or "")
    if wrong == "pin":
        assert f"is not pin_sha256 {'00' * 32}" in (state.last_error or "")
    assert all(delay == FAST.maximum for delay in delays)  # CONFIG: retried at the maximum
    assert spool.pending_count == 1
    assert online_records(caplog) == []  # no Hello reached the hub
    assert COURT_TOKEN not in caplog.text
    assert await archived_seqs(tls_hub, tls_files.ca) == []


async def test_tls_agent_with_matching_pin_delivers(
    tls_hub: RunningHub, tls_files: TlsFiles, spool: EventSpool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pin = ":".join(tls_files.pin_sha256[i : i + 2] for i in range(0, 64, 2)).upper()
    async with link_to(tls_hub, spool, ca=tls_files.ca, pin=pin) as link:
        link.publish("status", {"state": "ok"})
        async with asyncio.timeout(2 * TIMEOUT):
            await link.wait_delivered()
    assert await archived_seqs(tls_hub, tls_files.ca) == [1]
    assert len(online_records(caplog)) == 1  # what the refusal tests see none of


def test_tls_hub_config_refuses_a_pair_that_does_not_load(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    wrong_key = tls_files.ca.with_suffix(".key")  # the CA's key, not the hub's
    path = tmp_path / "hub.toml"
    path.write_text(f'[tls]\ncert_file = "{tls_files.cert}"\nkey_file = "{wrong_key}"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert refused.value.problems[0].startswith("tls: key_file: certificate")
    assert "KEY_VALUES_MISMATCH" in str(refused.value)
    path.write_text(f'[tls]\ncert_file = "{tls_files.cert}"\nkey_file = "{tmp_path}/none"\n')
    with pytest.raises(ConfigError, match=r"tls\.key_file"):
        load_config(path)
    path.write_text(f'[tls]\ncert_file = "{tls_files.cert}"\nkey_file = "{tls_files.key}"\n')
    assert load_config(path).tls == TlsConfig(cert_file=tls_files.cert, key_file=tls_files.key)


def test_tls_agent_config_checks_ca_file_and_pin(tmp_path: Path, tls_files: TlsFiles) -> None:
    url = "wss://hub.example:8443/ws/agent"
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for fields, problem in (
        ({"ca_file": tmp_path / "none.pem"}, "ca_file"),
        ({"ca_file": not_pem}, "holds no usable certificate"),
        ({"pin_sha256": "12ab"}, "64 hex digits"),
        ({"url": "ws://hub.example/ws/agent", "ca_file": tls_files.ca}, "needs a wss:// url"),
    ):
        with pytest.raises(ValueError, match=problem):
            AgentHubConfig.model_validate({"url": url, "token": "t", **fields})
    config = AgentHubConfig(url=url, token="t", ca_file=tls_files.ca, pin_sha256="AB" * 32)
    assert config.pin_sha256 == "ab" * 32
    context = config.ssl_context()
    assert context is not None and context.check_hostname
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert AgentHubConfig(url=url, token="t").ssl_context() is None  # the system CAs


async def test_tls_courtroom_hub_process_serves_https_and_refuses_a_bad_pair(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    def hub_toml(key: Path) -> Path:
        path = tmp_path / "hub.toml"
        path.write_text(
            f'data_dir = "{tmp_path}"\n[listen]\nport = 0\n'
            f'[tls]\ncert_file = "{tls_files.cert}"\nkey_file = "{key}"\n',
            encoding="utf-8",
        )
        return path

    command = [sys.executable, "-m", "courtroom_agent.cli", "hub", "--config"]
    bad = await asyncio.create_subprocess_exec(
        *command, str(hub_toml(tls_files.ca.with_suffix(".key"))), stderr=PIPE
    )
    _, err = await asyncio.wait_for(bad.communicate(), 4 * TIMEOUT)
    assert bad.returncode == 2
    assert "tls: key_file: certificate" in err.decode()
    hub = await asyncio.create_subprocess_exec(*command, str(hub_toml(tls_files.key)), stderr=PIPE)
    assert hub.stderr is not None
    try:
        async with asyncio.timeout(4 * TIMEOUT):
            while not (line := (await hub.stderr.readline()).decode()).count("hub listening on"):
                assert line, "the hub exited before listening"
        url = line.split("hub listening on ")[1].strip()
        assert url.startswith("https://127.0.0.1:")
        verify = ssl.create_default_context(cafile=tls_files.ca)
        async with httpx.AsyncClient(verify=verify, timeout=TIMEOUT) as http:
            assert (await http.get(url + "/healthz")).status_code == 200
    finally:
        hub.terminate()
        await asyncio.wait_for(hub.wait(), 4 * TIMEOUT)
