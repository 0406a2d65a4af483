"""/ws/agent on a real hub: authentication, delivery guarantee, bad frames."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from courtroom_core.wire import (
    CLOSE_INVALID,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    MAX_FRAME_BYTES,
    Ack,
    Event,
    Hello,
    decode,
    encode,
)
from hub.agent_ws import CLOSE_REPLACED
from tests.hub.conftest import (
    COURT,
    COURT_TOKEN,
    OTHER,
    TIMEOUT,
    HubFactory,
    RunningHub,
    close_code,
)

SEGMENT = {
    "start": 1.0,
    "end": 2.0,
    "channel": 0,
    "role": "judge",
    "text": "现在开庭",
    "confidence": 0.93,
    "words": [{"word": "现在", "start": 1.0, "end": 1.4, "conf": 0.9}],
}


def opened(seq: int = 1, hearing: str = "h-1") -> Event:
    body = {"hearing_id": hearing, "title": "民事一审", "opened_at": "2025-03-01T09:00:00+08:00"}
    return Event(seq=seq, kind="hearing.opened", body=body)


def final(seq: int, text: str = "现在开庭", start: float = 1.0) -> Event:
    segment = {**SEGMENT, "text": text, "start": start, "end": start + 1}
    return Event(seq=seq, kind="transcript.final", body={"hearing_id": "h-1", "segment": segment})


async def send_events(ws: websockets.ClientConnection, events: list[Event]) -> list[int]:
    acks = []
    for event in events:
        await ws.send(encode(event))
        ack = decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert isinstance(ack, Ack)
        acks.append(ack.seq)
    return acks


async def transcript(hub: RunningHub, hearing: str = "h-1") -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {await hub.token()}"}
    async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=TIMEOUT) as client:
        response = await client.get(f"/api/hearings/{hearing}/transcript")
        response.raise_for_status()
        result: list[dict[str, object]] = response.json()
        return result


def logged(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    """What the hub's ``logger`` said (WARNING and up are captured by default)."""
    return [r.getMessage() for r in caplog.records if r.name == logger]


