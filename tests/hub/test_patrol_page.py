"""The patrol wall (庭审巡查) in headless Chromium against a real hub and a websocket agent."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import websockets
from playwright.async_api import Browser, Page, Request, WebSocket, expect
from pydantic import SecretStr

from av.camera.events import CameraState, CameraStateChange
from courtroom_core.wire import Event, Partial, Thumbnail, encode
from hub.config import CourtroomConfig, ListenConfig
from tests.hub.conftest import (
    ADMIN_PASSWORD,
    COURT,
    OTHER,
    OTHER_TOKEN,
    TIMEOUT,
    HubFactory,
    RunningHub,
    make_config,
)
from tests.hub.test_agent_ws import final, opened, send_events
from tests.hub.test_clerk_page import browser  # noqa: F401  (the Chromium fixture)
from tests.hub.test_live_alarms import CAMERA_OFFLINE, DEAD_MIC

pytestmark = pytest.mark.slow

CAMERA = "cam-judge"
RED = (0, 0, 255)  # BGR, as OpenCV encodes
BLUE = (255, 0, 0)

# Centre pixel of the tile's picture, drawn on a canvas (blob URLs are same-origin).
CENTRE_PIXEL = """img => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const [x, y] = [img.naturalWidth >> 1, img.naturalHeight >> 1];
    return Array.from(context.getImageData(x, y, 1, 1).data);
}"""


def classes(*names: str) -> re.Pattern[str]:
    """Exactly the classes ``names``, in any order (the page adds them as events come)."""
    ahead = "".join(rf"(?=(?:.*\s)?{re.escape(n)}(?:\s|$))" for n in names)
    return re.compile(rf"^\s*{ahead}(?:\S+\s*){{{len(names)}}}$")


def jpeg(width: int, height: int, bgr: tuple[int, int, int]) -> str:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), bgr, np.uint8))
    assert ok
    return base64.b64encode(data.tobytes()).decode("ascii")


async def send_thumbnail(agent: websockets.ClientConnection, time: float, picture: str) -> None:
    await agent.send(encode(Thumbnail(hearing_id="h-1", camera=CAMERA, time=time, jpeg=picture)))


async def open_wall(page: Page, hub: RunningHub) -> None:
    await page.goto(hub.url + "/patrol")
    await expect(page.get_by_role("heading", name="巡查登录")).to_be_visible()
    await page.fill("#username", "admin")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#login-button")
    await expect(page.locator("#conn")).to_have_class("conn conn-live")


@dataclass
class Traffic:
    """What the page exchanged with the hub, as Chromium saw it."""

    sockets: list[str] = field(default_factory=list)  # URLs of websockets opened
    received: list[str] = field(default_factory=list)  # types of live messages received
    events: list[str] = field(default_factory=list)  # URLs of /events requests

    def live_sockets(self) -> list[str]:
        return [url for url in self.sockets if "/ws/live" in url]


def watch_traffic(page: Page) -> Traffic:
    traffic = Traffic()

    def on_socket(ws: WebSocket) -> None:
        traffic.sockets.append(ws.url)
        ws.on("framereceived", lambda payload: traffic.received.append(json.loads(payload)["type"]))

    def on_request(request: Request) -> None:
        if "/events" in request.url:
            traffic.events.append(request.url)

    page.on("websocket", on_socket)
    page.on("request", on_request)
    return traffic


PATROL_MESSAGES = {
    "patrol-snapshot",
    "hearing",
    "hearing_state",
    "status",
    "alarm",
    "thumbnail",
    "compliance",
}


def is_reddish(rgba: list[int]) -> bool:
    return rgba[0] > 200 and rgba[1] < 60 and rgba[2] < 60


def is_bluish(rgba: list[int]) -> bool:
    return rgba[2] > 200 and rgba[0] < 60 and rgba[1] < 60


async def test_patrol_page_follows_pictures_alarms_and_camera_state(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory()
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    traffic = watch_traffic(page)
    await open_wall(page, hub)
    tile = page.locator(f'article.tile[data-room="{COURT}"]')
    await expect(tile.locator(".tile-name")).to_have_text("第一法庭")
    await expect(page.locator('article.tile[data-room="court-2"]')).to_have_count(1)
    await expect(tile.locator(".tile-online")).to_contain_text("离线")

    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    await expect(tile.locator(".tile-title")).to_have_text("民事一审")
    await expect(tile.locator(".tile-state")).to_contain_text("庭审中")
    await expect(tile.locator(".tile-online")).to_contain_text("在线")

    img = tile.locator(f'.cam[data-camera="{CAMERA}"] img')
    await send_thumbnail(agent, 12.0, jpeg(160, 90, RED))
    await expect(img).to_have_js_property("naturalWidth", 160)
    assert is_reddish(await img.evaluate(CENTRE_PIXEL))
    await expect(tile.locator(".cam-time")).to_have_text("00:00:12")
    first_url = await img.get_attribute("src")
    assert first_url and first_url.startswith("blob:")

    await send_thumbnail(agent, 17.0, jpeg(320, 180, BLUE))
    await expect(img).to_have_js_property("naturalWidth", 320)
    assert is_bluish(await img.evaluate(CENTRE_PIXEL))
    assert await img.get_attribute("src") != first_url
    revoked = await page.evaluate("u => fetch(u).then(() => 'kept', () => 'revoked')", first_url)
    assert revoked == "revoked"  # one live blob URL per camera

    alarms = tile.locator(".alarms .alarm")
    await send_events(agent, [Event(seq=2, kind="av.alarm", body=DEAD_MIC)])
    await expect(alarms).to_have_count(1)
    await expect(alarms.locator(".alarm-zh")).to_have_text("原告麦克风无信号")
    await expect(alarms).to_have_css("color", "rgb(161, 56, 43)")
    await expect(tile).to_have_class(classes("tile", "tile-alarm"))
    await page.screenshot(path=tmp_path / "alarm.png")

    cleared = {**DEAD_MIC, "active": False, "message": "原告麦克风恢复信号 · back"}
    await send_events(agent, [Event(seq=3, kind="av.alarm", body=cleared)])
    await expect(alarms).to_have_count(0)
    await expect(tile).to_have_class("tile")

    await send_events(agent, [Event(seq=4, kind="camera", body=CAMERA_OFFLINE)])
    camera = tile.locator(f'.cam[data-camera="{CAMERA}"]')
    await expect(camera).to_have_class(classes("cam", "has-picture", "cam-offline"))
    await expect(camera.locator(".cam-down")).to_be_visible()
    await expect(tile).to_have_class(classes("tile", "tile-cam-offline", "tile-alarm"))
    await expect(alarms.locator(".alarm-zh")).to_have_text("摄像机 cam-judge 离线")
    await page.screenshot(path=tmp_path / "camera-offline.png")

    online = {**CAMERA_OFFLINE, "state": "online", "reason": "", "message": "摄像机 在线"}
    await send_events(agent, [Event(seq=5, kind="camera", body=online)])
    await expect(camera.locator(".cam-down")).to_be_hidden()
    await expect(alarms).to_have_count(0)

    # Today's agents send a camera's offline alarm as av.alarm, in the one shape.
    down = CameraStateChange(camera=CAMERA, state=CameraState.OFFLINE, time=80.0, reason="x")
    body = down.to_json() | {"hearing_id": "h-1"}
    await send_events(agent, [Event(seq=6, kind=down.EVENT_KIND, body=body)])
    await expect(camera).to_have_class(classes("cam", "has-picture", "cam-offline"))
    await expect(alarms.locator(".alarm-zh")).to_have_text(f"摄像机 {CAMERA} 离线")
    up = CameraStateChange(camera=CAMERA, state=CameraState.ONLINE, time=81.0)
    await send_events(agent, [Event(seq=7, kind="av.alarm", body=up.to_json())])
    await expect(camera.locator(".cam-down")).to_be_hidden()
    await expect(alarms).to_have_count(0)

    # Transcript traffic is not sent to the wall at all.
    await agent.send(encode(Partial(hearing_id="h-1", channel=0, role="judge", start=9, text="请")))
    await send_events(agent, [final(8)])
    await agent.close()
    await expect(tile.locator(".tile-online")).to_contain_text("离线")
    await expect(tile).to_have_class("tile tile-down")
    assert errors == []
    # One socket for both courtrooms, patrol messages only; three alarm reads per courtroom.
    assert len(traffic.live_sockets()) == 1
    assert set(traffic.received) <= PATROL_MESSAGES and "alarm" in traffic.received
    assert len(traffic.events) == 2 * 3 and all("order=desc" in u for u in traffic.events)


async def test_patrol_page_opened_late_shows_raised_alarms_and_pictures(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    more = [
        CourtroomConfig(
            id=f"court-{n}", name=f"第{n}法庭", token=SecretStr(f"agent-token-court-{n}")
        )
        for n in (3, 4)
    ]
    base = make_config(tmp_path)
    hub = await hub_factory(make_config(tmp_path, courtrooms=(*base.courtrooms, *more)))
    agent, _ = await hub.agent()
    clipping = {**DEAD_MIC, "kind": "clipping", "message": "原告麦克风削波失真 · clipping"}
    disk_low = {  # as an agent before protocol 2 sent it: mapped by the hub
        "kind": "disk_low",
        "active": True,
        "severity": "warning",
        "message": "录音磁盘空间不足 / recording disk is running out of space",
        "hearing_id": "h-1",
        "hearing_frame": 48000,
    }
    events = [
        opened(1),
        Event(seq=2, kind="av.alarm", body=DEAD_MIC),
        Event(seq=3, kind="av.alarm", body=clipping),
        Event(seq=4, kind="av.alarm", body={**clipping, "active": False}),
        Event(seq=5, kind="camera", body=CAMERA_OFFLINE),
        Event(seq=6, kind="av.alarm", body=disk_low),
    ]
    await send_events(agent, events)
    await send_thumbnail(agent, 30.0, jpeg(160, 90, RED))
    other, _ = await hub.agent(OTHER, OTHER_TOKEN)
    defendant = {**DEAD_MIC, "hearing_id": "h-2", "subject": "1", "message": "被告麦克风无信号"}
    await send_events(other, [opened(1, "h-2"), Event(seq=2, kind="av.alarm", body=defendant)])

    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    traffic = watch_traffic(page)
    await open_wall(page, hub)
    await expect(page.locator("article.tile")).to_have_count(4)
    other_tile = page.locator(f'article.tile[data-room="{OTHER}"]')
    await expect(other_tile.locator(".alarms .alarm-zh")).to_have_text(["被告麦克风无信号"])
    tile = page.locator(f'article.tile[data-room="{COURT}"]')
    texts = tile.locator(".alarms .alarm .alarm-zh")
    # Newest first; the clipping alarm was cleared before the page opened.
    await expect(texts).to_have_text(
        ["录音磁盘空间不足", "摄像机 cam-judge 离线", "原告麦克风无信号"]
    )
    await expect(tile.locator(f'.cam[data-camera="{CAMERA}"]')).to_have_class(
        classes("cam", "has-picture", "cam-offline")
    )
    await expect(tile.locator("img")).to_have_js_property("naturalWidth", 160)

    # Live events after the replay are applied once, in order.
    await send_events(agent, [Event(seq=7, kind="av.alarm", body={**disk_low, "active": False})])
    await expect(texts).to_have_count(2)
    cleared = {**defendant, "active": False}
    await send_events(other, [Event(seq=3, kind="av.alarm", body=cleared)])
    await expect(other_tile.locator(".alarms .alarm")).to_have_count(0)
    await expect(tile.locator(".alarms .alarm")).to_have_count(2)  # unaffected
    assert len(traffic.live_sockets()) == 1  # four courtrooms, one socket
    assert len(traffic.events) == 4 * 3  # one newest-first read per courtroom and kind

    # The clerk page and the patrol wall link to each other; the login carries over.
    await page.get_by_role("link", name="庭审笔录").click()
    await expect(page.locator("#app-view")).to_be_visible()
    await page.get_by_role("link", name="庭审巡查").click()
    await expect(page.locator("#wall-view")).to_be_visible()
    await expect(texts).to_have_count(2)


async def test_patrol_page_keeps_the_20_newest_alarms_of_a_courtroom(
    hub: RunningHub,
    browser: Browser,  # noqa: F811
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    agent, _ = await hub.agent()
    raised = [
        Event(
            seq=2 + c,
            kind="av.alarm",
            body={**DEAD_MIC, "subject": str(c), "message": f"通道{c}无信号"},
        )
        for c in range(25)
    ]
    await send_events(agent, [opened(1), *raised])
    page = await browser.new_page()
    await open_wall(page, hub)
    tile = page.locator(f'article.tile[data-room="{COURT}"]')
    texts = tile.locator(".alarms .alarm .alarm-zh")
    await expect(texts).to_have_count(20)
    await expect(texts.first).to_have_text("通道24无信号")
    await expect(texts.last).to_have_text("通道5无信号")
    await expect(tile.locator(".alarm-omitted")).to_contain_text("已省略 5 条较早告警")
    await send_events(
        agent,
        [Event(seq=27, kind="av.alarm", body={**DEAD_MIC, "subject": "30", "message": "新"})],
    )
    await expect(texts.first).to_have_text("新")
    await expect(texts.last).to_have_text("通道6无信号")  # channel 5, the oldest, went
    await expect(texts).to_have_count(20)
    await expect(tile.locator(".alarm-omitted")).to_contain_text("已省略 6 条较早告警")


async def test_patrol_page_reconnects_after_hub_restart(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory()
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), Event(seq=2, kind="av.alarm", body=DEAD_MIC)])
    page = await browser.new_page()
    await open_wall(page, hub)
    tile = page.locator(f'article.tile[data-room="{COURT}"]')
    texts = tile.locator(".alarms .alarm .alarm-zh")
    await expect(texts).to_have_text(["原告麦克风无信号"])

    port = hub.server.port
    await hub.stop()
    await expect(page.locator("#conn")).not_to_have_class("conn conn-live")
    restarted = await hub_factory(make_config(tmp_path, listen=ListenConfig(port=port)))
    await expect(page.locator("#conn")).to_have_class("conn conn-live")
    agent, welcome = await restarted.agent()
    assert welcome.acked_seq == 2
    clipping = {**DEAD_MIC, "kind": "clipping", "message": "原告麦克风削波失真 · clipping"}
    await send_events(agent, [Event(seq=3, kind="av.alarm", body=clipping)])
    await expect(texts).to_have_text(["原告麦克风削波失真", "原告麦克风无信号"])


async def rest(hub: RunningHub, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {await hub.token()}"}
    async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=TIMEOUT) as client:
        return await client.get(path)


async def test_cameras_lists_cameras_with_a_thumbnail(hub: RunningHub) -> None:
    assert (await rest(hub, f"/api/courtrooms/{COURT}/cameras")).json() == []
    agent, _ = await hub.agent()
    await send_thumbnail(agent, 3.25, jpeg(32, 18, RED))
    await send_events(agent, [opened(1)])  # the ack proves the thumbnail was handled
    body: list[dict[str, Any]] = (await rest(hub, f"/api/courtrooms/{COURT}/cameras")).json()
    assert body == [{"camera": CAMERA, "hearing_time": 3.25}]


async def test_cameras_unknown_courtroom_is_404(hub: RunningHub) -> None:
    assert (await rest(hub, "/api/courtrooms/nope/cameras")).status_code == 404


async def test_cameras_without_token_is_401(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        response = await client.get(f"/api/courtrooms/{COURT}/cameras")
    assert response.status_code == 401


async def test_patrol_route_serves_the_page(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        response = await client.get("/patrol")
        script = await client.get("/static/patrol.js")
    assert response.status_code == 200 and "庭审巡查" in response.text
    assert script.status_code == 200 and "MAX_ALARMS" in script.text


async def test_patrol_page_shows_quarantined_events_live_and_after_reload(
    hub_factory: HubFactory,
    browser: Browser,  # noqa: F811
) -> None:
    """An event the hub had to quarantine is a hub alarm on the wall (issue 11, finding 10)."""
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    hub = await hub_factory()
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await open_wall(page, hub)
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    intruder, _ = await hub.agent(OTHER, OTHER_TOKEN)
    await send_events(intruder, [opened(1)])  # court-1's hearing id: quarantined
    alarms = page.locator(f'article.tile[data-room="{OTHER}"] .alarms .alarm')
    await expect(alarms).to_have_count(1)
    await expect(alarms.locator(".alarm-zh")).to_contain_text("事件 1 无法存档，已隔离")
    await expect(alarms.locator(".alarm-en")).to_contain_text("belongs to courtroom 'court-1'")
    await page.reload()  # read back from GET /api/courtrooms/{id}/events?kind=hub.quarantine
    await expect(page.locator("#conn")).to_have_class("conn conn-live")
    await expect(alarms).to_have_count(1)
    await expect(page.locator(f'article.tile[data-room="{COURT}"] .alarms .alarm')).to_have_count(0)
    await agent.close()
    await intruder.close()
