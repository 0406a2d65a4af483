"""Alarms and camera events on /ws/live, as the patrol wall receives them.

A fake agent speaks the real wire protocol on /ws/agent; a browser-side
websocket subscribes on /ws/live; both talk to a real hub on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
import websockets

from courtroom_core.wire import Event, Partial, Thumbnail, encode
from tests.hub.conftest import COURT, OTHER, OTHER_TOKEN, TIMEOUT, RunningHub
from tests.hub.test_agent_ws import final, opened, send_events
from tests.hub.test_live_ws import next_message, patroller

DEAD_MIC = {
    "kind": "dead_mic",
    "active": True,
    "severity": "critical",
    "source": "microphone",
    "subject": "2",
    "role": "原告",
    "hearing_id": "h-1",
    "time": 61.5,
    "message": "原告麦克风无信号 · 原告 microphone silent for 60 s while others spoke",
}
LEGACY_DEAD_MIC = {  # the same alarm as an agent before protocol 2 sent it
    "kind": "dead_mic",
    "state": "raised",
    "hearing_time": 61.5,
    "channel": 2,
    "role": "原告",
    "message": "原告麦克风无信号 · 原告 microphone silent for 60 s while others spoke",
    "hearing_id": "h-1",
}
CAMERA_OFFLINE = {  # a camera going offline, as an agent before protocol 2 sent it
    "type": "state",
    "camera": "cam-judge",
    "state": "offline",
    "time": 75.0,
    "reason": "no frames",
    "message": "摄像机 cam-judge 离线 / camera cam-judge offline: no frames",
    "hearing_id": "h-1",
}
CAMERA_OFFLINE_ALARM = {  # ... and as the hub shows it: the camera's offline alarm
    "kind": "offline",
    "active": True,
    "severity": "critical",
    "source": "camera",
    "subject": "cam-judge",
    "hearing_id": "h-1",
    "time": 75.0,
    "message": "摄像机 cam-judge 离线 / camera cam-judge offline: no frames",
    "detail": "no frames",
}
CAMERA_GAP = {"type": "gap", "camera": "cam-judge", "start": 75.0, "end": 80.0, "hearing_id": "h-1"}


def alarm(seq: int, **changes: Any) -> Event:
    return Event(seq=seq, kind="av.alarm", body={**DEAD_MIC, **changes})


async def drain(ws: websockets.ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Every message of type ``kind`` until the hub has been quiet for a moment."""
    got: list[dict[str, Any]] = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT / 10))
        except TimeoutError:
            return got
        if message["type"] == kind:
            got.append(message)


async def test_live_alarm_event_is_broadcast_with_seq_and_body(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), alarm(2)])
    pushed = await next_message(browser, "alarm")
    assert pushed == {
        "type": "alarm",
        "courtroom": COURT,
        "kind": "av.alarm",
        "seq": 2,
        "body": DEAD_MIC,
    }


async def test_live_camera_event_is_broadcast_as_alarm(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    gap = Event(seq=2, kind="camera", body=CAMERA_GAP)  # for the record: no alarm
    await send_events(agent, [opened(1), gap, Event(seq=3, kind="camera", body=CAMERA_OFFLINE)])
    pushed = await next_message(browser, "alarm")
    assert pushed == {
        "type": "alarm",
        "courtroom": COURT,
        "kind": "camera",
        "seq": 3,
        "body": CAMERA_OFFLINE_ALARM,
    }


async def test_live_alarm_of_an_old_agent_is_broadcast_in_the_one_shape(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), Event(seq=2, kind="av.alarm", body=LEGACY_DEAD_MIC)])
    pushed = await next_message(browser, "alarm")
    assert (pushed["kind"], pushed["seq"], pushed["body"]) == ("av.alarm", 2, DEAD_MIC)


async def test_live_alarm_resent_after_reconnect_is_broadcast_once(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), alarm(2)])
    await agent.close()  # the agent lost the ack of 2 (say) and resends it
    again, welcome = await hub.agent()
    assert welcome.acked_seq == 2
    cleared = alarm(3, active=False, message="原告麦克风恢复信号 · back")
    assert await send_events(again, [alarm(2), cleared, alarm(2)]) == [2, 3, 3]
    alarms = await drain(browser, "alarm")
    assert [(a["seq"], a["body"]["active"]) for a in alarms] == [(2, True), (3, False)]


async def test_live_transcript_and_device_events_are_not_alarms(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    device = {"time": 1.0, "device": "matrix", "direction": "in", "meaning": "x", "raw": "00"}
    await send_events(agent, [opened(1), final(2), Event(seq=3, kind="device", body=device)])
    await send_events(agent, [alarm(4)])
    alarms = await drain(browser, "alarm")
    assert [a["seq"] for a in alarms] == [4]


async def test_live_alarm_reaches_only_its_courtroom(hub: RunningHub) -> None:
    watcher, _ = await hub.browser(OTHER)
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), alarm(2)])
    assert await drain(watcher, "alarm") == []


