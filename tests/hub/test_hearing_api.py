"""POST /api/courtrooms/{id}/hearing and the hearing state, on a real hub with
websocket agents that answer commands (tests/hub/hearing_agent.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from courtroom_core.wire import CLOSE_INVALID, Hello, Result, encode
from hub.config import LimitsConfig, UserConfig
from hub.security import hash_password
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
from tests.hub.hearing_agent import FAILURE, connect
from tests.hub.test_agent_ws import opened, send_events

PASSWORD = "hearing-pass"
_HASH = hash_password(PASSWORD)
USERS = (
    UserConfig(username="clerk1", password_hash=_HASH, role="clerk", courtrooms=(COURT,)),
    UserConfig(username="judge1", password_hash=_HASH, role="judge", courtrooms=(COURT,)),
    UserConfig(username="clerk2", password_hash=_HASH, role="clerk", courtrooms=(OTHER,)),
    UserConfig(username="sup1", password_hash=_HASH, role="supervisor"),
)
CASE = {
    "number": "(2026)京0105民初1234号",
    "title": "买卖合同纠纷",
    "parties": [{"role": "审判长", "name": "王法官", "channel": 0}, {"role": "原告", "channel": 1}],
}
PATH = f"/api/courtrooms/{COURT}/hearing"


async def start(hub_factory: HubFactory, tmp_path: Path, **limits: Any) -> RunningHub:
    config = make_config(tmp_path, users=USERS, limits=LimitsConfig(**limits))
    return await hub_factory(config)


async def token_of(hub: RunningHub, username: str) -> str:
    if username == "admin":
        return await hub.token()
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        response = await client.post(
            "/api/login", json={"username": username, "password": PASSWORD}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def client_of(hub: RunningHub, username: str = "clerk1") -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {await token_of(hub, username)}"}
    return httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=4 * TIMEOUT)


async def audit_records(hub: RunningHub, count: int) -> list[dict[str, Any]]:
    """The newest ``hearing.command`` audit records, once ``count`` are written
    (the audit queue writes in the background)."""
    async with await client_of(hub, "admin") as admin:
        async with asyncio.timeout(TIMEOUT):
            while True:
                response = await admin.get("/api/audit", params={"action": "hearing.command"})
                records: list[dict[str, Any]] = response.json()
                if len(records) >= count:
                    return records
                await asyncio.sleep(TIMEOUT / 100)  # polling the condition, not a sync sleep


async def room_state(hub: RunningHub) -> dict[str, Any]:
    async with await client_of(hub) as clerk:
        rooms = (await clerk.get("/api/courtrooms")).json()
    state: dict[str, Any] = rooms[0]["hearing_state"]
    return state


async def next_state_message(browser: websockets.ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = json.loads(await browser.recv())
            if message["type"] == "hearing_state":
                state: dict[str, Any] = message["hearing_state"]
                return state


async def test_hearing_every_action_forwarded_answered_200_pushed_live_and_audited(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    browser, snapshot = await hub.browser(COURT)
    assert snapshot["hearing_state"] == {"state": "idle", "reason": None, "hearing_id": None}
    async with await connect(hub) as agent, await client_of(hub) as clerk:
        assert agent.welcome.version == 2
        steps = [
            ({"action": "open", "case": CASE}, {"state": "open", "hearing_id": "h-1"}),
            (
                {"action": "recess", "reason": "mediation"},
                {"state": "recess", "reason": "mediation", "hearing_id": "h-1"},
            ),
            ({"action": "resume"}, {"state": "open", "hearing_id": "h-1"}),
            ({"action": "close"}, {"state": "idle", "hearing_id": None}),
        ]
        for request, expected in steps:
            response = await clerk.post(PATH, json=request)
            assert response.status_code == 200, response.text
            answer = response.json()
            full = {"reason": None} | expected
            assert answer["outcome"] == "done" and answer["action"] == request["action"]
            assert answer["state"] == full
            assert await next_state_message(browser) == full  # pushed live
        orders = [c.data for c in agent.commands]
    assert [o.action for o in orders] == ["open", "recess", "resume", "close"]
    assert {o.by for o in orders} == {"clerk1"}
    assert orders[0].case is not None and orders[0].case.number == CASE["number"]
    assert orders[0].case.parties[1].role == "原告" and orders[1].reason == "mediation"
    assert await room_state(hub) == {"state": "idle", "reason": None, "hearing_id": None}
    async with await client_of(hub) as clerk:
        ledger = (await clerk.get(f"/api/courtrooms/{COURT}/events?kind=command")).json()
        recessed = (await clerk.get(f"/api/courtrooms/{COURT}/events?kind=hearing.recessed")).json()
    assert [(e["body"]["action"], e["body"]["outcome"]) for e in ledger] == [
        ("open", "done"),
        ("recess", "done"),
        ("resume", "done"),
        ("close", "done"),
    ]
    assert recessed[0]["body"]["reason"] == "mediation"
    assert recessed[0]["body"]["ordered_by"] == "clerk1"
    records = await audit_records(hub, 4)
    assert [r["status"] for r in records] == [200] * 4
    assert [r["detail"]["action"] for r in records] == ["close", "resume", "recess", "open"]
    assert {r["actor"] for r in records} == {"clerk1"}
    assert records[2]["detail"]["reason"] == "mediation"
    assert [r["detail"]["command"] for r in records] == [c.id for c in agent.commands][::-1]


async def test_hearing_refused_transition_is_409_with_the_agents_refusal(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await connect(hub), await client_of(hub) as clerk:
        response = await clerk.post(PATH, json={"action": "resume"})
    assert response.status_code == 409
    answer = response.json()
    assert answer["outcome"] == "refused"
    assert "cannot resume a hearing that is idle" in answer["message"]
    assert answer["state"] == {"state": "idle", "reason": None, "hearing_id": None}
    records = await audit_records(hub, 1)
    assert records[0]["status"] == 409 and records[0]["detail"]["outcome"] == "refused"


async def test_hearing_failed_command_is_502_with_the_device_error(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await connect(hub, answer="fail"), await client_of(hub) as clerk:
        response = await clerk.post(PATH, json={"action": "open", "case": CASE})
    assert response.status_code == 502
    assert response.json()["message"] == FAILURE
    assert response.json()["state"]["state"] == "idle"


async def test_hearing_offline_agent_is_503_at_once_and_audited(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await client_of(hub) as clerk:
        began = time.monotonic()
        response = await clerk.post(PATH, json={"action": "open", "case": CASE})
        elapsed = time.monotonic() - began
    assert response.status_code == 503
    assert elapsed < 1.0, f"an offline agent must be answered at once, took {elapsed:.2f} s"
    assert response.json()["detail"] == "法庭终端离线 · the courtroom agent is offline"
    records = await audit_records(hub, 1)
    assert records[0]["status"] == 503 and records[0]["detail"]["outcome"] == "AgentOffline"


async def test_hearing_protocol_1_agent_is_503_too_old_while_its_events_are_stored(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    ws = await websockets.connect(hub.ws("/ws/agent"), open_timeout=TIMEOUT)
    await ws.send(encode(Hello(courtroom=COURT, token="agent-token-court-1")))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert welcome == {"type": "welcome", "acked_seq": 0}  # no version: it refuses unknown keys
    assert await send_events(ws, [opened(1)]) == [1]
    async with await client_of(hub) as clerk:
        response = await clerk.post(PATH, json={"action": "recess", "reason": "recess"})
        rooms = (await clerk.get("/api/courtrooms")).json()
    assert response.status_code == 503
    assert "too old" in response.json()["detail"] and "版本过旧" in response.json()["detail"]
    assert rooms[0]["hearing"]["id"] == "h-1"
    assert rooms[0]["hearing_state"] == {"state": "open", "reason": None, "hearing_id": "h-1"}
    await ws.close()


async def test_hearing_unanswered_command_is_504_and_its_late_result_ignored(
    hub_factory: HubFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await start(hub_factory, tmp_path, command_timeout_s=TIMEOUT / 10)
    async with await connect(hub, answer="silent") as agent, await client_of(hub) as clerk:
        response = await clerk.post(PATH, json={"action": "close"})
        assert response.status_code == 504
        assert "未应答" in response.json()["detail"]
        late = Result(id=agent.commands[0].id, outcome="done", state={"state": "idle"})
        await agent.ws.send(encode(late))
        await agent.send_event("status", {"state": "recording"})  # the link still serves
    assert any("answers no pending command" in r.getMessage() for r in caplog.records)


async def test_hearing_fifth_pending_command_is_429_and_a_drop_fails_the_rest_503(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path, command_timeout_s=4 * TIMEOUT)
    agent = await connect(hub, answer="silent")
    async with agent, await client_of(hub) as clerk:
        waiting = [
            asyncio.create_task(clerk.post(PATH, json={"action": "close"})) for _ in range(4)
        ]
        await agent.wait_commands(4)
        busy = await clerk.post(PATH, json={"action": "close"})
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        await agent.ws.close()
        answers = await asyncio.gather(*waiting)
    assert [a.status_code for a in answers] == [503] * 4
    assert all("断开" in a.json()["detail"] for a in answers)


ROLE_ANSWERS = [("clerk2", 403), ("sup1", 403), ("admin", 403), ("judge1", 200)]
"""Who may order court-1's hearing: its judge (and clerk); not court-2's clerk,
a supervisor or an admin."""

UNFIT = [
    ({"action": "recess", "reason": "lunch"}, ["body", "reason"]),
    ({"action": "recess"}, ["body", "reason"]),
    ({"action": "open", "reason": "recess"}, ["body", "reason"]),
    ({"action": "close", "case": CASE}, ["body", "case"]),
    ({"action": "resume", "join": "h-1"}, ["body", "join"]),
    ({"action": "adjourn"}, ["body", "action"]),
    ({"action": "open", "case": {"number": ""}}, ["body", "case", "number"]),
    ({"action": "open", "case": {"number": "   "}}, ["body", "case", "number"]),
    (
        {"action": "open", "case": {"number": "1", "parties": [{"role": "x", "channel": -1}]}},
        ["body", "case", "parties", 0, "channel"],
    ),
    ({"action": "open", "by": "someone else"}, ["body", "by"]),
    ({"action": "open", "join": "no-such-hearing"}, ["body", "join"]),
]


async def test_hearing_only_the_courtrooms_clerk_or_judge_orders(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await connect(hub) as agent:
        for username, status in ROLE_ANSWERS:
            async with await client_of(hub, username) as user:
                response = await user.post(PATH, json={"action": "open", "case": CASE})
            assert response.status_code == status, (username, response.text)
        assert [c.data.by for c in agent.commands] == ["judge1"]


async def test_hearing_unfit_request_is_422_naming_the_field(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await connect(hub) as agent, await client_of(hub) as clerk:
        for body, loc in UNFIT:
            response = await clerk.post(PATH, json=body)
            assert response.status_code == 422, (body, response.text)
            assert [problem["loc"] for problem in response.json()["detail"]] == [loc], body
        assert agent.commands == []


async def test_hearing_join_sends_the_hearings_open_time(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    court, _ = await hub.agent(OTHER, OTHER_TOKEN)
    await send_events(court, [opened(1, "h-court")])
    async with await connect(hub) as site, await client_of(hub) as clerk:
        response = await clerk.post(PATH, json={"action": "open", "join": "h-court"})
        assert response.status_code == 200, response.text
        join = site.commands[0].data.join
    assert join is not None and join.hearing_id == "h-court"
    assert join.opened_at.startswith("2025-03-01T01:00:00")
    assert response.json()["state"]["hearing_id"] == "h-court"
    await court.close()


async def test_hearing_state_follows_status_reports_and_survives_a_hub_restart(
    hub_factory: HubFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await start(hub_factory, tmp_path)
    patrol = await websockets.connect(hub.ws(f"/ws/live?token={await hub.token()}"))
    await patrol.send(json.dumps({"type": "patrol"}))
    snapshot = json.loads(await asyncio.wait_for(patrol.recv(), TIMEOUT))
    assert snapshot["courtrooms"][0]["hearing_state"]["state"] == "idle"
    async with await connect(hub) as agent:
        report = {"state": "recording", "hearing_state": {"state": "open", "hearing_id": "h-7"}}
        await agent.send_event("status", report)
        assert await next_state_message(patrol) == {
            "state": "open",
            "reason": None,
            "hearing_id": "h-7",
        }
        bad = {"hearing_state": {"state": "recess", "reason": "lunch"}}
        await agent.send_event("status", bad)  # stored as a status, the state kept
        assert (await room_state(hub))["state"] == "open"
        await agent.send_event("hearing.opened", {"hearing_id": "h-7", "title": "t"})
        recessed = {
            "hearing_id": "h-7",
            "reason": "closed-evidence",
            "time": 3.0,
            "at": "2026-01-01T09:00:00+00:00",
        }
        await agent.send_event("hearing.recessed", recessed)
        assert (await next_state_message(patrol))["reason"] == "closed-evidence"
    assert any("hearing_state.reason must be one of" in r.getMessage() for r in caplog.records)
    await patrol.close()
    await hub.stop()
    restarted = await hub_factory(make_config(tmp_path, users=USERS))
    assert await room_state(restarted) == {
        "state": "recess",
        "reason": "closed-evidence",
        "hearing_id": "h-7",
    }


@pytest.mark.parametrize("version", [3, 1000])
async def test_hello_of_an_unknown_version_is_refused_naming_the_field(
    hub: RunningHub, version: int
) -> None:
    ws = await websockets.connect(hub.ws("/ws/agent"), open_timeout=TIMEOUT)
    await ws.send(encode(Hello(courtroom=COURT, token="agent-token-court-1", version=version)))
    code, reason = await close_code(ws)
    assert code == CLOSE_INVALID and "hello.version" in reason and "1..2" in reason


async def test_result_from_a_protocol_1_agent_closes_it(hub: RunningHub) -> None:
    ws, _ = await hub.agent()
    await ws.send(encode(Result(id="x", outcome="done")))
    code, reason = await close_code(ws)
    assert code == CLOSE_INVALID and "result" in reason
