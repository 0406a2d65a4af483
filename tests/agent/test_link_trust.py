"""The agent trusts no hub blindly (issue 11, finding 7).

A hostile hub (the ``LoopbackHub`` of test_link.py, real websockets on
loopback) forges a ``welcome`` or an ``ack`` claiming events the agent never
sent. The agent must neither acknowledge nor renumber its spool, must close
with 1007, raise one ``hub_untrusted`` alarm and reconnect; a hub that then
behaves gets every event with its original seq. TLS trust against the real
hub is in tests/test_tls.py.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from courtroom_agent.link import HubLink, HubViolationError, parse_pin
from courtroom_agent.spool import EventSpool
from courtroom_core import wire
from tests.agent import test_link as loop
from tests.agent.test_link import (
    DEADLINE,
    HubStore,
    LoopbackHub,
    eventually,
    final,
    make_link,
    running,
    stored,
)
from tests.hub import conftest as hub_fixtures
from tests.hub.conftest import COURT, COURT_TOKEN, HubFactory

# The fixtures of test_link.py and the real hub's, shared by name.
store = loop.store
hub = loop.hub
spool = loop.spool
hub_factory = hub_fixtures.hub_factory


def snapshot(spool: EventSpool) -> list[wire.Event]:
    return spool.pending(after_seq=0, limit=1000)


def untrusted_alarms(events: list[wire.Event]) -> list[wire.Event]:
    return [e for e in events if e.kind == "av.alarm" and e.body["kind"] == "hub_untrusted"]


async def test_link_forged_welcome_keeps_spool_raises_alarm_and_reconnects(
    hub: LoopbackHub, store: HubStore, spool: EventSpool, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(make_link(hub, spool)) as link:
        first = [link.publish("transcript.final", final(n)) for n in range(3)]
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
        await hub.kill()
        await eventually(lambda: not link.connected)
        later = [link.publish("transcript.final", final(n)) for n in range(3, 8)]
        before = snapshot(spool)
        assert [e.seq for e in before] == [4, 5, 6, 7, 8]
        hub.forged_welcomes = [1_000_000_000, 1_000_000_000]  # the finding's forgery, twice
        await hub.start()
        await eventually(lambda: store.connections >= 3)  # 1 honest + 2 forged
        after = snapshot(spool)
        # Nothing acked, nothing renumbered: the same events plus one alarm.
        assert after[:5] == before
        assert untrusted_alarms(after[5:]) == after[5:] and len(after) == 6
        assert "1000000000" in after[5].body["detail"]
        assert after[5].body["source"] == "hub_link" and after[5].body["active"] is True
        assert spool.acked_seq == 3
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()  # the third connection is honest
        state = link.state
    assert stored(store)[:8] == first + later
    assert [e.seq for e in stored(store)] == list(range(1, 10))
    assert len(untrusted_alarms(stored(store))) == 1  # one alarm for the run of forgeries
    assert store.agent_close_codes[1:3] == [wire.CLOSE_INVALID, wire.CLOSE_INVALID]
    assert state.connected and not state.untrusted
    assert "hub holds 1000000000 events of courtroom room-1 but this spool has sent only 3" in (
        state.last_error or ""
    )
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert ["not trusted" in r.getMessage() for r in errors] == [True]  # logged once


async def test_link_fresh_spool_forged_welcome_refused_spool_intact(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    # Never acknowledged: the first welcome over ws:// is as forgeable as any other.
    published = [spool.append("transcript.final", final(n)) for n in range(3)]
    hub.forged_welcomes = [1_000_000_000] * 1000
    async with running(make_link(hub, spool)) as link:
        await eventually(lambda: link.state.failures >= 3)
        after = snapshot(spool)
        state = link.state
        assert after[:3] == published  # same seqs, same bodies
        assert untrusted_alarms(after) == after[3:] and len(after) == 4
        assert (spool.acked_seq, spool.last_seq, spool.adoptions) == (0, 4, [])
        assert store.events == {}  # no event was sent to the forger
        hub.forged_welcomes.clear()  # the hub behaves from now on
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
    assert store.agent_close_codes[:3] == [wire.CLOSE_INVALID] * 3
    assert state.untrusted and not state.connected
    assert (state.last_error or "").endswith(
        "hub holds 1000000000 events of courtroom room-1 but this spool has sent only 3: "
        "if this PC's spool was replaced, run courtroom agent --adopt-hub-seq 1000000000"
    )
    assert stored(store) == after
    assert [e.seq for e in stored(store)] == [1, 2, 3, 4]


async def test_link_forged_ack_beyond_sent_keeps_spool_and_reconnects(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    hub.acks = False
    async with running(make_link(hub, spool, window=2)) as link:
        published = [link.publish("transcript.final", final(n)) for n in range(6)]
        # Two events are in flight (window 2); the hub "acks" all six, which it
        # never received: within the spool's last seq, beyond what was sent.
        hub.forged_ack = (2, 6)
        await eventually(lambda: link.state.untrusted)
        assert snapshot(spool)[:6] == published
        assert spool.acked_seq == 0
        hub.acks = True
        await hub.ack_all()
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
        assert "ack 6 beyond seq 2 last sent" in (link.last_error or "")
    assert stored(store)[:6] == published
    assert len(untrusted_alarms(stored(store))) == 1
    assert store.agent_close_codes[0] == wire.CLOSE_INVALID


async def test_link_welcome_below_acked_is_a_restored_archive_not_a_forgery(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    async with running(make_link(hub, spool)) as link:
        for n in range(4):
            link.publish("transcript.final", final(n))
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
        await hub.kill()
        store.events[loop.ROOM] = {s: e for s, e in store.events[loop.ROOM].items() if s <= 2}
        await hub.start()
        await eventually(lambda: store.connections >= 2 and link.connected)
        assert "restored from an older backup" in (link.last_error or "")
        assert not link.state.untrusted
    assert untrusted_alarms(stored(store)) == []


def test_link_pin_must_be_sha256_hex_and_needs_wss(spool: EventSpool) -> None:
    pin = "AB:" * 31 + "CD"
    assert parse_pin(pin) == bytes.fromhex("ab" * 31 + "cd")
    with pytest.raises(ValueError, match="64 hex digits"):
        parse_pin("abc")
    with pytest.raises(ValueError, match="64 hex digits"):
        parse_pin("zz" * 32)
    with pytest.raises(ValueError, match="wss://"):
        HubLink(url="ws://127.0.0.1:9/ws/agent", token="t", spool=spool, pin_sha256="ab" * 32)


async def test_link_plain_ws_to_remote_host_warns_once_loopback_does_not(
    spool: EventSpool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="courtroom_agent.link")
    for url in ("ws://127.0.0.1:9/ws/agent", "ws://[::1]:9/ws/agent", "ws://192.0.2.1:9/x"):
        retried = asyncio.Event()
        waits: list[float] = []

        async def sleep(
            delay: float, waits: list[float] = waits, done: asyncio.Event = retried
        ) -> None:
            waits.append(delay)
            if len(waits) == 2:  # two failed attempts: the warning is not repeated
                done.set()
                await asyncio.Event().wait()

        link = HubLink(url=url, token="t", spool=spool, sleep=sleep, open_timeout=0.1)
        task = asyncio.create_task(link.run())
        async with asyncio.timeout(DEADLINE):
            await retried.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    clear = [r for r in caplog.records if "in clear" in r.getMessage()]
    assert [r.args for r in clear] == [("ws://192.0.2.1:9/x",)]


def test_link_violation_is_a_transient_protocol_error() -> None:
    from courtroom_core.backoff import ErrorClass, classify

    assert classify(HubViolationError("forged")) is ErrorClass.TRANSIENT


async def test_link_after_forged_welcome_real_hub_still_acks_everything(
    hub_factory: HubFactory, store: HubStore, tmp_path: Path
) -> None:
    real = await hub_factory()
    forger = LoopbackHub(store, token=COURT_TOKEN)
    forger.forged_welcomes = [1_000_000_000] * 100
    await forger.start()

    def link_to(url: str, spool: EventSpool) -> HubLink:
        return HubLink(url=url, token=COURT_TOKEN, spool=spool, backoff=loop.FAST)

    def alarm(n: int) -> dict[str, object]:
        return {"hearing_id": "h1", "kind": "test", "message": str(n)}

    try:
        with EventSpool.open(tmp_path / "court.db", courtroom=COURT) as spool:
            async with running(link_to(real.ws("/ws/agent"), spool)) as link:
                for n in range(3):
                    link.publish("av.alarm", alarm(n))
                async with asyncio.timeout(DEADLINE):
                    await link.wait_delivered()
            async with running(link_to(forger.url, spool)) as link:
                for n in range(3, 6):
                    link.publish("av.alarm", alarm(n))
                before = snapshot(spool)
                await eventually(lambda: store.connections >= 2 and link.state.untrusted)
            assert snapshot(spool)[:3] == before
            assert spool.acked_seq == 3
            async with running(link_to(real.ws("/ws/agent"), spool)) as link:
                async with asyncio.timeout(DEADLINE):
                    await link.wait_delivered()
            assert spool.pending_count == 0
    finally:
        await forger.kill()
    async with httpx.AsyncClient(base_url=real.url, timeout=DEADLINE) as http:
        headers = {"Authorization": f"Bearer {await real.token()}"}
        reply = await http.get(f"/api/courtrooms/{COURT}/events", headers=headers)
    archived = reply.json()
    assert [e["seq"] for e in archived] == list(range(1, 8))
    assert [e["body"]["message"] for e in archived[:6]] == [str(n) for n in range(6)]
    assert archived[6]["body"]["kind"] == "hub_untrusted"