async def test_live_status_event_report_is_the_body(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    body = {"state": "recording", "hearing_id": "h-1", "hearing_time": 12.5, "lag": 0.4}
    await send_events(agent, [Event(seq=1, kind="status", body=body)])
    while (status := await next_message(browser, "status"))["status"]["report"] != body:
        pass
    assert status["courtroom"] == COURT
    assert set(status["status"]) == {"online", "last_seen", "report"}
    assert status["status"]["online"] is True


@pytest.mark.parametrize(
    ("kind", "sent", "body"),
    [
        ("av.alarm", DEAD_MIC, DEAD_MIC),
        ("av.alarm", LEGACY_DEAD_MIC, DEAD_MIC),  # archived as sent, mapped when read
        ("camera", CAMERA_OFFLINE, CAMERA_OFFLINE_ALARM),
        ("camera", CAMERA_GAP, CAMERA_GAP),  # no alarm: as stored
    ],
)
async def test_events_endpoint_replays_alarms_a_late_page_missed(
    hub: RunningHub, kind: str, sent: dict[str, Any], body: dict[str, Any]
) -> None:
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), Event(seq=2, kind=kind, body=sent), final(3)])
    headers = {"Authorization": f"Bearer {await hub.token()}"}
    async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=TIMEOUT) as client:
        response = await client.get(f"/api/courtrooms/{COURT}/events", params={"kind": kind})
    response.raise_for_status()
    assert [(e["seq"], e["kind"], e["body"]) for e in response.json()] == [(2, kind, body)]


# -- the patrol subscription sees every courtroom -------------------------------


THUMBNAIL = base64.b64encode(b"\xff\xd8\xff\xe0 tiny \xff\xd9").decode("ascii")


async def agent_activity(agent: websockets.ClientConnection, hearing: str) -> None:
    """One of every message an agent causes: hearing, final, partial, thumbnail,
    status and, last, an alarm (the hub handles one agent's frames in order)."""
    segment = final(2).body["segment"]
    transcript = Event(
        seq=2, kind="transcript.final", body={"hearing_id": hearing, "segment": segment}
    )
    await send_events(agent, [opened(1, hearing), transcript])
    partial = Partial(hearing_id=hearing, channel=0, role="judge", start=3.0, text="请")
    await agent.send(encode(partial))
    await agent.send(
        encode(Thumbnail(hearing_id=hearing, camera="cam-1", time=3.0, jpeg=THUMBNAIL))
    )
    await send_events(agent, [Event(seq=3, kind="status", body={"state": "recording"})])
    await send_events(agent, [alarm(4, hearing_id=hearing)])


async def test_live_patroller_gets_patrol_messages_of_every_courtroom_but_no_transcript(
    hub: RunningHub,
) -> None:
    patrol, _ = await patroller(hub)
    clerk, _ = await hub.browser(COURT)  # proves finals and partials were published
    first, _ = await hub.agent(COURT)
    second, _ = await hub.agent(OTHER, OTHER_TOKEN)
    await agent_activity(first, "h-1")
    await agent_activity(second, "h-2")

    seen: dict[str, set[str]] = {COURT: set(), OTHER: set()}
    alarms: list[tuple[str, int, str]] = []
    while len(alarms) < 2:  # each agent's alarm is its last message
        message = json.loads(await asyncio.wait_for(patrol.recv(), TIMEOUT))
        seen[message["courtroom"]].add(message["type"])
        if message["type"] == "alarm":
            alarms.append((message["courtroom"], message["seq"], message["body"]["hearing_id"]))
        elif message["type"] == "thumbnail":
            assert message["camera"] == "cam-1" and message["time"] == 3.0
    patrol_types = {"hearing", "hearing_state", "status", "thumbnail", "alarm", "compliance"}
    assert seen == {room: patrol_types for room in seen}
    assert alarms == [(COURT, 4, "h-1"), (OTHER, 4, "h-2")]
    clerk_types = set()
    while "alarm" not in clerk_types:
        clerk_types.add(json.loads(await asyncio.wait_for(clerk.recv(), TIMEOUT))["type"])
    assert {"final", "partial"} <= clerk_types
    with pytest.raises(TimeoutError):  # nothing else was queued for the patroller
        await asyncio.wait_for(patrol.recv(), TIMEOUT / 20)


async def test_live_old_camera_body_that_is_no_alarm_is_stored_not_shown(hub: RunningHub) -> None:
    browser, _ = await hub.browser()
    agent, _ = await hub.agent()
    broken = {"type": "alarm", "camera": "cam-judge", "hearing_id": "h-1"}  # no kind
    sent = [opened(1), Event(seq=2, kind="camera", body=broken), alarm(3)]
    assert await send_events(agent, sent) == [1, 2, 3]  # archived and acked
    alarms = await drain(browser, "alarm")
    assert [a["seq"] for a in alarms] == [3]
