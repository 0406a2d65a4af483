"""/ws/live on a real hub: what a clerk's browser sees, and what it may not do."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import websockets

from hub.live import CLOSE_TOO_SLOW
from hub.live_ws import BROWSER_FRAME_LIMIT, CLOSE_UNKNOWN_COURTROOM
from hub.wire import CLOSE_INVALID, CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED, Event, Partial, encode
from tests.hub.conftest import (
    COURT,
    TIMEOUT,
    HubFactory,
    RunningHub,
    close_code,
    make_config,
)
from tests.hub.test_agent_ws import final, opened, send_events


async def next_message(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (status pushes may come in between)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == kind:
            return message


async def test_live_without_token_is_refused(hub: RunningHub) -> None:
    ws = await websockets.connect(hub.ws("/ws/live"))
    assert (await close_code(ws))[0] == CLOSE_UNAUTHORIZED


async def test_live_forged_token_is_refused(hub: RunningHub) -> None:
    token = await hub.token()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    ws = await websockets.connect(hub.ws(f"/ws/live?token={forged}"))
    code, reason = await close_code(ws)
    assert code == CLOSE_UNAUTHORIZED and "token" in reason


async def test_live_snapshot_of_empty_courtroom(hub: RunningHub) -> None:
    _, snapshot = await hub.browser()
    assert snapshot["courtroom"] == COURT
    assert snapshot["hearing"] is None and snapshot["segments"] == []
    assert snapshot["status"]["online"] is False


async def test_live_browser_receives_hearing_partial_and_final(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    hearing = await next_message(browser, "hearing")
    assert hearing["hearing"]["id"] == "h-1" and hearing["hearing"]["title"] == "民事一审"
    partial = Partial(hearing_id="h-1", channel=0, role="judge", start=1.0, text="现在")
    await agent.send(encode(partial))
    live = await next_message(browser, "partial")
    assert live == {
        "type": "partial",
        "courtroom": COURT,
        "hearing_id": "h-1",
        "channel": 0,
        "role": "judge",
        "start": 1.0,
        "text": "现在",
    }
    await send_events(agent, [final(2)])
    pushed = await next_message(browser, "final")
    assert pushed["hearing_id"] == "h-1"
    assert pushed["segment"]["seq"] == 2 and pushed["segment"]["text"] == "现在开庭"


async def test_live_snapshot_holds_current_hearing_and_segments(hub: RunningHub) -> None:
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1, "old"), opened(2), final(3), final(4, "请坐", 2.0)])
    _, snapshot = await hub.browser()
    assert snapshot["hearing"]["id"] == "h-1"
    assert [s["seq"] for s in snapshot["segments"]] == [3, 4]
    assert snapshot["status"]["online"] is True


async def test_live_partials_are_not_archived(hub: RunningHub) -> None:
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    await agent.send(encode(Partial(hearing_id="h-1", channel=0, role="judge", start=0, text="x")))
    await send_events(agent, [final(2)])
    _, snapshot = await hub.browser()
    assert [s["text"] for s in snapshot["segments"]] == ["现在开庭"]


async def test_live_switching_courtroom_sends_new_snapshot(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    await browser.send(json.dumps({"type": "subscribe", "courtroom": "court-2"}))
    snapshot = await next_message(browser, "snapshot")
    assert snapshot["courtroom"] == "court-2"
    agent, _ = await hub.agent()  # court-1 activity must not reach this browser now
    await send_events(agent, [opened(1)])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(browser.recv(), TIMEOUT / 10)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{oops", CLOSE_INVALID),
        ('{"type": "unsubscribe"}', CLOSE_INVALID),
        ('{"type": "subscribe", "courtroom": 7}', CLOSE_INVALID),
        (b"\x01\x02", CLOSE_INVALID),
        ('{"type": "subscribe", "courtroom": "nope"}', CLOSE_UNKNOWN_COURTROOM),
        ("x" * (BROWSER_FRAME_LIMIT + 1), CLOSE_TOO_BIG),
    ],
    ids=["json", "type", "courtroom-type", "binary", "unknown-courtroom", "oversized"],
)
async def test_live_bad_frame_is_refused_and_others_survive(
    hub: RunningHub, frame: str | bytes, code: int
) -> None:
    bystander, _ = await hub.browser()
    token = await hub.token()
    ws = await websockets.connect(hub.ws(f"/ws/live?token={token}"))
    await ws.send(frame)
    got, reason = await close_code(ws)
    assert got == code and reason
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    assert (await next_message(bystander, "hearing"))["hearing"]["id"] == "h-1"


async def test_live_slow_browser_is_disconnected_and_others_keep_up(
    hub_factory: HubFactory, tmp_path: Any
) -> None:
    """Overflow policy: a browser whose queue (here 4) is full is closed with 4008."""
    from hub.config import LiveConfig

    hub = await hub_factory(make_config(tmp_path, live=LiveConfig(queue_size=4)))
    # The slow browser stops reading: its client buffers 1 frame, then its small
    # receive buffer and the hub's send buffer (at most 4 MB here) fill up;
    # compression is off so the frames really are that big on the wire.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.connect(("127.0.0.1", hub.server.port))
    slow, _ = await hub.browser(max_queue=1, sock=sock, compression=None)
    fast, _ = await hub.browser()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    text = "长" * 60_000  # ~180 KB per partial: 60 of them overrun ~4.2 MB of buffers
    received = 0
    for i in range(60):
        partial = Partial(hearing_id="h-1", channel=0, role="judge", start=float(i), text=text)
        await agent.send(encode(partial))
        while True:  # the fast browser keeps up with every message
            message = await next_message(fast, "partial")
            if message["start"] == float(i):
                received += 1
                break
    assert received == 60
    code, reason = await close_code(slow)
    assert code == CLOSE_TOO_SLOW and "slow" in reason
    again, snapshot = await hub.browser()  # a reconnect gets a fresh snapshot
    assert snapshot["hearing"]["id"] == "h-1"
    await again.close()


async def test_live_status_event_reaches_browser(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    online = await next_message(browser, "status")
    assert online["status"]["online"] is True
    await send_events(agent, [Event(seq=1, kind="status", body={"state": "degraded"})])
    report = await next_message(browser, "status")
    assert report["status"]["report"] == {"state": "degraded"}
