"""POST /api/courtrooms/{id}/evidence: 举证 / 翻页 / 撤回 from the clerk page, forwarded
to the courtroom's agent as an ``evidence`` command (a real hub, a websocket agent
that answers commands: tests/hub/hearing_agent.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from courtroom_core.wire import EvidenceOrder
from tests.hub.conftest import COURT, HubFactory
from tests.hub.hearing_agent import FAILURE, connect
from tests.hub.test_hearing_api import CASE, ROLE_ANSWERS, audit_records, client_of, start

PATH = f"/api/courtrooms/{COURT}/evidence"
HEARING = f"/api/courtrooms/{COURT}/hearing"
PRESENT = {
    "action": "present",
    "exhibit": "证据1",
    "label": "借款合同",
    "file": "合同.pdf",
    "page": 2,
}


async def test_evidence_forwarded_to_the_agent_and_answered_by_outcome(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await connect(hub) as agent, await client_of(hub) as clerk:
        idle = await clerk.post(PATH, json=PRESENT)
        assert idle.status_code == 409, idle.text
        assert "no hearing in session" in idle.json()["message"]
        assert (await clerk.post(HEARING, json={"action": "open", "case": CASE})).status_code == 200
        for body in (
            PRESENT,
            {"action": "page", "exhibit": "证据1", "page": 3, "zoom": 1.5},
            {"action": "present", "exhibit": "物证2", "input": "doc-camera"},
            {"action": "withdraw", "exhibit": "证据1"},
        ):
            response = await clerk.post(PATH, json=body)
            assert response.status_code == 200, (body, response.text)
            assert response.json()["outcome"] == "done"
        orders = [c.data for c in agent.commands if isinstance(c.data, EvidenceOrder)]
    assert [(o.action, o.exhibit) for o in orders] == [
        ("present", "证据1"),
        ("present", "证据1"),
        ("page", "证据1"),
        ("present", "物证2"),
        ("withdraw", "证据1"),
    ]
    assert {o.by for o in orders} == {"clerk1"}
    assert orders[1].file == "合同.pdf" and orders[1].page == 2
    assert orders[2].zoom == 1.5 and orders[3].input == "doc-camera"
    records = await audit_records(hub, 6)
    evidence = [r for r in records if r["detail"].get("command") == "evidence"]
    assert [r["status"] for r in evidence] == [200, 200, 200, 200, 409]
    assert {r["actor"] for r in evidence} == {"clerk1"}


async def test_evidence_a_screen_failing_is_502_and_an_offline_agent_503_at_once(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    async with await client_of(hub) as clerk:
        started = time.monotonic()
        offline = await clerk.post(PATH, json=PRESENT)
        assert offline.status_code == 503, offline.text
        assert time.monotonic() - started < 1.0
        async with await connect(hub, answer="fail") as agent:
            agent.state = agent.state.__class__("open")
            failed = await clerk.post(PATH, json=PRESENT)
    assert failed.status_code == 502, failed.text
    assert failed.json()["message"] == FAILURE


async def test_evidence_only_the_courtrooms_clerk_or_judge_and_unfit_is_422(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    hub = await start(hub_factory, tmp_path)
    unfit: list[tuple[dict[str, Any], list[str]]] = [
        ({"action": "present", "exhibit": "证据1"}, ["body", "file"]),
        ({"action": "page", "exhibit": "证据1"}, ["body", "page"]),
        ({"action": "burn", "exhibit": "证据1"}, ["body", "action"]),
        ({"action": "withdraw", "exhibit": ""}, ["body", "exhibit"]),
        ({"action": "page", "exhibit": "证据1", "zoom": 99}, ["body", "zoom"]),
        ({"action": "withdraw", "exhibit": "x", "path": "/etc"}, ["body", "path"]),
    ]
    async with await connect(hub) as agent:
        for username, status in ROLE_ANSWERS:
            async with await client_of(hub, username) as user:
                response = await user.post(PATH, json={"action": "withdraw", "exhibit": "证据1"})
            expected = 409 if status == 200 else status  # the judge reaches the idle agent
            assert response.status_code == expected, (username, response.text)
        async with await client_of(hub) as clerk:
            for body, loc in unfit:
                response = await clerk.post(PATH, json=body)
                assert response.status_code == 422, (body, response.text)
                assert [p["loc"] for p in response.json()["detail"]] == [loc], body
        assert [c.data.by for c in agent.commands] == ["judge1"]
