"""The five lights (五同步) live on the clerk page and the patrol wall, and an incident
explained by the clerk and signed off by the judge from the page, in headless
Chromium against a real hub fed by websocket agents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.hub.conftest import (
    ADMIN_PASSWORD,
    COURT,
    OTHER,
    OTHER_TOKEN,
    TIMEOUT,
    HubFactory,
    make_config,
)
from tests.hub.hearing_agent import CommandAgent, connect
from tests.hub.test_clerk_page import browser  # noqa: F401  (the Chromium fixture)
from tests.hub.test_compliance_api import ALL_USERS
from tests.hub.test_hearing_api import token_of
from tests.hub.test_hearing_pages import log_in

pytestmark = pytest.mark.slow

PARTS = ("recording", "transcript_display", "evidence_display", "video", "data_upload")


def now() -> str:
    return datetime.now(UTC).isoformat()


async def healthy_hearing(agent: CommandAgent, hearing: str) -> None:
    """A hearing under way with every synchronisation met."""
    at = now()
    await agent.send_event(
        "hearing.opened", {"hearing_id": hearing, "opened_at": at, "title": "买卖合同纠纷"}
    )
    for source in ("seat:0", "seat:1", "seat:2", "camera:judge", "camera:wide", "recorder:deck"):
        await agent.send_event(
            "source.state",
            {"hearing_id": hearing, "source": source, "recording": True, "time": 0.4, "at": at},
        )
    await agent.send_event(
        "device.action",
        {
            "hearing_id": hearing,
            "rule": "open-records",
            "trigger": "hearing.opened",
            "device": "deck",
            "verb": "record",
            "outcome": "confirmed",
            "policy": "incident",
            "within_ms": 2000,
            "device_ms": 310.0,
            "confirm_ms": 342.0,
            "time": 0.4,
            "at": at,
            "part": "recording",
        },
    )
    for screen in ("judge", "clerk", "plaintiff", "defendant", "gallery"):
        await agent.send_event(
            "display.report",
            {
                "hearing_id": hearing,
                "screen": screen,
                "pages": 1,
                "shown": 12,
                "time": 20.0,
                "at": at,
                "latency_p50_ms": 180.0,
                "latency_p95_ms": 420.0,
                "latency_max_ms": 640.0,
            },
        )
    await agent.send_event(
        "speaker.changed",
        {
            "hearing_id": hearing,
            "channel": 1,
            "role": "原告",
            "held_s": 2.5,
            "time": 14.0,
            "at": at,
        },
    )
    await agent.send_event(
        "upload.report", {"hearing_id": hearing, "unacked": 0, "lag_s": 0.6, "time": 20.0, "at": at}
    )


async def lights_of(page: Page, scope: str) -> None:
    for part in PARTS:
        await expect(page.locator(f'{scope} li.light[data-part="{part}"]')).to_be_visible()


async def test_five_lights_live_and_incident_explained_and_signed_from_the_page(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory(make_config(tmp_path, users=ALL_USERS))
    hearing = "court-1-20261205T090000Z-a1b2c3"
    clerk_page = await browser.new_page(viewport={"width": 1360, "height": 900})
    async with await connect(hub) as agent:
        await log_in(clerk_page, hub.url, "clerk1")
        await expect(clerk_page.locator("#five-sync")).to_be_hidden()  # nothing yet
        await healthy_hearing(agent, hearing)
        await lights_of(clerk_page, "#lights")
        recording = clerk_page.locator('#lights li[data-part="recording"]')
        for part in PARTS:
            light = clerk_page.locator(f'#lights li[data-part="{part}"]')
            await expect(light).to_have_attribute("data-status", "green")
        await expect(recording).to_contain_text("录音录像")
        await expect(recording).to_contain_text("6 路全程录制")
        await expect(clerk_page.locator("#fs-kind")).to_have_text("临时 · provisional")
        await expect(clerk_page.locator("#incidents")).to_be_hidden()

        # The recorder's disk fills: the light turns red and an incident opens.
        at = now()
        await agent.send_event(
            "source.state",
            {
                "hearing_id": hearing,
                "source": "recorder:deck",
                "recording": False,
                "time": 31.0,
                "at": at,
                "message": "disk full",
            },
        )
        await agent.send_event(
            "device.action",
            {
                "hearing_id": hearing,
                "rule": "recorder-watch",
                "trigger": "device.offline",
                "device": "deck",
                "verb": "record",
                "outcome": "failed",
                "policy": "incident",
                "within_ms": 2000,
                "time": 31.2,
                "at": at,
                "part": "recording",
                "message": "disk full",
            },
        )
        await agent.send_event(
            "incident",
            {
                "hearing_id": hearing,
                "id": "inc-deck-1",
                "kind": "recorder_failed",
                "state": "open",
                "part": "recording",
                "source": "recorder:deck",
                "message": "录像机硬盘已满，停止录制 · recorder disk full",
                "time": 31.2,
                "at": at,
            },
        )
        await agent.send_event(
            "evidence.log",
            {
                "hearing_id": hearing,
                "exhibit": "E2",
                "label": "证据二：送货单",
                "source": "file",
                "since": 33.0,
                "time": 33.4,
                "at": at,
                "screens": [
                    {"screen": "plaintiff", "outcome": "confirmed", "ms": 140.0},
                    {"screen": "gallery", "outcome": "unconfirmed", "ms": 2000.0},
                ],
            },
        )
        await agent.send_event(
            "upload.report",
            {"hearing_id": hearing, "unacked": 3, "lag_s": 7.5, "time": 40.0, "at": at},
        )
        await expect(recording).to_have_attribute("data-status", "red")
        evidence = clerk_page.locator('#lights li[data-part="evidence_display"]')
        await expect(evidence).to_have_attribute("data-status", "amber")
        upload = clerk_page.locator('#lights li[data-part="data_upload"]')
        await expect(upload).to_have_attribute("data-status", "amber")
        await expect(recording).to_have_attribute(
            "title",
            "录音录像 Recording: 异常 Fault — recorder:deck 中断 9 秒 · unlawful gap of 9 s",
        )
        await expect(recording.locator(".light-summary")).to_contain_text("recorder:deck 中断 9 秒")
        incident = clerk_page.locator('#incident-list li[data-id="inc-deck-1"]')
        await expect(incident).to_contain_text("待说明")
        await expect(incident).to_contain_text("录像机硬盘已满")
        await expect(incident.locator(".inc-sign")).to_be_hidden()  # explain first

        # The clerk explains it from the page.
        await incident.locator("textarea").fill(
            "录像机硬盘已满；已更换硬盘，31 秒起由座位录音补足。"
        )
        await incident.locator(".inc-explain").click()
        await expect(incident).to_contain_text("待签署")
        await expect(incident).to_contain_text("说明 Explanation（clerk1）：录像机硬盘已满")
        await expect(incident.locator(".inc-sign")).to_be_hidden()  # a clerk does not sign
        await expect(incident.locator("textarea")).to_be_hidden()
        await clerk_page.screenshot(path=tmp_path / "five-lights-clerk.png")

        # The presiding judge signs it off on another page; both pages follow.
        judge_page = await browser.new_page(viewport={"width": 1360, "height": 900})
        await log_in(judge_page, hub.url, "judge1")
        judged = judge_page.locator('#incident-list li[data-id="inc-deck-1"]')
        await expect(judged).to_contain_text("待签署")
        await judged.locator(".inc-sign").click()
        await expect(judged).to_be_hidden()
        await expect(judge_page.locator("#incidents")).to_be_hidden()
        await expect(incident).to_be_hidden()  # the clerk's page: live
        await expect(recording).to_have_attribute("data-status", "red")  # still a failure

        headers = {"Authorization": f"Bearer {await token_of(hub, 'clerk1')}"}
        async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=TIMEOUT) as api:
            [entry] = (await api.get(f"/api/hearings/{hearing}/incidents")).json()
        assert (entry["state"], entry["explained_by"], entry["signed_by"]) == (
            "signed",
            "clerk1",
            "judge1",
        )

        await agent.send_event(
            "hearing.closed", {"hearing_id": hearing, "closed_at": now(), "duration": 60.0}
        )
        await expect(clerk_page.locator("#fs-kind")).to_have_text("最终 · final")


async def patrol(page: Page, url: str) -> None:
    await page.goto(url + "/patrol")
    await page.fill("#username", "admin")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#login-button")
    await expect(page.locator("#conn")).to_have_class("conn conn-live")


async def test_patrol_wall_shows_every_courtrooms_five_lights_live(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory(make_config(tmp_path, users=ALL_USERS))
    page = await browser.new_page(viewport={"width": 1280, "height": 560})
    await patrol(page, hub.url)
    first = page.locator(f'.tile[data-room="{COURT}"] .tile-lights')
    second = page.locator(f'.tile[data-room="{OTHER}"] .tile-lights')
    await expect(first).to_be_hidden()
    async with (
        await connect(hub) as agent,
        await connect(hub, courtroom=OTHER, token=OTHER_TOKEN) as other,
    ):
        await healthy_hearing(agent, "court-1-h")
        await healthy_hearing(other, "court-2-h")
        await lights_of(page, f'.tile[data-room="{COURT}"]')
        await lights_of(page, f'.tile[data-room="{OTHER}"]')
        video = first.locator('li[data-part="video"]')
        await expect(video).to_have_attribute("data-status", "green")
        await expect(video).to_have_attribute(
            "title",
            "视频摄录 Video: 正常 OK — 2 台摄像机, "
            "跟随发言 1 次 · 2 camera(s), 1 speaker change(s)",
        )
        # Courtroom 1's camera drops out for 15 s; courtroom 2's display loses its page.
        await agent.send_event(
            "source.state",
            {
                "hearing_id": "court-1-h",
                "source": "camera:wide",
                "recording": False,
                "time": 22.0,
                "at": now(),
            },
        )
        await agent.send_event(
            "source.state",
            {
                "hearing_id": "court-1-h",
                "source": "camera:wide",
                "recording": True,
                "time": 37.0,
                "at": now(),
            },
        )
        await other.send_event(
            "display.report",
            {
                "hearing_id": "court-2-h",
                "screen": "gallery",
                "pages": 0,
                "shown": 12,
                "time": 25.0,
                "at": now(),
            },
        )
        await expect(video).to_have_attribute("data-status", "red")
        await expect(first.locator('li[data-part="recording"]')).to_have_attribute(
            "data-status", "amber"
        )  # a camera gap: amber for recording, red for video
        shown = second.locator('li[data-part="transcript_display"]')
        await expect(shown).to_have_attribute("data-status", "red")
        await expect(second.locator('li[data-part="video"]')).to_have_attribute(
            "data-status", "green"
        )
        # Under the lights, what is wrong: red first.
        faults = page.locator(f'.tile[data-room="{COURT}"] .tile-fault')
        await expect(faults).to_have_count(2)
        await expect(faults.nth(0)).to_have_text("视频摄录camera:wide 中断 15 秒")
        await expect(faults.nth(1)).to_have_attribute("data-part", "recording")
        await expect(page.locator(f'.tile[data-room="{OTHER}"] .tile-fault')).to_have_text(
            "笔录展示gallery 庭审中无页面"
        )
        await page.screenshot(path=tmp_path / "five-lights-patrol.png")
