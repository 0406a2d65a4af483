"""Hearing control on the clerk page and the hearing state on the patrol wall, in
headless Chromium against a real hub and a command-answering websocket agent."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.hub.conftest import ADMIN_PASSWORD, COURT, OTHER, OTHER_TOKEN, TIMEOUT, HubFactory
from tests.hub.hearing_agent import connect
from tests.hub.test_clerk_page import browser  # noqa: F401  (the Chromium fixture)
from tests.hub.test_hearing_api import CASE, PASSWORD, start, token_of

pytestmark = pytest.mark.slow

BUTTONS = ("#hc-open", "#hc-recess", "#hc-resume", "#hc-close")


async def log_in(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(url)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-button")
    await page.click(f'button[data-room="{COURT}"]')
    await expect(page.locator("#conn")).to_have_class("conn conn-live")


async def expect_state(page: Page, text: str, enabled: set[str]) -> None:
    """The badge says ``text`` and exactly the ``enabled`` buttons can be pressed."""
    await expect(page.locator("#hearing-state")).to_contain_text(text)
    for button in BUTTONS:
        locator = page.locator(button)
        if button in enabled:
            await expect(locator).to_be_enabled()
        else:
            await expect(locator).to_be_disabled()


async def test_clerk_page_drives_open_recess_resume_close_and_shows_refusals(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await start(hub_factory, tmp_path)
    agent = await connect(hub)
    async with agent:
        page = await browser.new_page(viewport={"width": 1280, "height": 760})
        await log_in(page, hub.url, "clerk1")
        await expect(page.locator("#who")).to_contain_text("书记员 clerk1")
        await expect_state(page, "空闲", {"#hc-open"})

        await page.fill("#case-number", CASE["number"])
        await page.fill("#case-title", CASE["title"])
        await page.click("#hc-open")
        await expect_state(page, "庭审中", {"#hc-recess", "#hc-close"})
        await expect(page.locator("#hearing-title")).to_contain_text(CASE["title"])
        await expect(page.locator(f'button[data-room="{COURT}"] .room-state')).to_have_text(
            "庭审中"
        )
        await expect(page.locator("#case-number")).to_be_hidden()
        await expect(page.locator("#recess-reason")).to_be_visible()

        await page.select_option("#recess-reason", "mediation")
        await page.click("#hc-recess")
        await expect_state(page, "休庭中 · 调解", {"#hc-resume", "#hc-close"})
        await expect(page.locator("#hc-paused")).to_contain_text("休庭期间不录音、不转写")
        await expect(page.locator("#hc-offline")).to_be_hidden()
        await page.screenshot(path=tmp_path / "hubcmd-clerk-recess.png")

        await page.click("#hc-resume")
        await expect_state(page, "庭审中", {"#hc-recess", "#hc-close"})

        await page.click("#hc-close")  # asks first
        await expect(page.locator("#close-confirm")).to_be_visible()
        await expect(page.locator("#close-confirm")).to_contain_text("确认闭庭")
        assert len(agent.commands) == 3
        await page.click("#hc-close-yes")
        await expect_state(page, "空闲", {"#hc-open"})
        await expect(page.locator("#case-number")).to_have_value("")  # ready for the next
        await expect(page.locator("#hearing-error")).to_be_hidden()
        orders = [c.data for c in agent.commands]
        assert [o.action for o in orders] == ["open", "recess", "resume", "close"]
        assert orders[0].case is not None and orders[0].case.number == CASE["number"]
        assert orders[0].case.title == CASE["title"] and orders[1].reason == "mediation"
        assert {o.by for o in orders} == {"clerk1"}

        # The hub believes the hearing open (a report), the agent knows it idle:
        # the agent refuses 休庭 and the page shows why, Chinese first.
        report = {"hearing_state": {"state": "open", "hearing_id": "h-x"}}
        await agent.send_event("status", report)
        await expect_state(page, "庭审中", {"#hc-recess", "#hc-close"})
        await page.click("#hc-recess")
        error = page.locator("#hearing-error")
        await expect(error).to_contain_text("法庭终端拒绝了该操作")
        await expect(error).to_contain_text("The courtroom agent refused the order")
        await expect(error).to_contain_text("cannot recess a hearing that is idle")
        text = await error.inner_text()
        assert text.index("法庭终端拒绝") < text.index("The courtroom agent refused")
        await expect_state(page, "空闲", {"#hc-open"})  # the agent's answer carries its state
        await page.screenshot(path=tmp_path / "hubcmd-clerk-refused.png")

    # The agent is gone: the order is answered at once, never queued.
    await expect(page.locator("#agent-state")).to_contain_text("离线")
    await expect(page.locator("#hc-offline")).to_contain_text("法庭终端离线，指令无法送达")
    await page.fill("#case-number", "(2026)京0105民初9号")
    await page.click("#hc-open")
    error = page.locator("#hearing-error")
    await expect(error).to_contain_text("指令未发送")
    await expect(error).to_contain_text("法庭终端离线 · the courtroom agent is offline")
    text = await error.inner_text()
    assert text.index("指令未发送") < text.index("The order was not sent")
    await expect_state(page, "空闲", {"#hc-open"})
    await page.screenshot(path=tmp_path / "hubcmd-clerk-offline.png")


async def test_clerk_page_shows_the_state_but_no_orders_to_a_supervisor(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await start(hub_factory, tmp_path)
    page = await browser.new_page(viewport={"width": 1280, "height": 760})
    await log_in(page, hub.url, "sup1")
    await expect(page.locator("#hearing-state")).to_contain_text("空闲")
    await expect(page.locator("#hc-buttons")).to_be_hidden()
    await expect(page.locator("#hc-note")).to_contain_text("仅本庭书记员或法官可操作庭审")


async def test_patrol_wall_shows_each_courtrooms_hearing_state_live(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await start(hub_factory, tmp_path)
    page = await browser.new_page(viewport={"width": 1280, "height": 620})
    await page.goto(hub.url + "/patrol")
    await page.fill("#username", "admin")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#login-button")
    await expect(page.locator("#conn")).to_have_class("conn conn-live")
    first = page.locator(f'.tile[data-room="{COURT}"] .tile-state')
    second = page.locator(f'.tile[data-room="{OTHER}"] .tile-state')
    await expect(first).to_have_text("空闲 Idle")
    await expect(second).to_have_text("空闲 Idle")

    headers = {"Authorization": f"Bearer {await token_of(hub, 'clerk1')}"}
    path = f"/api/courtrooms/{COURT}/hearing"
    async with (
        await connect(hub) as _agent,
        await connect(hub, courtroom=OTHER, token=OTHER_TOKEN) as other,
        httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=4 * TIMEOUT) as clerk,
    ):
        assert (await clerk.post(path, json={"action": "open", "case": CASE})).status_code == 200
        await expect(first).to_have_text("庭审中 In session")
        await expect(page.locator(f'.tile[data-room="{COURT}"] .tile-title')).to_have_text(
            CASE["title"]
        )
        recess = {"action": "recess", "reason": "closed-evidence"}
        assert (await clerk.post(path, json=recess)).status_code == 200
        await expect(first).to_have_text("休庭中 · 不公开举证质证")
        await expect(first).to_have_attribute("data-state", "recess")
        # The second courtroom's agent reports a hearing under way by itself.
        await other.send_event("status", {"hearing_state": {"state": "open", "hearing_id": "h"}})
        await expect(second).to_have_text("庭审中 In session")
        await page.screenshot(path=tmp_path / "hubcmd-patrol.png")
        assert (await clerk.post(path, json={"action": "close"})).status_code == 200
        await expect(first).to_have_text("空闲 Idle")
