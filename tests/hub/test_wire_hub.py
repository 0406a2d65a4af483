"""Issue 11 findings 5, 6, 8, 9 and 10 against a real hub: poisoned values, repeats,
hearing ownership, partial floods and the bounded live snapshot."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from courtroom_core.wire import (
    CLOSE_INVALID,
    CLOSE_SEQ_CONFLICT,
    Ack,
    Event,
    Partial,
    decode,
    encode,
)
from hub.agent_ws import PARTIAL_BURST, PARTIALS_PER_SECOND, PartialGate, ReadBudget
from hub.config import DatabaseConfig
from hub.db import open_engine
from hub.live import LiveBroadcaster, LiveSubscriber, StatusBoard, dumps
from hub.live_ws import SNAPSHOT_MAX_BYTES, SNAPSHOT_SEGMENT_BYTES, _patrol_snapshot
from hub.store import QUARANTINE_KIND, Archive
from tests.hub.conftest import (
    COURT,
    OTHER,
    OTHER_TOKEN,
    TIMEOUT,
    HubFactory,
    RunningHub,
    close_code,
    make_config,
)
from tests.hub.test_agent_ws import final, logged, opened, send_events

SEQ_2_63 = 2**63


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_hub(
    request: pytest.FixtureRequest, hub_factory: HubFactory, tmp_path: Path
) -> RunningHub:
    """A real hub on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        return await hub_factory()
    url = request.getfixturevalue("postgres_url")
    return await hub_factory(make_config(tmp_path, database=DatabaseConfig(url=url)))


def raw_final(seq: int, **segment: Any) -> str:
    """An event frame as a hostile agent writes it, bypassing our own encoder."""
    seg = {"start": 1.0, "end": 2.0, "channel": 0, "role": "judge", "text": "毒"} | segment
    body = {"hearing_id": "h-1", "segment": seg}
    return json.dumps({"type": "event", "seq": seq, "kind": "transcript.final", "body": body})


async def send_raw(ws: websockets.ClientConnection, frame: str) -> Ack | None:
    """Send ``frame``; the Ack the hub answers, or None if it closed instead."""
    await ws.send(frame)
    try:
        reply = decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
    except websockets.ConnectionClosed:
        return None
    assert isinstance(reply, Ack)
    return reply


async def rest(hub: RunningHub, path: str) -> Any:
    headers = {"Authorization": f"Bearer {await hub.token()}"}
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT, headers=headers) as client:
        response = await client.get(path)
        response.raise_for_status()
        return response.json()


