"""A replaced spool is refused like a forgery until the operator adopts the hub's seq.

A courtroom PC reinstalled (or its spool file replaced) while the hub already
holds events 1..N of that courtroom starts numbering at 1 again, so the hub's
Welcome(N) claims more than this spool ever sent. Over ``ws://`` that is also
exactly what a forged first Welcome looks like, so the link refuses it (1007,
``hub_untrusted``, spool kept) and tells the operator to run
``courtroom agent --adopt-hub-seq N``; that command, run here in-process
through the real ``courtroom`` parser, renumbers the pending events once and
records it, and the next Welcome(N) is accepted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from courtroom_agent.cli import main
from courtroom_agent.link import HubLink
from courtroom_agent.spool import EventSpool
from courtroom_core import wire
from tests.agent import test_link as loop
from tests.agent.test_link import (
    DEADLINE,
    ROOM,
    TOKEN,
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
hub_factory = hub_fixtures.hub_factory


def room_toml(tmp_path: Path, *, courtroom: str, url: str, token: str, spool: Path) -> Path:
    path = tmp_path / "room.toml"
    path.write_text(
        f'spool = "{spool}"\n'
        f'[courtroom]\nid = "{courtroom}"\nname = "第一法庭"\n'
        f'[hub]\nurl = "{url}"\ntoken = "{token}"\n'
        '[audio]\nroles = ["审判长"]\n',
        encoding="utf-8",
    )
    return path


def adopt(config: Path, hub_seq: int | str) -> int:
    """``courtroom agent --config … --adopt-hub-seq N`` through the real parser."""
    return main(["agent", "--config", str(config), "--adopt-hub-seq", str(hub_seq)])


def untrusted_alarms(events: list[wire.Event]) -> list[wire.Event]:
    return [e for e in events if e.kind == "av.alarm" and e.body["kind"] == "hub_untrusted"]


async def test_link_replaced_spool_refused_until_operator_adopts_hub_seq(
    hub: LoopbackHub, store: HubStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = [wire.Event(seq=n, kind="status", body={"state": "old"}) for n in range(1, 11)]
    store.events[ROOM] = {event.seq: event for event in old}
    path = tmp_path / "spool.db"
    with EventSpool.open(path, courtroom=ROOM) as spool:
        published = [spool.append("transcript.final", final(n)) for n in range(3)]
        async with running(make_link(hub, spool)) as link:
            await eventually(lambda: link.state.failures >= 2 and link.state.untrusted)
            error = link.last_error or ""
        await eventually(lambda: len(store.agent_close_codes) >= 2)
        kept = spool.pending(after_seq=0, limit=10)
        assert (spool.acked_seq, spool.adoptions) == (0, [])
    hint = (
        f"hub holds 10 events of courtroom {ROOM} but this spool has sent only 3: if this "
        "PC's spool was replaced, run courtroom agent --adopt-hub-seq 10"
    )
    assert error.endswith(hint)
    assert kept[:3] == published  # not renumbered, not acked
    assert untrusted_alarms(kept) == kept[3:] and len(kept) == 4  # one alarm for the run
    assert kept[3].body["detail"].endswith(hint)  # the alarm's message is fixed 中文 · English
    assert store.agent_close_codes[:2] == [wire.CLOSE_INVALID] * 2
    assert stored(store) == old  # the hub got nothing

    config = room_toml(tmp_path, courtroom=ROOM, url=hub.url, token=TOKEN, spool=path)
    assert adopt(config, 10) == 0
    assert "hub seq 10" in capsys.readouterr().out

    with EventSpool.open(path, courtroom=ROOM) as spool:
        assert [record["after"] for record in spool.adoptions] == [10]
        async with running(make_link(hub, spool)) as link:
            async with asyncio.timeout(DEADLINE):
                await link.wait_delivered()
            assert not link.state.untrusted
    delivered = stored(store)
    assert [e.seq for e in delivered] == list(range(1, 15))
    assert [(e.kind, e.body) for e in delivered[10:]] == [(e.kind, e.body) for e in kept]


async def test_adopt_command_refuses_what_the_spool_already_numbers_past(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spool.db"
    config = room_toml(tmp_path, courtroom=ROOM, url="ws://127.0.0.1:9", token=TOKEN, spool=path)
    with EventSpool.open(path, courtroom=ROOM) as spool:
        for n in range(6):
            spool.append("transcript.final", final(n))
        spool.ack(5)
        assert adopt(config, 7) == 1  # the agent holds the spool: stop it first
        assert "in use" in capsys.readouterr().err
    assert adopt(config, 5) == 2
    assert "not above this spool's acknowledged seq 5" in capsys.readouterr().err
    for bad in ("0", "x", str(2**63)):
        with pytest.raises(SystemExit) as exited:
            adopt(config, bad)
        assert exited.value.code == 2
        assert "--adopt-hub-seq" in capsys.readouterr().err
    with EventSpool.open(path, courtroom=ROOM) as spool:
        assert (spool.acked_seq, spool.last_seq, spool.adoptions) == (5, 6, [])


async def test_adopt_then_real_hub_holding_n_events_archives_new_events_after_n(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    real = await hub_factory()
    url = real.ws("/ws/agent")

    def link_to(spool: EventSpool) -> HubLink:
        return HubLink(url=url, token=COURT_TOKEN, spool=spool, backoff=loop.FAST)

    def alarm(n: int) -> dict[str, object]:
        return {"hearing_id": "h1", "kind": "test", "message": str(n)}

    # The old PC delivered three events, then its disk was replaced.
    with EventSpool.open(tmp_path / "old.db", courtroom=COURT) as spool:
        async with running(link_to(spool)) as link:
            for n in range(3):
                link.publish("av.alarm", alarm(n))
            async with asyncio.timeout(DEADLINE):
                await link.wait_delivered()
    path = tmp_path / "new.db"
    with EventSpool.open(path, courtroom=COURT) as spool:
        for n in range(3, 5):  # recorded on the new disk before the hub was reachable
            spool.append("av.alarm", alarm(n))
        async with running(link_to(spool)) as link:
            await eventually(lambda: link.state.untrusted)
            error = link.last_error or ""
        assert spool.acked_seq == 0 and spool.last_seq == 3  # two events and the alarm
    assert "hub holds 3 events of courtroom court-1 but this spool has sent only 2" in error
    assert error.endswith("run courtroom agent --adopt-hub-seq 3")

    config = room_toml(tmp_path, courtroom=COURT, url=url, token=COURT_TOKEN, spool=path)
    assert adopt(config, 3) == 0
    with EventSpool.open(path, courtroom=COURT) as spool:
        async with running(link_to(spool)) as link:
            link.publish("av.alarm", alarm(5))
            async with asyncio.timeout(DEADLINE):
                await link.wait_delivered()
        assert (spool.acked_seq, spool.pending_count) == (7, 0)
    async with httpx.AsyncClient(base_url=real.url, timeout=DEADLINE) as http:
        headers = {"Authorization": f"Bearer {await real.token()}"}
        reply = await http.get(f"/api/courtrooms/{COURT}/events", headers=headers)
    archived = reply.json()
    assert [e["seq"] for e in archived] == list(range(1, 8))
    messages = [e["body"]["message"] for e in archived]
    assert messages[:5] == ["0", "1", "2", "3", "4"] and messages[6] == "5"
    assert archived[5]["body"]["kind"] == "hub_untrusted"
    assert "--adopt-hub-seq 3" in archived[5]["body"]["detail"]


async def test_link_seq_conflict_is_a_config_failure_spool_kept(
    hub: LoopbackHub, store: HubStore, tmp_path: Path
) -> None:
    """The hub holds another event under one of the agent's seqs (close 4410):
    resending cannot help and neither side may overwrite the record, so the link
    reports a rejection for a person to resolve, retried at the maximum interval."""
    hub.close_on = (1, wire.CLOSE_SEQ_CONFLICT, "seq 1 is already stored with a different body")
    with EventSpool.open(tmp_path / "spool.db", courtroom=ROOM) as spool:
        spool.append("transcript.final", final(0))
        async with running(make_link(hub, spool)) as link:
            await eventually(lambda: link.state.rejected)
            error = link.last_error or ""
        assert spool.acked_seq == 0 and spool.pending_count == 1  # kept, never dropped
    assert "4410" in error and "序号冲突" in error and "seq 1" in error
