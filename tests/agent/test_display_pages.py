"""The courtroom display pages in headless Chromium against a real DisplayServer.

No hub and no agent run: the server alone serves every screen. Screenshots of
the judge's and the gallery's screens go to the test's temporary directory, or
with ``COURTROOM_SCREENSHOTS=docs/images`` to the README's images.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from courtroom_agent.display import DisplayReport, DisplayServer, Exhibit, ExhibitKind
from tests.agent.test_display_server import (  # noqa: F401  (fixtures)
    CASE,
    HEARING,
    Reports,
    display,
    display_factory,
    evidence,
    final,
    interruption,
    opened,
)
from tests.hub.conftest import TIMEOUT
from tests.hub.test_clerk_page import browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.slow

SCREEN = {"width": 1920, "height": 1080}
LINES = [
    ("审判长", "现在开庭。请原告陈述诉讼请求及事实与理由。"),
    ("原告", "请求判令被告支付货款人民币十二万元及逾期付款利息。"),
    ("被告", "对原告所述的交货数量有异议，部分货物存在质量问题。"),
    ("审判长", "双方对合同的真实性是否有异议？"),
    ("书记员", "已记录。"),
]


async def shoot(page: Page, name: str, tmp_path: Path) -> None:
    save_png(await page.screenshot(), name, tmp_path)


def save_png(png: bytes, name: str, tmp_path: Path) -> None:
    """Save a screenshot (256 colours: the type stays crisp, the file small)."""
    folder = Path(os.environ.get("COURTROOM_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png))
    image.convert("RGB").quantize(256).save(folder / name, optimize=True)


async def open_view(browser: Browser, server: DisplayServer, view: str) -> Page:  # noqa: F811
    page = await browser.new_page(viewport=SCREEN)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.url) else outside.append(r.url))
    page.outside = outside  # type: ignore[attr-defined]
    await page.goto(f"{server.url}/display/{view}")
    await expect(page.locator("#offline")).to_be_hidden()
    return page


async def report_of(
    server: DisplayServer, view: str, ready: Callable[[DisplayReport], bool]
) -> Any:
    """The view's report once ``ready`` holds (pages acknowledge asynchronously)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            (report,) = [r for r in server.report_now() if r.view == view]
            if ready(report):
                return report
            await asyncio.sleep(0.01)  # the acks arrive on the server's sockets


