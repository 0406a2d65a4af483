"""/ws/live on a real hub: what a clerk's browser sees, and what it may not do."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from courtroom_core.wire import (
    CLOSE_INVALID,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    Event,
    Partial,
    WireError,
    encode,
)
from hub.live import (
    CLOSE_TOO_SLOW,
    LiveBroadcaster,
    LiveSubscriber,
    Patrol,
    Subscribe,
    decode_request,
)
from hub.live_ws import BROWSER_FRAME_LIMIT, CLOSE_UNKNOWN_COURTROOM
from tests.hub.conftest import (
    COURT,
    OTHER,
    TIMEOUT,
    HubFactory,
    RunningHub,
    close_code,
    make_config,
)
from tests.hub.test_agent_ws import final, logged, opened, send_events


async def next_message(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (status pushes may come in between)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == kind:
            return message


async def test_live_without_token_is_refused(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.live_ws")
    ws = await websockets.connect(hub.ws("/ws/live"))
    code, reason = await close_code(ws)
    assert code == CLOSE_UNAUTHORIZED
    refused = [m for m in logged(caplog, "hub.live_ws") if "refused" in m]
    assert len(refused) == 1 and reason in refused[0]


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
        ("[" * 4000, CLOSE_INVALID),
    ],
    ids=[
        "json",
        "type",
        "courtroom-type",
        "binary",
        "unknown-courtroom",
        "oversized",
        "deep-nesting",
    ],
)
async def test_live_bad_frame_is_refused_and_others_survive(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, frame: str | bytes, code: int
) -> None:
    bystander, _ = await hub.browser()
    token = await hub.token()
    ws = await websockets.connect(hub.ws(f"/ws/live?token={token}"))
    await ws.send(frame)
    got, reason = await close_code(ws)
    assert got == code and reason
    closed = [m for m in logged(caplog, "hub.live_ws") if f"closed {code}" in m]
    assert len(closed) == 1 and reason in closed[0]
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    assert (await next_message(bystander, "hearing"))["hearing"]["id"] == "h-1"


async def test_live_patroller_with_bad_frame_is_refused(hub: RunningHub) -> None:
    ws, _ = await patroller(hub)
    await ws.send('{"type": "patrol", "again": true}')
    code, reason = await close_code(ws)
    assert code == CLOSE_INVALID and "patrol" in reason


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
    # Partials are rate-limited at the hub, so the big frames are status reports
    # (shown live, kept in the archive once a minute): ~190 KB each, 60 of them
    # overrun ~4.2 MB of buffers.
    pads = {f"pad{n}": "长" * 16_000 for n in range(4)}
    received = 0
    for i in range(60):
        await send_events(agent, [Event(seq=2 + i, kind="status", body={"i": i, **pads})])
        while True:  # the fast browser keeps up with every message
            message = await next_message(fast, "status")
            if message["status"]["report"].get("i") == i:
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


# -- the patrol subscription --------------------------------------------------


async def patroller(
    hub: RunningHub, **kwargs: Any
) -> tuple[websockets.ClientConnection, dict[str, Any]]:
    """Connect as the patrol wall and return the socket and its patrol-snapshot."""
    token = await hub.token()
    ws = await websockets.connect(hub.ws(f"/ws/live?token={token}"), open_timeout=TIMEOUT, **kwargs)
    await ws.send(json.dumps({"type": "patrol"}))
    snapshot = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert snapshot["type"] == "patrol-snapshot"
    return ws, snapshot


@pytest.mark.parametrize(
    ("frame", "request_"),
    [
        ('{"type": "patrol"}', Patrol()),
        ('{"courtroom": "c", "type": "subscribe"}', Subscribe(courtroom="c")),
        ('{"type":"subscribe","courtroom":"第一法庭"}', Subscribe(courtroom="第一法庭")),
    ],
)
def test_decode_request_accepts_the_two_requests(frame: str, request_: object) -> None:
    assert decode_request(frame) == request_


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type": "patrol"}',
        "",
        "null",
        '["patrol"]',
        '"patrol"',
        "{}",
        '{"type": "Patrol"}',
        '{"type": "patrol", "courtroom": "court-1"}',
        '{"type": "patrol", "types": ["final"]}',
        '{"type": null}',
        '{"type": "subscribe"}',
        '{"type": "subscribe", "courtroom": null}',
        '{"type": "subscribe", "courtroom": ["a"]}',
        '{"type": "subscribe", "courtroom": "a", "extra": 1}',
        '{"type": "patrol"} trailing',
        '{"type": "patrol"}{"type": "patrol"}',
        "[" * 4000,
    ],
)
def test_decode_request_refuses_anything_else(frame: str | bytes) -> None:
    with pytest.raises(WireError):
        decode_request(frame)


_REQUEST_LIKE = st.dictionaries(
    st.sampled_from(["type", "courtroom", "types"]),
    st.one_of(
        st.none(), st.integers(), st.text(max_size=8), st.sampled_from(["patrol", "subscribe"])
    ),
    max_size=3,
).map(json.dumps)


@given(st.one_of(st.text(max_size=64), st.binary(max_size=16), _REQUEST_LIKE))
def test_decode_request_raises_only_wire_error(frame: str | bytes) -> None:
    try:
        request = decode_request(frame)
    except WireError:
        return
    if isinstance(request, Subscribe):
        assert isinstance(request.courtroom, str)
        assert json.loads(frame) == {"type": "subscribe", "courtroom": request.courtroom}
    else:
        assert json.loads(frame) == {"type": "patrol"}


async def test_broadcaster_routes_patrol_types_of_every_courtroom_to_patrollers() -> None:
    broadcaster = LiveBroadcaster()
    clerk, patrol = LiveSubscriber(queue_size=8), LiveSubscriber(queue_size=2)
    broadcaster.watch(clerk, COURT)
    generation = broadcaster.patrol(patrol)
    for message_type in ("final", "partial", "hearing", "alarm"):
        broadcaster.publish(COURT, {"type": message_type, "courtroom": COURT})
    assert broadcaster.publish(OTHER, {"type": "partial", "courtroom": OTHER}) == 0
    assert broadcaster.publish(OTHER, {"type": "status", "courtroom": OTHER}) == 1
    assert [json.loads(await clerk.next_frame())["type"] for _ in range(4)] == [
        "final",
        "partial",
        "hearing",
        "alarm",
    ]
    assert clerk.pending() == 0
    assert patrol.pending() == 2 and patrol.overflowed.is_set()  # the status overflowed it
    broadcaster.watch(patrol, OTHER)  # switching drops what was queued for patrolling
    assert patrol.pending() == 0 and patrol.generation != generation
    assert not patrol.patrolling and broadcaster.patroller_count() == 0
    broadcaster.leave(clerk)
    assert broadcaster.watcher_count(COURT) == 0


async def test_live_patrol_snapshot_lists_every_configured_courtroom(hub: RunningHub) -> None:
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), final(2)])
    _, snapshot = await patroller(hub)
    assert set(snapshot) == {"type", "courtrooms"}
    rooms = snapshot["courtrooms"]
    assert [(r["id"], r["name"]) for r in rooms] == [(COURT, "第一法庭"), (OTHER, "第二法庭")]
    keys = {"id", "name", "hearing", "status", "hearing_state", "compliance"}
    assert all(set(r) == keys for r in rooms)
    assert rooms[0]["hearing"]["id"] == "h-1" and rooms[0]["hearing"]["closed_at"] is None
    assert rooms[0]["status"]["online"] is True
    assert rooms[1]["hearing"] is None and rooms[1]["status"]["online"] is False


async def test_live_subscribe_after_patrol_switches_to_one_courtroom(hub: RunningHub) -> None:
    patrol, _ = await patroller(hub)
    await patrol.send(json.dumps({"type": "subscribe", "courtroom": OTHER}))
    snapshot = await next_message(patrol, "snapshot")
    assert snapshot["courtroom"] == OTHER
    agent, _ = await hub.agent(COURT)  # court-1 is no longer watched by this socket
    await send_events(agent, [opened(1)])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(patrol.recv(), TIMEOUT / 10)
    await patrol.send(json.dumps({"type": "patrol"}))
    again = await next_message(patrol, "patrol-snapshot")
    assert again["courtrooms"][0]["hearing"]["id"] == "h-1"


async def test_live_slow_patroller_is_disconnected_and_others_keep_up(
    hub_factory: HubFactory, tmp_path: Any
) -> None:
    """Overflow policy for patrollers: a full queue (here 4) closes with 4008."""
    from hub.config import LiveConfig

    hub = await hub_factory(make_config(tmp_path, live=LiveConfig(queue_size=4)))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.connect(("127.0.0.1", hub.server.port))
    slow, _ = await patroller(hub, max_queue=1, sock=sock, compression=None)
    fast, _ = await patroller(hub)
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    # ~190 KB per status report (bounded strings, several of them; an alarm is
    # bounded far below): 30 overrun the buffers
    pads = {f"detail{n}": "麦克风无信号" * 2_600 for n in range(4)}
    for seq in range(2, 32):
        body = {"state": "recording", "hearing_id": "h-1", "n": seq, **pads}
        await send_events(agent, [Event(seq=seq, kind="status", body=body)])
        while (await next_message(fast, "status"))["status"]["report"].get("n") != seq:
            pass
    code, reason = await close_code(slow)
    assert code == CLOSE_TOO_SLOW and "slow" in reason