async def next_of(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == kind:
            return message


async def test_wire_hub_poisoned_events_never_stall_the_archive(
    any_hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 5: "start": "nan", "channel": 1e20 and seq 2^63, exactly as reported."""
    caplog.set_level(logging.WARNING, logger="hub")
    hub = any_hub
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    poisoned = [
        (2, raw_final(2, start="nan"), "event.body.segment.start must be a finite number"),
        (3, raw_final(3, channel=1e20), "event.body.segment.channel must be an integer"),
    ]
    for seq, frame, reason in poisoned:
        ack = await send_raw(agent, frame)
        assert ack == Ack(seq=seq)  # quarantined and acknowledged ...
        assert await close_code(agent) == (CLOSE_INVALID, reason)  # ... then refused by name
        alarm = await next_of(browser, "alarm")
        assert (alarm["kind"], alarm["seq"]) == (QUARANTINE_KIND, seq)
        assert alarm["body"]["kind"] == "transcript.final" and reason in alarm["body"]["error"]
        agent, welcome = await hub.agent()
        assert welcome.acked_seq == seq  # the agent's spool moves on
    assert await send_raw(agent, raw_final(SEQ_2_63)) is None
    code, reason = await close_code(agent)
    assert code == CLOSE_INVALID and reason.startswith("event.seq must be within 1..")
    agent, welcome = await hub.agent()
    assert welcome.acked_seq == 3
    assert await send_events(agent, [final(4, "继续审理", 3.0), final(5, "下一句", 4.0)]) == [4, 5]
    texts = [s["text"] for s in await rest(hub, "/api/hearings/h-1/transcript")]
    assert texts == ["继续审理", "下一句"]
    events = await rest(hub, f"/api/courtrooms/{COURT}/events?kind={QUARANTINE_KIND}")
    assert [e["seq"] for e in events] == [2, 3]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("quarantined" in line for line in errors)
    await agent.close()
    await browser.close()


async def test_wire_hub_infinite_status_breaks_no_page(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 6: 1e400 in a status report or a final's confidence is refused at decode."""
    caplog.set_level(logging.WARNING, logger="hub")
    token = await hub.token()
    patrol = await websockets.connect(hub.ws(f"/ws/live?token={token}"))
    await patrol.send(json.dumps({"type": "patrol"}))
    assert (await next_of(patrol, "patrol-snapshot"))["courtrooms"]
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    status = '{"type":"event","seq":2,"kind":"status","body":{"state":"ok","lag":1e400}}'
    assert await send_raw(agent, status) == Ack(seq=2)
    assert await close_code(agent) == (CLOSE_INVALID, "event.body.lag must be a finite number")
    agent, welcome = await hub.agent()  # not dropped before welcome on reconnect
    assert welcome.acked_seq == 2
    infinite = raw_final(3, confidence=0.5).replace('"confidence": 0.5', '"confidence": 1e400')
    assert await send_raw(agent, infinite) == Ack(seq=3)
    code, reason = await close_code(agent)
    assert (code, reason) == (
        CLOSE_INVALID,
        "event.body.segment.confidence must be a finite number",
    )
    agent, welcome = await hub.agent()
    assert welcome.acked_seq == 3
    # Every page still loads: a new patrol wall, this courtroom and the other.
    again = await websockets.connect(hub.ws(f"/ws/live?token={token}"))
    await again.send(json.dumps({"type": "patrol"}))
    snapshot = await next_of(again, "patrol-snapshot")
    assert [room["id"] for room in snapshot["courtrooms"]] == [COURT, OTHER]
    _, own = await hub.browser(COURT)
    _, other = await hub.browser(OTHER)
    assert own["hearing"]["id"] == "h-1" and other["hearing"] is None
    assert await send_events(agent, [final(4, "仍在记录")]) == [4]
    for ws in (patrol, again, agent):
        await ws.close()


async def test_wire_hub_repeated_seq_with_other_body_is_refused(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 8: an early or replayed seq never wins silently. An event ahead of a
    gap is refused unstored (it would take its seq from the genuine one); a
    different body under a seq already held is refused and logged."""
    caplog.set_level(logging.INFO, logger="hub.agent_ws")
    agent, _ = await hub.agent()
    assert await send_events(agent, [opened(1)]) == [1]
    await agent.send(encode(final(3, "抢先", 2.0)))
    code, reason = await close_code(agent)
    assert code == CLOSE_INVALID and "event.seq 3 skips ahead of seq 2" in reason
    agent, welcome = await hub.agent()
    assert welcome.acked_seq == 1
    assert await send_events(agent, [final(2, "第二句", 1.0), final(3, "真正的第三句", 2.0)]) == [
        2,
        3,
    ]
    assert await send_events(agent, [final(3, "真正的第三句", 2.0)]) == [3]  # identical: silent
    assert not [line for line in logged(caplog, "hub.agent_ws") if "seq 3 is" in line]
    await agent.send(encode(final(3, "改写的第三句", 2.0)))
    code, reason = await close_code(agent)
    assert code == CLOSE_SEQ_CONFLICT and "seq 3" in reason
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "seq 3" in r.message]
    assert len(warnings) == 2  # the gap and the conflict, one line each
    texts = [s["text"] for s in await rest(hub, "/api/hearings/h-1/transcript")]
    assert texts == ["第二句", "真正的第三句"]


async def test_wire_hub_hearing_id_of_another_courtroom_is_quarantined(hub: RunningHub) -> None:
    """Finding 10: one courtroom cannot take over another's hearing id."""
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), final(2, "第一法庭的笔录")])
    browser, _ = await hub.browser(OTHER)
    intruder, _ = await hub.agent(OTHER, OTHER_TOKEN)
    closed = Event(seq=2, kind="hearing.closed", body={"hearing_id": "h-1", "duration": 1.0})
    assert await send_events(intruder, [opened(1), closed, final(3, "冒名顶替")]) == [1, 2, 3]
    for seq in (1, 2, 3):
        alarm = await next_of(browser, "alarm")
        assert (alarm["kind"], alarm["seq"]) == (QUARANTINE_KIND, seq)
        assert "belongs to courtroom 'court-1'" in alarm["body"]["error"]
    [hearing] = await rest(hub, f"/api/hearings?courtroom={COURT}")
    assert hearing["id"] == "h-1" and hearing["closed_at"] is None
    assert await rest(hub, f"/api/hearings?courtroom={OTHER}") == []
    texts = [s["text"] for s in await rest(hub, "/api/hearings/h-1/transcript")]
    assert texts == ["第一法庭的笔录"]
    events = await rest(hub, f"/api/courtrooms/{OTHER}/events")
    assert {e["kind"] for e in events} == {QUARANTINE_KIND}
    for ws in (agent, intruder, browser):
        await ws.close()