async def test_display_page_shows_a_final_within_1_s_with_role_and_recording_state(
    display: tuple[DisplayServer, Reports],  # noqa: F811
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000)
    server, _ = display
    page = await open_view(browser, server, "judge")
    await expect(page.locator("#state")).to_have_text("空闲")
    await expect(page.locator("#rec")).to_be_hidden()

    server.publish("hearing.opened", opened())
    await expect(page.locator("#state")).to_have_text("庭审中")
    await expect(page.locator("#rec")).to_be_visible()
    await expect(page.locator("#rec")).to_have_text("● 录制中")
    await expect(page.locator("#case-number")).to_have_text(CASE["number"])

    seen: list[float] = []
    for i, (role, text) in enumerate(LINES):
        started = time.monotonic()
        server.publish("transcript.final", final(text, role=role, start=10.0 * i))
        line = page.locator("#lines li").last
        await expect(line.locator(".text")).to_have_text(text)
        seen.append(time.monotonic() - started)
        await expect(line.locator(".role")).to_have_text(role)
    assert max(seen) < 1.0, f"publish → visible took {max(seen):.3f} s"
    font = await page.locator("#lines li .text").last.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert font >= 40
    colours = await page.locator("#lines li .role").evaluate_all(
        "es => es.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert colours[0] == colours[3] and len({colours[0], colours[1], colours[2]}) == 3

    judge = await report_of(server, "judge", lambda r: r.finals_shown == len(LINES))
    assert judge.pages == 1 and judge.state == "open"
    assert judge.latency_max_ms is not None and judge.latency_max_ms < 1000
    print(
        f"\ndisplay latency (page ack): p50 {judge.latency_p50_ms} ms, "
        f"p95 {judge.latency_p95_ms} ms, max {judge.latency_max_ms} ms; "
        f"seen by Playwright: max {max(seen) * 1000:.0f} ms"
    )
    await shoot(page, "display-judge.png", tmp_path)

    server.publish("hearing.recessed", interruption("closed-evidence"))
    await expect(page.locator("#state")).to_have_text("休庭中 · 不公开举证质证")
    await expect(page.locator("#rec")).to_be_hidden()
    await report_of(server, "judge", lambda r: r.state == "recess:closed-evidence")
    server.publish("hearing.resumed", interruption("closed-evidence", time=90.0))
    await expect(page.locator("#state")).to_have_text("庭审中")
    await expect(page.locator("#rec")).to_be_visible()
    server.publish("hearing.closed", {"hearing_id": HEARING})
    await expect(page.locator("#state")).to_have_text("空闲")
    await expect(page.locator("#rec")).to_be_hidden()
    await expect(page.locator("#lines li")).to_have_count(0)  # 闭庭 leaves nothing on show
    await expect(page.locator("#waiting")).to_be_visible()
    assert page.outside == []  # type: ignore[attr-defined]


async def test_display_page_shows_the_exhibit_follows_page_and_zoom_and_withdraw_restores(
    display: tuple[DisplayServer, Reports],  # noqa: F811
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000)
    server, _ = display
    server.publish("hearing.opened", opened())
    for i, (role, text) in enumerate(LINES[:3]):
        server.publish("transcript.final", final(text, role=role, start=10.0 * i))
    page = await open_view(browser, server, "gallery")
    judge = await open_view(browser, server, "judge")
    await expect(page.locator("#lines li")).to_have_count(3)
    await shoot(page, "display-gallery.png", tmp_path)

    image = page.locator("#exhibit-image")
    server.present(Exhibit(id="P-1", label="现场照片", path="照片.png"))
    await expect(page.locator("#exhibit")).to_be_visible()
    await expect(page.locator("#transcript")).to_be_hidden()
    await expect(image).to_have_attribute("src", "/display/evidence/%E7%85%A7%E7%89%87.png")
    await expect(page.locator("#caption")).to_contain_text("证据 P-1现场照片")
    assert await image.evaluate("e => e.complete && e.naturalWidth") == 640
    await report_of(server, "gallery", lambda r: r.exhibit is not None and r.exhibit.id == "P-1")

    server.present(Exhibit(id="P-2", label="买卖合同", kind=ExhibitKind.PDF, path="合同.pdf"))
    await expect(image).to_have_attribute(
        "src", "/display/evidence/%E5%90%88%E5%90%8C.pdf?page=1&zoom=1"
    )
    await expect(page.locator("#caption")).to_contain_text("第 1 页")
    server.update_exhibit(page=2)
    await expect(image).to_have_attribute(
        "src", "/display/evidence/%E5%90%88%E5%90%8C.pdf?page=2&zoom=1"
    )
    await expect(page.locator("#caption")).to_contain_text("第 2 页")
    # Page 2 is light blue, page 1 white: the pixels turned with the page.
    blue = await image.evaluate(
        """e => { const c = document.createElement('canvas'); c.width = c.height = 1;
                  const g = c.getContext('2d'); g.drawImage(e, 10, 10, 1, 1, 0, 0, 1, 1);
                  return Array.from(g.getImageData(0, 0, 1, 1).data).slice(0, 3); }"""
    )
    assert blue == [220, 235, 255]
    server.update_exhibit(zoom=1.5)
    await expect(image).to_have_attribute(
        "src", "/display/evidence/%E5%90%88%E5%90%8C.pdf?page=2&zoom=1.5"
    )
    await expect(image).to_have_css("transform", "matrix(1.5, 0, 0, 1.5, 0, 0)")
    await expect(page.locator("#caption")).to_contain_text("第 2 页 · 150%")
    gallery = await report_of(
        server, "gallery", lambda r: r.exhibit is not None and r.exhibit.zoom == 1.5
    )
    assert (gallery.exhibit.id, gallery.exhibit.page) == ("P-2", 2)
    server.update_exhibit(zoom=1.0)
    await expect(page.locator("#caption")).not_to_contain_text("%")
    await shoot(page, "display-gallery-exhibit.png", tmp_path)
    # Every screen follows the presenter, not only the one under test.
    await expect(judge.locator("#caption")).to_have_text("证据 P-2买卖合同第 2 页")
    await expect(judge.locator("#exhibit-image")).to_have_css("transform", "none")
    await shoot(judge, "display-judge-exhibit.png", tmp_path)

    server.present(Exhibit(id="P-3", label="原件", kind=ExhibitKind.LIVE, source="实物展台 1"))
    await expect(page.locator("#live")).to_be_visible()
    await expect(page.locator("#live-source")).to_have_text("实物展台 1")
    await expect(page.locator("#live")).to_contain_text("本屏幕的视频输入")

    server.withdraw("P-3")
    await expect(page.locator("#exhibit")).to_be_hidden()
    await expect(page.locator("#transcript")).to_be_visible()
    await expect(page.locator("#lines li")).to_have_count(3)
    await report_of(server, "gallery", lambda r: r.exhibit is None)
    assert page.outside == []  # type: ignore[attr-defined]


async def test_display_page_reconnects_after_the_server_restarts_and_shows_the_state_at_once(
    display_factory: Callable[..., Any],  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    server, _ = await display_factory()
    server.publish("hearing.opened", opened())
    server.publish("transcript.final", final("现在开庭。"))
    page = await open_view(browser, server, "plaintiff")
    await expect(page.locator("#lines li")).to_have_count(1)
    port = int(server.url.rsplit(":", 1)[1])
    await server.__aexit__(None, None, None)
    await expect(page.locator("#offline")).to_be_visible()
    await expect(page.locator("#rec")).to_be_hidden()  # no claim of recording while cut off

    again, _ = await display_factory(port=port)
    again.publish("hearing.opened", opened())
    again.publish("transcript.final", final("继续开庭。"))
    await expect(page.locator("#offline")).to_be_hidden()
    await expect(page.locator("#lines li .text")).to_have_text(["继续开庭。"])
    await expect(page.locator("#rec")).to_be_visible()
