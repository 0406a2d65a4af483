"""五同步 end to end: a real hub, a real agent (real Vosk, real-time speech) and every
piece of the demo courtroom's equipment as a simulator process.

* A full hearing, driven from the courtroom PC's control socket: 开庭, evidence
  (a PDF page and the document camera) presented and withdrawn, speakers
  changing seats (the camera follows), 休庭 with its reason, 继续开庭, 闭庭 —
  all five lights green at the hub, every recorder and screen confirmed in
  the ledger, the markers in the recording manifest; a display page in
  Chromium shows finals and the exhibit; the clerk presents the document
  camera from the clerk page.
* The same room with its recorder's disk filling, its matrix not answering
  and the gallery display unplugged: the recording and evidence lights red,
  an incident for each, device alarms at the hub within 2 s; the clerk
  explains the recorder's incident and the judge signs it; then the hub
  stops and the gallery screen keeps showing new finals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from av.recording import check_recording
from courtroom_agent.config import AgentConfig
from courtroom_agent.control import request
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.demo_cli import (
    DEMO_CASE,
    PRESENT_FILE,
    PRESENT_LIVE,
    WITHDRAW_FILE,
    _demo_camera,
    demo_evidence,
)
from courtroom_agent.demo_equipment import DemoEquipment
from courtroom_agent.runner import control_socket, run_agent
from hub.config import load_config
from hub.security import hash_password
from hub.server import HubServer
from tests.agent.test_hearing_control import until
from tests.hub.conftest import TIMEOUT
from tests.hub.test_clerk_page import browser  # noqa: F401  (the Chromium fixture)
from tests.test_end_to_end import ROLES
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow
TOKEN = "fy-01-token-0123456789"
USERS = {"clerk1": ("clerk", "clerk-pass-1"), "judge1": ("judge", "judge-pass-1")}


class Room:
    """The hub, the equipment and the agent of one courtroom, and the clerk's view."""

    def __init__(self, hub: HubServer, equipment: DemoEquipment, data_dir: Path) -> None:
        self.hub = hub
        self.equipment = equipment
        self.data_dir = data_dir
        self.bearers: dict[str, str] = {}
        self.socket = Path()
        self.display = ""
        self.task: asyncio.Task[Any] | None = None
        self.stop = asyncio.Event()

    async def login(self) -> None:
        async with httpx.AsyncClient(base_url=self.hub.url) as client:
            for user, (_, password) in USERS.items():
                reply = await client.post(
                    "/api/login", json={"username": user, "password": password}
                )
                reply.raise_for_status()
                self.bearers[user] = reply.json()["token"]

    async def get(self, path: str, user: str = "clerk1", **params: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.hub.url, timeout=TIMEOUT) as client:
            reply = await client.get(
                path, params=params, headers={"Authorization": f"Bearer {self.bearers[user]}"}
            )
            reply.raise_for_status()
            return reply.json()

    async def post(self, path: str, body: dict[str, Any], user: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.hub.url, timeout=TIMEOUT) as client:
            return await client.post(
                path, json=body, headers={"Authorization": f"Bearer {self.bearers[user]}"}
            )

    async def events(self, kind: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self.get("/api/courtrooms/fy-01/events", kind=kind)
        return rows

    async def order(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await request(self.socket, body, wait=12 * TIMEOUT)
        return answer


@pytest.fixture
async def make_room(
    tmp_path: Path, speech: list[SpeechSample], unused_tcp_port_factory: Any
) -> AsyncIterator[Any]:
    rooms: list[tuple[Room, Any]] = []

    async def make(*faults: tuple[str, str]) -> Room:
        config = load_config(
            None,
            data_dir=str(tmp_path / "hub"),
            listen={"host": "127.0.0.1", "port": 0},
            courtrooms=[{"id": "fy-01", "name": "第一法庭", "token": TOKEN}],
            users=[
                {
                    "username": user,
                    "password_hash": hash_password(password),
                    "role": role,
                    "courtrooms": ["fy-01"],
                }
                for user, (role, password) in USERS.items()
            ],
        )
        (tmp_path / "hub").mkdir(exist_ok=True)
        hub = HubServer(config, admin_password="e2e-admin-pass")
        await hub.__aenter__()
        ready = asyncio.Event()
        hub_task = asyncio.create_task(hub.run(ready=ready))
        await asyncio.wait_for(ready.wait(), 6 * TIMEOUT)
        equipment = DemoEquipment(tmp_path, room="fy-01", faults=faults)
        await equipment.__aenter__()
        room = Room(hub, equipment, tmp_path / "agent-data")
        rooms.append((room, hub_task))
        await room.login()
        wav = build_demo_recording([s.path for s in speech], tmp_path / "room.wav", roles=ROLES)
        port = unused_tcp_port_factory()
        camera = _demo_camera(tmp_path / "camera.mp4")
        assert camera is not None, "ffmpeg is installed by make setup"
        sync = equipment.sync | {"watch_recorders_s": 0.5, "follow_hold_s": 1.0}
        agent_config = AgentConfig.model_validate(
            {
                "courtroom": {"id": "fy-01", "name": "第一法庭"},
                "hub": {"url": f"ws://127.0.0.1:{hub.port}/ws/agent", "token": TOKEN},
                "audio": {
                    "source": "wav",
                    "file": str(wav),
                    "realtime": True,
                    "loop": True,
                    "roles": ROLES,
                },
                "mqtt": equipment.mqtt,
                "devices": equipment.devices,
                "sync": sync,
                "display": {"port": port, "evidence_dir": str(demo_evidence(tmp_path / "ev"))},
                "cameras": [{"id": "CAM-1", "source": str(camera), "fps": 5, "loop": True}],
                "status_interval_s": 0.5,
            }
        )
        room.socket = control_socket(agent_config, data_dir=room.data_dir)
        room.display = f"http://127.0.0.1:{port}/display"
        room.task = asyncio.create_task(
            run_agent(agent_config, data_dir=room.data_dir, stop=room.stop, open_at_start=False)
        )

        async def online() -> bool:
            rooms_ = await room.get("/api/courtrooms")
            return any(r["id"] == "fy-01" and r["online"] for r in rooms_)

        await until(online, "the agent never came online", 12 * TIMEOUT)
        return room

    yield make
    for room, hub_task in rooms:
        room.stop.set()
        if room.task is not None:
            await asyncio.wait_for(room.task, 12 * TIMEOUT)
        await room.equipment.__aexit__(None, None, None)
        room.hub.stop()
        await hub_task
        await room.hub.__aexit__(None, None, None)


async def test_a_full_hearing_keeps_all_five_synchronisations(
    make_room: Any,
    browser: Browser,  # noqa: F811
) -> None:
    room: Room = await make_room()
    page = await browser.new_page()
    expect.set_options(timeout=6 * TIMEOUT * 1000)
    await page.goto(f"{room.display}/gallery")
    # The courtroom's other screens: every view at once (屏幕总览), each a live page.
    wall = await browser.new_page()
    await wall.goto(room.display.removesuffix("/display") + "/display-wall")

    opened = await room.order({"action": "open", "case": DEMO_CASE})
    assert opened["outcome"] == "done", opened
    hearing_id = opened["state"]["hearing_id"]
    await expect(page.locator("#rec")).to_be_visible()

    # 同步录音录像: the recorder confirmed recording within 2 s of 开庭.
    async def recorder_confirmed() -> list[dict[str, Any]]:
        return [
            e["body"]
            for e in await room.events("device.action")
            if e["body"]["device"] == "recorder" and e["body"]["verb"] == "record"
        ]

    (record,) = await until(recorder_confirmed, "the recorder was never told to record")
    assert record["outcome"] == "confirmed", record
    assert record["confirm_ms"] <= 2000
    assert record["device_ms"] <= record["confirm_ms"]

    # 笔录同步输出展示: finals on the gallery screen.
    await expect(page.locator("#lines li").first).to_be_visible(timeout=30_000)

    # 证据同步展示质证: the contract's page, then the document camera.
    presented = await room.order(PRESENT_FILE)
    assert presented["outcome"] == "done", presented
    screens = presented["log"]["screens"]
    assert {s["screen"] for s in screens} == {"plaintiff", "defendant", "gallery"}
    assert all(s["outcome"] == "confirmed" for s in screens), screens
    await expect(page.locator("#exhibit")).to_be_visible()
    await expect(page.locator("#caption")).to_contain_text("借款合同")
    await expect(page.locator("#caption")).to_contain_text("第 1 页")
    # The presenter turns the page: every screen follows.
    turned = await room.order({"action": "page", "exhibit": "证据1", "page": 2})
    assert turned["outcome"] == "done", turned
    await expect(page.locator("#caption")).to_contain_text("第 2 页")
    missing = await room.order({"action": "page", "exhibit": "证据9", "page": 2})
    assert missing["outcome"] == "refused" and "证据9" in missing["message"]
    assert (await room.order(WITHDRAW_FILE))["outcome"] == "done"
    await expect(page.locator("#exhibit")).to_be_hidden()
    # The document camera, presented and withdrawn by the clerk from the clerk page.
    clerk = await browser.new_page(viewport={"width": 1280, "height": 900})
    await clerk.goto(room.hub.url)
    await clerk.fill("#username", "clerk1")
    await clerk.fill("#password", USERS["clerk1"][1])
    await clerk.click("#login-button")
    await clerk.click('button[data-room="fy-01"]')
    await expect(clerk.locator("#evidence-form")).to_be_visible()
    await clerk.fill("#ev-exhibit", PRESENT_LIVE["exhibit"])
    await clerk.select_option("#ev-kind", "input")
    await clerk.fill("#ev-source", PRESENT_LIVE["input"])
    await clerk.click("#hc-present")
    await expect(clerk.locator("#ev-log")).to_contain_text("完成 done")
    await expect(page.locator("#live")).to_be_visible()
    # The presentation is a marker line in the clerk's live transcript.
    await expect(clerk.locator("#finals li.marker").last).to_contain_text("举证")
    await expect(clerk.locator("#finals li.marker").last).to_contain_text("物证2")
    await clerk.click("#hc-withdraw")
    await expect(clerk.locator("#ev-log")).to_contain_text("撤回 withdraw 物证2: 完成 done")
    await expect(page.locator("#exhibit")).to_be_hidden()
    await clerk.close()

    # The matrix is back as it was: each party output shows what it showed before.
    async def restored() -> list[dict[str, Any]] | None:
        found = [
            e["body"]
            for e in await room.events("device.action")
            if e["body"]["rule"] == "evidence-withdraw"
        ]
        return found if len(found) == 6 else None

    restores = await until(restored, "the routing was not restored after both exhibits")
    assert all(r["outcome"] == "confirmed" for r in restores), restores

    # 视频同步摄录播放: the seats speak in turn; the camera follows, confirmed.
    async def follows() -> list[dict[str, Any]] | None:
        moves = [
            e["body"]
            for e in await room.events("device.action")
            if e["body"]["verb"] == "preset-recall"
        ]
        return moves if len({m["subject"] for m in moves}) >= 2 else None

    moves = await until(follows, "the camera never followed two seats", 30 * TIMEOUT)
    assert all(m["outcome"] == "confirmed" and m["device"] == "judge-camera" for m in moves)
    changes = await room.events("speaker.changed")
    assert len(changes) >= 2

    recessed = await room.order({"action": "recess", "reason": "recess"})
    assert recessed["outcome"] == "done", recessed
    await expect(page.locator("#rec")).to_be_hidden()

    # The recess lasts while the courtroom's clock runs on (a second of audio).
    async def later() -> bool:
        now = await room.order({"action": "status"})
        return bool(now["state"]["time"] >= recessed["state"]["time"] + 1.0)

    await until(later, "the hearing clock did not run during the recess")
    assert (await room.order({"action": "resume"}))["outcome"] == "done"

    closed = await room.order({"action": "close"})
    assert closed["outcome"] == "done", closed

    # The local ledger's report, with the hub unreachable: all five green.
    from courtroom_agent.ledger_file import LedgerFile
    from courtroom_core.compliance import compliance_report

    ledger_dir = room.data_dir / "agent" / "fy-01" / "ledger"
    events = LedgerFile(ledger_dir).read(hearing_id)
    report = compliance_report(events)
    assert report["final"] is True
    lights = {part: light["status"] for part, light in report["lights"].items()}
    reasons = {part: light["reasons"] for part, light in report["lights"].items()}
    assert lights == dict.fromkeys(lights, "green"), reasons
    assert report["open_incidents"] == 0
    assert [i["reason"] for i in report["interruptions"]] == ["recess"]
    display = report["lights"]["transcript_display"]
    assert display["status"] == "green"

    # Markers in the recording manifest: each exhibit presented and withdrawn.
    (hearing_dir,) = (room.data_dir / "recordings" / "fy-01").iterdir()
    checked = check_recording(hearing_dir)
    assert checked.sound, checked.problems
    assert [(m.kind, m.ref) for m in checked.markers] == [
        ("evidence.presented", "证据1"),
        ("evidence.withdrawn", "证据1"),
        ("evidence.presented", "物证2"),
        ("evidence.withdrawn", "物证2"),
    ]
    await page.close()
    await wall.close()


async def test_failing_equipment_turns_the_lights_red_with_incidents_and_alarms(
    make_room: Any,
    browser: Browser,  # noqa: F811
) -> None:
    room: Room = await make_room(
        ("recorder", "disk-full"), ("matrix", "drop"), ("display", "unplug")
    )
    opened = await room.order({"action": "open", "case": DEMO_CASE})
    assert opened["outcome"] == "done", opened
    hearing_id = opened["state"]["hearing_id"]

    async def recording() -> bool:
        events = await room.events("source.state")
        return any(
            e["body"]["source"] == "recorder:recorder" and e["body"]["recording"] for e in events
        )

    await until(recording, "the recorder never recorded")

    # The disk fills: a device alarm at the hub within 2 s, and an incident.
    staged = time.monotonic()
    await room.equipment.stage_faults()

    async def recorder_alarm() -> list[dict[str, Any]]:
        return [
            e["body"]
            for e in await room.events("av.alarm")
            if e["body"]["source"] == "device" and e["body"]["subject"] == "recorder"
        ]

    (alarm,) = await until(recorder_alarm, "no recorder alarm at the hub", 2.0)
    assert time.monotonic() - staged <= 2.0
    assert alarm["active"] is True and alarm["severity"] == "critical"

    # Evidence: the matrix does not answer and the gallery display is unplugged.
    presented = await room.order(PRESENT_FILE)
    assert presented["outcome"] == "failed", presented
    screens = {s["screen"]: s for s in presented["log"]["screens"]}
    assert screens.keys() == {"plaintiff", "defendant", "gallery"}
    assert all(s["outcome"] == "failed" for s in screens.values()), screens
    assert "matrix" in presented["message"]

    async def device_alarms() -> set[str] | None:
        found = {
            e["body"]["subject"]
            for e in await room.events("av.alarm")
            if e["body"]["source"] == "device" and e["body"]["active"]
        }
        return found if {"recorder", "matrix", "gallery-display"} <= found else None

    await until(device_alarms, "the matrix and the gallery display raised no alarm")

    async def report() -> dict[str, Any] | None:
        found: dict[str, Any] = await room.get(f"/api/hearings/{hearing_id}/compliance")
        lights = found["lights"]
        red = lights["recording"]["status"] == lights["evidence_display"]["status"] == "red"
        return found if red else None

    compliance = await until(report, "the recording and evidence lights never turned red")
    incidents = {(i["source"], i["part"]) for i in compliance["incidents"]}
    assert ("recorder", "recording") in incidents
    assert ("matrix", "evidence_display") in incidents
    assert compliance["lights"]["video"]["status"] == "green"

    # The SPC rule's paperwork: explained by the clerk, signed by the presiding judge.
    incident = next(i for i in compliance["incidents"] if i["source"] == "recorder")
    base = f"/api/hearings/{hearing_id}/incidents/{incident['id']}"
    early = await room.post(f"{base}/sign", {}, "judge1")
    assert early.status_code == 409, early.text
    explained = await room.post(
        f"{base}/explanation", {"text": "录像机硬盘已满，已更换硬盘 · recorder disk full"}, "clerk1"
    )
    assert explained.status_code == 200, explained.text
    assert (await room.post(f"{base}/sign", {}, "clerk1")).status_code == 403
    signed = await room.post(f"{base}/sign", {}, "judge1")
    assert signed.status_code == 200, signed.text
    after = await room.get(f"/api/hearings/{hearing_id}/compliance")
    (paper,) = [i for i in after["incidents"] if i["id"] == incident["id"]]
    assert paper["state"] == "signed" and paper["signed_by"] == "judge1"

    # The display pages serve the courtroom with the hub gone (the WAN is down):
    # new finals keep reaching the gallery screen.
    withdrawn = await room.order(WITHDRAW_FILE)
    assert withdrawn["outcome"] in ("done", "failed"), withdrawn  # the matrix still silent
    page = await browser.new_page()
    await page.goto(f"{room.display}/gallery")
    await expect(page.locator("#lines li").first).to_be_visible(timeout=30_000)
    room.hub.stop()
    first = await page.locator("#lines li .text").last.text_content()
    await expect(page.locator("#lines li .text").last).not_to_have_text(first or "", timeout=30_000)
    await page.close()

    # The audio record never noticed.
    assert (await room.order({"action": "close"}))["outcome"] == "done"
    (hearing_dir,) = (room.data_dir / "recordings" / "fy-01").iterdir()
    checked = check_recording(hearing_dir)
    assert checked.sound, checked.problems
