"""GET /api/hearings/{id}/compliance and the incident paperwork, on a real hub fed by
a websocket agent; the live ``compliance`` message on the clerk page and patrol wall."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from courtroom_core.wire import Event
from hub.config import UserConfig
from tests.core.test_compliance import (
    H,
    action,
    closed,
    good_hearing,
    incident,
    opened,
    source,
    upload,
)
from tests.hub.conftest import COURT, OTHER, TIMEOUT, HubFactory, RunningHub, make_config
from tests.hub.test_agent_ws import send_events
from tests.hub.test_hearing_api import _HASH, USERS, token_of
from tests.hub.test_live_ws import patroller

ALL_USERS = (
    *USERS,
    UserConfig(username="judge2", password_hash=_HASH, role="judge", courtrooms=(OTHER,)),
)
FAULTY = [
    opened(),
    source("recorder:deck", 0.1, True),
    source("recorder:deck", 5.0, False, "disk-full"),
    action("recording", "failed", 5.0, device="deck", message="disk full"),
    incident("inc-1", "recording", t=5.1),
    upload(6.0, 0.5),
]
BASE = f"/api/hearings/{H}"


def events_of(pairs: list[tuple[str, dict[str, Any]]], first: int = 1) -> list[Event]:
    return [Event(seq=first + i, kind=k, body=b) for i, (k, b) in enumerate(pairs)]


async def start(hub_factory: HubFactory, tmp_path: Path) -> RunningHub:
    return await hub_factory(make_config(tmp_path, users=ALL_USERS))


async def fed(hub_factory: HubFactory, tmp_path: Path, pairs: list[Any]) -> RunningHub:
    hub = await start(hub_factory, tmp_path)
    ws, _ = await hub.agent(COURT)
    await send_events(ws, events_of(pairs))
    await ws.close()
    return hub


async def as_user(hub: RunningHub, username: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {await token_of(hub, username)}"}
    return httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=4 * TIMEOUT)


async def audit(hub: RunningHub, action_name: str, count: int) -> list[dict[str, Any]]:
    async with await as_user(hub, "admin") as admin, asyncio.timeout(TIMEOUT):
        while True:
            response = await admin.get("/api/audit", params={"action": action_name})
            records: list[dict[str, Any]] = response.json()
            if len(records) >= count:
                return records
            await asyncio.sleep(TIMEOUT / 100)  # polling the condition, not a sync sleep


async def test_compliance_served_to_users_of_the_courtroom(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await fed(hub_factory, tmp_path, good_hearing())
    for username in ("clerk1", "judge1", "sup1", "admin"):
        async with await as_user(hub, username) as client:
            response = await client.get(f"{BASE}/compliance")
        assert response.status_code == 200, (username, response.text)
        report = response.json()
        assert report["final"] is True and report["hearing_id"] == H
        assert {p: v["status"] for p, v in report["lights"].items()} == {
            "recording": "green",
            "transcript_display": "green",
            "evidence_display": "green",
            "video": "green",
            "data_upload": "green",
        }
        assert report["interruptions"][0]["reason"] == "recess"
    async with await as_user(hub, "clerk2") as other:
        assert (await other.get(f"{BASE}/compliance")).status_code == 403
        assert (await other.get(f"{BASE}/incidents")).status_code == 403
        assert (await other.get("/api/hearings/nope/compliance")).status_code == 404
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as anonymous:
        assert (await anonymous.get(f"{BASE}/compliance")).status_code == 401
    refused = await audit(hub, "access.refused", 2)
    assert any(r["actor"] == "clerk2" and "compliance" in r["target"] for r in refused)


async def test_compliance_reads_only_its_hearing(hub_factory: HubFactory, tmp_path: Path) -> None:
    second = [
        ("hearing.opened", {"hearing_id": "h-2", "opened_at": "2026-12-05T10:00:00+00:00"}),
        ("device.action", action("recording", "failed")[1] | {"hearing_id": "h-2"}),
        (
            "upload.report",
            {"unacked": 9, "lag_s": 300.0, "time": 3.0, "at": "2026-12-05T10:00:03Z"},
        ),
    ]
    hub = await fed(hub_factory, tmp_path, [*good_hearing(), *second])
    async with await as_user(hub, "clerk1") as clerk:
        first = (await clerk.get(f"{BASE}/compliance")).json()
        later = (await clerk.get("/api/hearings/h-2/compliance")).json()
    assert {v["status"] for v in first["lights"].values()} == {"green"}
    assert first["actions"]["failed"] == 0
    assert later["lights"]["recording"]["status"] == "red"
    assert later["lights"]["data_upload"]["status"] == "red"  # the un-named report is h-2's
    assert later["final"] is False


async def test_incident_explained_then_signed_by_the_judge(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await fed(hub_factory, tmp_path, FAULTY)
    explain, sign = f"{BASE}/incidents/inc-1/explanation", f"{BASE}/incidents/inc-1/sign"
    text = {"text": "录像机硬盘已满，已更换硬盘并继续录制 · disk full, replaced"}
    async with (
        await as_user(hub, "clerk1") as clerk,
        await as_user(hub, "judge1") as judge,
        await as_user(hub, "clerk2") as clerk2,
        await as_user(hub, "judge2") as judge2,
        await as_user(hub, "sup1") as supervisor,
    ):
        [listed] = (await clerk.get(f"{BASE}/incidents")).json()
        assert listed["state"] == "open" and listed["source"] == "recorder:deck"
        early = await judge.post(sign)
        assert early.status_code == 409 and "explained in writing" in early.json()["detail"]
        assert (await clerk2.post(explain, json=text)).status_code == 403  # not its courtroom
        assert (await judge2.post(sign)).status_code == 403
        assert (await supervisor.post(explain, json=text)).status_code == 403  # role
        blank = await clerk.post(explain, json={"text": "   "})
        assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "text"]
        extra = await clerk.post(explain, json=text | {"by": "someone"})
        assert extra.status_code == 422
        long = await clerk.post(explain, json={"text": "长" * 4001})
        assert long.status_code == 422
        missing = await clerk.post(f"{BASE}/incidents/inc-9/explanation", json=text)
        assert missing.status_code == 404
        done = await clerk.post(explain, json=text)
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "explained" and done.json()["explained_by"] == "clerk1"
        assert (await clerk.post(sign)).status_code == 403  # a clerk does not sign
        signed = await judge.post(sign)
        assert signed.status_code == 200, signed.text
        assert (signed.json()["state"], signed.json()["signed_by"]) == ("signed", "judge1")
        assert (await judge.post(sign)).status_code == 409
        late = await clerk.post(explain, json={"text": "改一下"})
        assert late.status_code == 409 and "already signed" in late.json()["detail"]
        report = (await clerk.get(f"{BASE}/compliance")).json()
    [entry] = report["incidents"]
    assert entry["explanation"] == text["text"] and entry["signed_by"] == "judge1"
    assert report["open_incidents"] == 0
    assert report["lights"]["recording"]["status"] == "red"  # explained, still a failure
    explained = await audit(hub, "incident.explain", 2)
    assert {(r["actor"], r["status"]) for r in explained} >= {("clerk1", 200), ("clerk1", 409)}
    signs = await audit(hub, "incident.sign", 3)
    assert [r["status"] for r in signs if r["actor"] == "judge1"] == [409, 200, 409]


async def next_compliance(ws: websockets.ClientConnection, **match: Any) -> dict[str, Any]:
    async with asyncio.timeout(2 * TIMEOUT):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "compliance" and all(
                _at(message, k) == v for k, v in match.items()
            ):
                return message


def _at(message: dict[str, Any], path: str) -> Any:
    value: Any = message
    for key in path.split("__"):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


async def test_compliance_pushed_live_throttled_to_page_and_patrol(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    page, snapshot = await hub.browser(COURT)
    assert snapshot["compliance"] is None
    wall, _ = await patroller(hub)
    agent, _ = await hub.agent(COURT)
    await send_events(agent, events_of([opened(), source("seat:0", 0.1, True), upload(3.0, 0.2)]))
    message = await next_compliance(page, lights__recording__status="green")
    assert message["hearing_id"] == H and message["courtroom"] == COURT
    assert set(message["lights"]) == {
        "recording",
        "transcript_display",
        "evidence_display",
        "video",
        "data_upload",
    }
    await next_compliance(wall, lights__recording__status="green")
    await send_events(agent, events_of(FAULTY[1:5], first=4))
    red = await next_compliance(page, lights__recording__status="red")
    assert red["open_incidents"] == 1 and red["incidents"][0]["id"] == "inc-1"
    await next_compliance(wall, lights__recording__status="red")
    async with await as_user(hub, "clerk1") as clerk:
        response = await clerk.post(f"{BASE}/incidents/inc-1/explanation", json={"text": "已处理"})
        assert response.status_code == 200
    explained = await next_compliance(page, incidents__0__state="explained")
    assert explained["incidents"][0]["explanation"] == "已处理"
    _, again = await hub.browser(COURT)
    assert again["compliance"]["incidents"][0]["state"] == "explained"
    await send_events(agent, events_of([closed(30.0)], first=8))
    final = await next_compliance(page, final=True)
    assert final["session"]["state"] == "closed"
    for ws in (page, wall, agent):
        await ws.close()


async def test_compliance_board_reloads_after_hub_restart(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await fed(hub_factory, tmp_path, FAULTY)
    await hub.stop()
    hub = await start(hub_factory, tmp_path)
    page, snapshot = await hub.browser(COURT)
    assert snapshot["compliance"] is None
    agent, _ = await hub.agent(COURT)
    await send_events(agent, events_of([upload(9.0, 0.3)], first=len(FAULTY) + 1))
    message = await next_compliance(page, lights__recording__status="red")
    assert message["incidents"][0]["id"] == "inc-1"  # loaded from the archive
    await page.close()
    await agent.close()


@pytest.mark.parametrize("path", ["compliance", "incidents"])
async def test_compliance_path_bounds(hub_factory: HubFactory, tmp_path: Path, path: str) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await as_user(hub, "clerk1") as clerk:
        response = await clerk.get(f"/api/hearings/{'x' * 129}/{path}")
    assert response.status_code == 422