async def snapshot_latency(hub: RunningHub, courtroom: str) -> float:
    started = time.perf_counter()
    ws, _ = await hub.browser(courtroom)
    elapsed = time.perf_counter() - started
    await ws.close()
    return elapsed


async def test_wire_hub_partial_flood_is_rate_limited(hub: RunningHub) -> None:
    """Finding 9: a flooding agent costs other courtrooms nothing and its page a bounded rate."""
    at_rest = statistics.median([await snapshot_latency(hub, OTHER) for _ in range(5)])
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    browser, _ = await hub.browser(COURT)
    received = 0
    sent = 0
    stop = asyncio.Event()

    async def flood() -> None:
        nonlocal sent
        while not stop.is_set():
            partial = Partial(hearing_id="h-1", channel=0, role="judge", start=0.0, text="快" * 50)
            await agent.send(encode(partial))
            sent += 1
            if sent % 5 == 0:
                await asyncio.sleep(0)  # let the measuring task run on this loop too

    async def count() -> dict[str, Any]:
        """Count partials up to the final sent after the flood (which follows them all)."""
        nonlocal received
        while True:
            message: dict[str, Any] = json.loads(await browser.recv())
            if message["type"] == "final":
                return message
            received += message["type"] == "partial"

    started = time.perf_counter()
    flooding = asyncio.create_task(flood())
    counting = asyncio.create_task(count())
    during = statistics.median([await snapshot_latency(hub, OTHER) for _ in range(5)])
    stop.set()
    await flooding
    # The agent connection was read all along: an event right after is acked.
    assert await send_events(agent, [final(2, "洪水之后")]) == [2]
    elapsed = time.perf_counter() - started
    final_message = await asyncio.wait_for(counting, TIMEOUT)
    assert final_message["segment"]["text"] == "洪水之后"
    print(  # the figures for docs/security.md (pytest -s)
        f"partial flood: {sent} sent in {elapsed:.2f} s, {received} forwarded; other "
        f"courtroom snapshot median {at_rest * 1000:.1f} ms at rest, {during * 1000:.1f} ms during"
    )
    assert sent > 4 * (PARTIAL_BURST + PARTIALS_PER_SECOND * elapsed)
    assert 1 <= received <= PARTIAL_BURST + PARTIALS_PER_SECOND * elapsed + 1
    assert during < max(10 * at_rest, at_rest + TIMEOUT / 10), (at_rest, during)
    await agent.close()
    await browser.close()


