"""The clerk page in headless Chromium against a real hub and a websocket agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from courtroom_core.wire import Partial, encode
from hub.config import ListenConfig
from tests.hub.conftest import ADMIN_PASSWORD, TIMEOUT, HubFactory, make_config
from tests.hub.test_agent_ws import final, opened, send_events

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("Chromium not installed at /usr/bin/chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def log_in(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.get_by_role("heading", name="书记员登录")).to_be_visible()
    await page.fill("#username", "admin")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#login-button")
    await page.click('button[data-room="court-1"]')
    await expect(page.locator("#conn")).to_have_class("conn conn-live")


async def test_clerk_page_login_refused_with_wrong_password(
    hub_factory: HubFactory, browser: Browser
) -> None:
    hub = await hub_factory()
    page = await browser.new_page()
    await page.goto(hub.url)
    await page.fill("#username", "admin")
    await page.fill("#password", "not it")
    await page.click("#login-button")
    await expect(page.locator("#login-error")).to_contain_text("用户名或密码错误")
    assert await page.evaluate("sessionStorage.getItem('courtroom.token')") is None


async def test_clerk_page_shows_partial_then_final_and_survives_hub_restart(
    hub_factory: HubFactory, browser: Browser, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory()
    page = await browser.new_page(viewport={"width": 1280, "height": 760})
    await log_in(page, hub.url)
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    await expect(page.locator("#hearing-title")).to_contain_text("民事一审")

    partial = Partial(hearing_id="h-1", channel=0, role="judge", start=1.0, text="现在开")
    await agent.send(encode(partial))
    live = page.locator("#partials .partial")
    await expect(live).to_have_count(1)
    await expect(live.locator(".text")).to_have_text("现在开")
    await agent.send(
        encode(Partial(hearing_id="h-1", channel=0, role="judge", start=1.0, text="现在开庭"))
    )
    await expect(live.locator(".text")).to_have_text("现在开庭")  # updated in place
    await expect(live).to_have_count(1)
    await page.screenshot(path=tmp_path / "partial.png")

    await send_events(agent, [final(2, "现在开庭。", 1.0), final(3, "请坐。", 3723.0)])
    finals = page.locator("#finals .final")
    await expect(finals).to_have_count(2)
    await expect(live).to_have_count(0)
    await expect(finals.nth(0).locator(".role")).to_have_text("审判长")
    await expect(finals.nth(0).locator(".t")).to_have_text("00:00:01")
    await expect(finals.nth(1).locator(".t")).to_have_text("01:02:03")
    await expect(finals.nth(1).locator(".text")).to_have_text("请坐。")
    await page.screenshot(path=tmp_path / "final.png")

    # Restart the hub on the same port and archive: the page reconnects by itself.
    port = hub.server.port
    await hub.stop()
    await expect(page.locator("#conn")).not_to_have_class("conn conn-live")
    restarted = await hub_factory(make_config(tmp_path, listen=ListenConfig(port=port)))
    await expect(page.locator("#conn")).to_have_class("conn conn-live")
    agent, welcome = await restarted.agent()
    assert welcome.acked_seq == 3
    await send_events(agent, [final(3, "请坐。", 3723.0), final(4, "原告陈述。", 3730.0)])
    await expect(finals).to_have_count(3)
    seqs = await finals.evaluate_all("nodes => nodes.map(n => Number(n.dataset.seq))")
    assert seqs == [2, 3, 4]
    await page.screenshot(path=tmp_path / "reconnected.png")


async def test_clerk_page_loads_earlier_segments_on_demand(
    hub_factory: HubFactory, browser: Browser, tmp_path: Path
) -> None:
    """The snapshot holds the newest SNAPSHOT_SEGMENTS; 加载更早的笔录 fetches the rest."""
    from datetime import UTC, datetime

    from hub.db import open_engine
    from hub.live_ws import SNAPSHOT_SEGMENTS
    from hub.store import Archive

    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    engine = open_engine(make_config(tmp_path).database_url())  # the hub's own SQLite file
    archive, now = Archive(engine), datetime.now(UTC)
    total = SNAPSHOT_SEGMENTS + 40
    for seq in range(2, total + 2):
        archive.store_event("court-1", final(seq, f"第{seq}句", float(seq)), now=now)
    engine.dispose()
    page = await browser.new_page(viewport={"width": 1280, "height": 760})
    await log_in(page, hub.url)
    finals = page.locator("#finals .final")
    await expect(finals).to_have_count(SNAPSHOT_SEGMENTS)
    await expect(finals.first.locator(".text")).to_have_text("第42句")
    earlier = page.locator("#earlier")
    await expect(earlier).to_contain_text("加载更早的笔录")
    while await earlier.is_visible():  # one click once the route pages; more until it does
        await earlier.click()
        await expect(earlier).to_be_enabled()
    await expect(finals).to_have_count(total)
    await expect(finals.first.locator(".text")).to_have_text("第2句")
    await page.screenshot(path=tmp_path / "earlier.png")


async def test_clerk_page_shows_a_quarantined_event(
    hub_factory: HubFactory, browser: Browser
) -> None:
    from tests.hub.conftest import OTHER, OTHER_TOKEN

    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory()
    page = await browser.new_page(viewport={"width": 1280, "height": 760})
    await log_in(page, hub.url)
    other, _ = await hub.agent(OTHER, OTHER_TOKEN)
    await send_events(other, [opened(1, "h-9")])
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1, "h-9")])  # court-2's hearing id: quarantined
    notice = page.locator("#hub-alarm")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("事件 1 无法存档，已隔离")
    await expect(notice).to_contain_text("belongs to courtroom 'court-2'")
    await agent.close()
    await other.close()
