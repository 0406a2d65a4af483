"""The admin page 系统管理 in headless Chromium against a real hub."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.hub.conftest import ADMIN_PASSWORD, COURT, OTHER, TIMEOUT, RunningHub, close_code
from tests.hub.test_clerk_page import browser  # noqa: F401  (the Chromium fixture)
from tests.hub.test_users import PASSWORD, add_user, http, login

pytestmark = pytest.mark.slow


async def sign_in(browser: Browser, hub: RunningHub, username: str, password: str) -> Page:  # noqa: F811
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    await page.goto(hub.url + "/admin")
    await expect(page.get_by_role("heading", name="管理员登录")).to_be_visible()
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-button")
    return page


async def test_admin_page_adds_changes_disables_users_and_rotates_a_token(
    hub: RunningHub,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    agent, _ = await hub.agent()
    page = await sign_in(browser, hub, "admin", ADMIN_PASSWORD)
    await expect(page.locator("#who")).to_have_text("管理员 admin")
    await expect(page.locator('#users tr[data-user="admin"]')).to_be_visible()

    await page.fill("#new-username", "clerk5")
    await page.fill("#new-password", PASSWORD)
    await page.select_option("#new-role", "clerk")
    await page.fill("#new-courtrooms", COURT)
    await page.click("#add-form button[type=submit]")
    row = page.locator('#users tr[data-user="clerk5"]')
    await expect(row).to_contain_text("启用 Enabled")
    await expect(row.locator(".rooms-input")).to_have_value(COURT)
    token = await login(hub, "clerk5")

    await row.locator(".rooms-input").fill(f"{COURT}, {OTHER}")
    await row.locator("select").select_option("judge")
    await row.locator("button.save").click()
    await expect(page.locator("#notice")).to_contain_text("已保存 clerk5")
    async with http(hub, token) as client:
        me = (await client.get("/api/me")).json()
    assert me["role"] == "judge" and me["courtrooms"] == [COURT, OTHER]

    await row.locator("button.toggle").click()
    await expect(row).to_contain_text("停用 Disabled")
    async with http(hub, token) as client:
        assert (await client.get("/api/courtrooms")).status_code == 401
    await row.locator("button.toggle").click()
    await expect(row).to_contain_text("启用 Enabled")
    await row.locator(".pw-input").fill("another-pass")
    await row.locator("button.set-password").click()
    await expect(page.locator("#notice")).to_contain_text("已设置 clerk5 的密码")
    await login(hub, "clerk5", "another-pass")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await page.locator(f'#rooms li[data-room="{COURT}"] button.rotate').click()
    await expect(page.locator("#new-token")).to_contain_text(f"{COURT} 新令牌 new token:")
    assert (await close_code(agent))[0] == 4401
    fresh = (await page.locator("#new-token").text_content() or "").rsplit(" ", 1)[-1]
    await hub.agent(token=fresh)

    await page.reload()
    await expect(page.locator("#audit")).to_contain_text("更换法庭令牌 agent_token.rotate")
    await expect(page.locator("#audit")).to_contain_text("新增用户 user.create")
    await page.screenshot(path=tmp_path / "admin.png", full_page=True)

    await page.click("#logout")
    await expect(page.locator("#login-view")).to_be_visible()
    async with asyncio.timeout(TIMEOUT):
        page_token = await page.evaluate("sessionStorage.getItem('courtroom.token')")
    assert page_token is None


async def test_admin_page_refuses_a_clerk(hub: RunningHub, browser: Browser) -> None:  # noqa: F811
    await add_user(hub, "clerk6", "clerk", [COURT])
    page = await sign_in(browser, hub, "clerk6", PASSWORD)
    await expect(page.locator("#login-error")).to_contain_text("仅限管理员")
    await expect(page.locator("#admin-view")).to_be_hidden()