async def test_agent_wrong_token_is_closed_unauthorized(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await websockets.connect(hub.ws("/ws/agent"))
    await ws.send(encode(Hello(courtroom=COURT, token="not-the-token")))
    code, reason = await close_code(ws)
    assert code == CLOSE_UNAUTHORIZED and "token" in reason
    # The refusal is in the hub's log for the IT staff, naming the courtroom's problem.
    refused = [m for m in logged(caplog, "hub.agent_ws") if "refused" in m]
    assert len(refused) == 1 and reason in refused[0]


async def test_agent_unknown_courtroom_is_closed_unauthorized(hub: RunningHub) -> None:
    ws = await websockets.connect(hub.ws("/ws/agent"))
    await ws.send(encode(Hello(courtroom="court-99", token=COURT_TOKEN)))
    assert (await close_code(ws))[0] == CLOSE_UNAUTHORIZED


async def test_agent_first_frame_not_hello_is_closed_unauthorized(hub: RunningHub) -> None:
    ws = await websockets.connect(hub.ws("/ws/agent"))
    await ws.send(encode(opened()))
    assert (await close_code(ws))[0] == CLOSE_UNAUTHORIZED


async def test_agent_welcome_starts_at_zero_and_acks_are_cumulative(hub: RunningHub) -> None:
    ws, welcome = await hub.agent()
    assert welcome.acked_seq == 0
    assert await send_events(ws, [opened(1), final(2), final(3, "请坐", 3.0)]) == [1, 2, 3]
    await ws.close()
    assert [s["seq"] for s in await transcript(hub)] == [2, 3]


async def test_agent_resent_events_are_stored_once(hub: RunningHub) -> None:
    ws, _ = await hub.agent()
    events = [opened(1), final(2), final(3, "请坐", 3.0)]
    await send_events(ws, events)
    await ws.close()
    ws, welcome = await hub.agent()
    assert welcome.acked_seq == 3
    assert await send_events(ws, events) == [3, 3, 3]
    segments = await transcript(hub)
    assert [(s["seq"], s["text"]) for s in segments] == [(2, "现在开庭"), (3, "请坐")]
    assert segments[0]["words"] == SEGMENT["words"]


async def test_agent_gap_is_refused_unstored(hub: RunningHub) -> None:
    """An event ahead of the next seq is never stored: it could take that seq from
    the genuine event (issue 11, finding 8). The agent resends in order."""
    ws, _ = await hub.agent()
    assert await send_events(ws, [opened(1)]) == [1]
    await ws.send(encode(final(3, "三", 3.0)))
    code, reason = await close_code(ws)
    assert code == CLOSE_INVALID and "event.seq 3 skips ahead of seq 2" in reason
    ws, welcome = await hub.agent()
    assert welcome.acked_seq == 1
    assert await send_events(ws, [final(2, "二", 2.0), final(3, "三", 3.0)]) == [2, 3]
    assert [s["seq"] for s in await transcript(hub)] == [2, 3]


async def test_agent_resend_keeps_exactly_once(hub: RunningHub) -> None:
    ws, _ = await hub.agent()
    order = [opened(1), final(2, "二", 2.0), opened(1), final(3, "三", 3.0), final(2, "二", 2.0)]
    assert await send_events(ws, order) == [1, 2, 2, 3, 3]
    assert [s["seq"] for s in await transcript(hub)] == [2, 3]


async def test_agent_welcome_survives_hub_restart(hub_factory: HubFactory) -> None:
    hub = await hub_factory()
    ws, _ = await hub.agent()
    await send_events(ws, [opened(1), final(2)])
    await hub.stop()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    restarted = await hub_factory()
    assert restarted.url != "" and restarted.server.config == hub.server.config
    ws, welcome = await restarted.agent()
    assert welcome.acked_seq == 2
    assert await send_events(ws, [final(2), final(3, "三", 3.0), final(4, "四", 4.0)]) == [2, 3, 4]
    assert [s["seq"] for s in await transcript(restarted)] == [2, 3, 4]


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("{not json", CLOSE_INVALID, "not valid JSON"),
        ('{"type": "launch"}', CLOSE_INVALID, "unknown message type"),
        ('{"type": "event", "seq": 0, "kind": "status"}', CLOSE_INVALID, "seq"),
        ('{"type": "ack", "seq": 1}', CLOSE_INVALID, "unexpected ack"),
        (b"\x00\x01binary", CLOSE_INVALID, "binary"),
        ("x" * (MAX_FRAME_BYTES + 1), CLOSE_TOO_BIG, "exceeds"),
    ],
    ids=["json", "unknown-type", "bad-field", "hub-message", "binary", "oversized"],
)
async def test_agent_bad_frame_closes_and_hub_serves_others(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, frame: str | bytes, code: int, reason: str
) -> None:
    bystander, _ = await hub.agent(OTHER, "agent-token-court-2")
    ws, _ = await hub.agent()
    await ws.send(frame)
    got_code, got_reason = await close_code(ws)
    assert got_code == code and reason in got_reason
    closed = [m for m in logged(caplog, "hub.agent_ws") if f"closed {code}" in m]
    assert len(closed) == 1 and got_reason in closed[0]
    opened_other = Event(seq=1, kind="hearing.opened", body={"hearing_id": "h-o", "title": "x"})
    assert await send_events(bystander, [opened_other]) == [1]
    ws, welcome = await hub.agent()
    assert welcome.acked_seq == 0


async def test_agent_second_connection_replaces_first(hub: RunningHub) -> None:
    first, _ = await hub.agent()
    second, _ = await hub.agent()
    code, _ = await close_code(first)
    assert code == CLOSE_REPLACED
    assert await send_events(second, [opened(1)]) == [1]


async def test_agent_status_event_shows_courtroom_online(hub: RunningHub) -> None:
    ws, _ = await hub.agent()
    status = Event(seq=1, kind="status", body={"state": "recording", "channels": 4})
    await send_events(ws, [status])
    browser, snapshot = await hub.browser()
    assert snapshot["status"]["online"] is True
    assert snapshot["status"]["report"] == {"state": "recording", "channels": 4}
    await ws.close()
    offline = json.loads(await asyncio.wait_for(browser.recv(), TIMEOUT))
    assert offline["type"] == "status" and offline["status"]["online"] is False