async def test_wire_hub_snapshot_is_bounded_and_pages(hub: RunningHub, tmp_path: Path) -> None:
    """Finding 10: a live snapshot is a bounded frame holding the newest segments.

    (The count bound, SNAPSHOT_SEGMENTS, is tested in test_store and test_clerk_page.)"""
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    engine = open_engine(make_config(tmp_path).database_url())  # the hub's own SQLite file
    archive = Archive(engine)
    now = datetime.now(UTC)
    total = 320
    for seq in range(2, total + 2):  # ~1.2 MB of transcript: over the snapshot's byte bound
        archive.store_event(COURT, final(seq, "长" * 1200, float(seq)), now=now)
    engine.dispose()
    ws, _ = await hub.browser(COURT, max_size=None)
    await ws.send(json.dumps({"type": "subscribe", "courtroom": COURT}))
    frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert len(frame.encode()) <= SNAPSHOT_MAX_BYTES
    snapshot = json.loads(frame)
    segments = snapshot["segments"]
    assert snapshot["more_before"] is True and 1 <= len(segments) < total
    kept = sum(
        len(json.dumps(s, ensure_ascii=False, separators=(",", ":")).encode()) for s in segments
    )
    assert kept <= SNAPSHOT_SEGMENT_BYTES
    assert segments[-1]["seq"] == total + 1  # the newest are the ones kept
    whole = await rest(hub, "/api/hearings/h-1/transcript")
    assert len(whole) == total and whole[-len(segments) :] == segments
    await ws.close()
    await agent.close()


def test_wire_hub_partial_gate_admits_burst_then_rate() -> None:
    gate = PartialGate(rate=16.0, burst=5)  # binary fractions of a second: exact sums
    assert [gate.admit(100.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert gate.admit(100.03125) is False  # half a token
    assert gate.admit(100.0625) is True  # one token after 1/16 s at 16/s
    assert sum(gate.admit(100.0625 + i / 1024) for i in range(1, 1025)) == 16  # one second
    assert gate.dropped == 3 + 1024 - 16


def test_wire_hub_read_budget_holds_frames_and_bytes() -> None:
    budget = ReadBudget(
        frames_per_second=16.0, frame_burst=4, bytes_per_second=1024, byte_burst=2048
    )
    for _ in range(4):  # the frame burst reads at once
        assert budget.delay(10.0) == 0.0
        budget.charge(10.0, 10)
    assert budget.delay(10.0) == 1 / 16  # then one frame per 1/16 s
    # 1/16 s refilled the byte bucket to its burst (2048); a 4096-byte frame
    # leaves it 2048 in debt, which takes 2 s at 1024 bytes/s to repay
    budget.charge(10.0625, 4096)
    assert budget.delay(10.0625) == 2.0
    assert budget.delay(20.0) == 0.0  # both refilled (capped at their bursts)
    assert budget.waited == 1 / 16 + 2.0


async def test_wire_hub_unencodable_live_message_is_dropped_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Defence in depth for finding 6: one bad value costs one message, never an endpoint."""
    broadcaster = LiveBroadcaster()
    watcher, patroller = LiveSubscriber(queue_size=4), LiveSubscriber(queue_size=4)
    broadcaster.watch(watcher, COURT)
    broadcaster.patrol(patroller)
    bad = {"type": "status", "courtroom": COURT, "status": {"report": {"lag": math.inf}}}
    assert broadcaster.publish(COURT, bad) == 0
    assert "cannot encode" in caplog.text and caplog.records[-1].levelno == logging.ERROR
    good = {"type": "status", "courtroom": COURT, "status": {"report": {"lag": 0.5}}}
    assert broadcaster.publish(COURT, good) == 2
    for subscriber in (watcher, patroller):
        frame = await asyncio.wait_for(subscriber.next_frame(), TIMEOUT)
        assert json.loads(frame)["status"]["report"] == {"lag": 0.5}
        assert not subscriber.overflowed.is_set()
    board = StatusBoard()
    board.update(COURT, now=datetime.now(UTC), online=True, report={"lag": math.nan})
    snapshot = _patrol_snapshot([], {COURT: "第一法庭", OTHER: "第二法庭"}, board)
    assert json.loads(dumps(snapshot))["courtrooms"][0]["status"]["report"] == {}
