"""The courtroom display server over loopback, driven as a page would be (no browser).

Hostile pages, path traversal, the overflow policy, reconnect snapshots, and a
server that runs with nothing else (no hub, no agent).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from PIL import Image, ImageDraw, ImageFont
from websockets.exceptions import ConnectionClosed

from courtroom_agent.display import (
    DisplayLimits,
    DisplayReport,
    DisplayServer,
    Exhibit,
    ExhibitError,
    ExhibitKind,
)
from tests.hub.conftest import TIMEOUT

pytestmark = pytest.mark.slow  # starts servers

HEARING = "2026-1205-r1-01"
CASE = {"number": "(2026)京0105民初1234号", "title": "买卖合同纠纷"}


def opened(hearing_id: str = HEARING) -> dict[str, Any]:
    return {
        "hearing_id": hearing_id,
        "title": CASE["title"],
        "case": {
            "number": CASE["number"],
            "title": CASE["title"],
            "parties": [
                {"role": "原告", "name": "张三", "channel": 1},
                {"role": "被告", "name": "李四", "channel": 2},
            ],
        },
        "roles": ["审判长", "原告", "被告", "书记员"],
    }


def final(text: str, role: str = "审判长", channel: int = 0, start: float = 1.0) -> dict[str, Any]:
    return {
        "hearing_id": HEARING,
        "segment": {
            "channel": channel,
            "role": role,
            "text": text,
            "start": start,
            "end": start + 1,
        },
    }


def interruption(reason: str = "mediation", time: float = 60.0) -> dict[str, Any]:
    """The body of ``hearing.recessed`` / ``hearing.resumed``."""
    return {
        "hearing_id": HEARING,
        "reason": reason,
        "time": time,
        "at": "2026-12-05T05:30:00+00:00",
    }


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    """A hearing's evidence folder with an image and a two-page PDF, and a secret beside it."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    Image.new("RGB", (640, 400), (200, 30, 30)).save(folder / "照片.png")
    pages = [
        contract_page(colour, number)
        for number, colour in enumerate(("white", (220, 235, 255)), start=1)
    ]
    pages[0].save(folder / "合同.pdf", save_all=True, append_images=pages[1:], resolution=72)
    (tmp_path / "secret.png").write_bytes((folder / "照片.png").read_bytes())
    return folder


FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def contract_page(colour: Any, number: int) -> Image.Image:
    """An A4 page (72 dpi) of a contract, in the colour given (the tests tell pages apart by it)."""
    page = Image.new("RGB", (595, 842), colour)
    draw = ImageDraw.Draw(page)
    if FONT.exists():
        title, body = ImageFont.truetype(str(FONT), 30), ImageFont.truetype(str(FONT), 16)
        lines = ["甲方（卖方）：某某机械有限公司", "乙方（买方）：某某贸易有限公司", ""]
        lines += [f"第{n}条  货物名称、数量、价款及交付期限按附件执行。" for n in range(1, 19)]
        heading = "买 卖 合 同"
    else:
        title = body = ImageFont.load_default()
        lines, heading = [f"Article {n}." for n in range(1, 19)], "SALES CONTRACT"
    draw.text((297, 80), heading, fill="black", font=title, anchor="mm")
    for i, line in enumerate(lines):
        draw.text((60, 150 + 30 * i), line, fill=(40, 40, 40), font=body)
    draw.text((297, 800), f"第 {number} 页 / 共 2 页", fill="black", font=body, anchor="mm")
    return page


Reports = list[DisplayReport]


@pytest.fixture
async def display_factory(
    evidence: Path,
) -> AsyncIterator[Callable[..., Any]]:
    """Start DisplayServers on free loopback ports; each records its reports."""
    servers: list[DisplayServer] = []

    async def start(**kwargs: Any) -> tuple[DisplayServer, Reports]:
        reports: Reports = []
        kwargs.setdefault("courtroom", "第一法庭")
        kwargs.setdefault("evidence", lambda: evidence)
        server = DisplayServer(on_report=reports.append, **kwargs)
        await server.__aenter__()
        servers.append(server)
        return server, reports

    yield start
    for server in servers:
        await server.__aexit__(None, None, None)


@pytest.fixture
async def display(display_factory: Callable[..., Any]) -> tuple[DisplayServer, Reports]:
    server, reports = await display_factory()
    return server, reports


def ws_url(server: DisplayServer, view: str) -> str:
    return server.url.replace("http://", "ws://") + f"/display/ws/{view}"


async def receive(ws: websockets.ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return message


async def ack(ws: websockets.ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps({"shown": message["type"], "id": message["id"]}))


async def close_of(ws: websockets.ClientConnection) -> tuple[int, str]:
    """Read until the server closes ``ws``; the close code and reason it sent."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert info.value.rcvd is not None, "closed without a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


async def test_display_page_gets_a_snapshot_then_events_and_its_acks_make_the_report(
    display: tuple[DisplayServer, Reports],
) -> None:
    server, reports = display
    async with websockets.connect(ws_url(server, "judge")) as ws:
        snapshot = await receive(ws)
        assert snapshot["type"] == "snapshot" and snapshot["state"] == {"state": "idle"}
        await ack(ws, snapshot)
        server.publish("hearing.opened", opened())
        server.publish("transcript.final", final("现在开庭。"))
        state, line = await receive(ws), await receive(ws)
        assert state["state"] == "open" and state["hearing"]["case"] == CASE["number"]
        assert (line["role"], line["text"]) == ("审判长", "现在开庭。")
        await ack(ws, state)
        await ack(ws, line)

        async def counted() -> DisplayReport:
            while True:
                (judge,) = [r for r in server.report_now() if r.view == "judge"]
                if judge.finals_shown:
                    return judge
                await asyncio.sleep(0.01)

        judge = await asyncio.wait_for(counted(), TIMEOUT)
    assert judge.pages == 1 and judge.state == "open" and judge.finals_shown == 1
    assert judge.latency_p95_ms is not None and 0 <= judge.latency_p95_ms < 1000
    assert reports and reports[-1].view == "gallery"  # report_now also calls on_report


async def test_display_page_reconnecting_gets_state_recent_finals_and_exhibit_at_once(
    display: tuple[DisplayServer, Reports],
) -> None:
    server, _ = display
    server.publish("hearing.opened", opened())
    for i in range(60):  # more than the ring keeps
        server.publish("transcript.final", final(f"第{i}句"))
    server.publish("hearing.recessed", interruption("mediation"))
    server.present(Exhibit(id="P-1", label="照片", path="照片.png"))
    async with websockets.connect(ws_url(server, "gallery")) as ws:
        snapshot = await receive(ws)
    assert snapshot["state"]["state"] == "recess" and snapshot["state"]["reason"] == "mediation"
    texts = [f["text"] for f in snapshot["finals"]]
    assert len(texts) == DisplayLimits().recent and texts[-1] == "第59句" and texts[0] == "第10句"
    assert snapshot["exhibit"]["id"] == "P-1"


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        (b"\x00\x01", 1008, "text frames only"),
        ("x" * 300, 1009, "exceeds 256 bytes"),
        ("{not json", 1008, "not JSON"),
        ('["shown"]', 1008, "must be an object"),
        ('{"shown": "final", "id": 1, "cmd": "present"}', 1008, "unexpected fields ['cmd']"),
        ('{"shown": "exhibit.present", "id": 1}', 1008, "shown must be one of"),
        ('{"shown": "final", "id": "1"}', 1008, "id must be a positive integer"),
        ('{"shown": "final", "id": true}', 1008, "id must be a positive integer"),
        ('{"shown": "final", "id": NaN}', 1008, "not JSON"),
        ('{"shown": "final", "id": 77}', 1008, "id 77: no final awaits"),
    ],
)
async def test_display_page_hostile_message_is_refused_with_the_field_named(
    display: tuple[DisplayServer, Reports], frame: str | bytes, code: int, reason: str
) -> None:
    server, _ = display
    async with websockets.connect(ws_url(server, "gallery")) as ws:
        await receive(ws)
        await ws.send(frame)
        got_code, got_reason = await close_of(ws)
    assert got_code == code and reason in got_reason
    (gallery,) = [r for r in server.report_now() if r.view == "gallery"]
    assert gallery.refused == 1 and gallery.pages == 0


async def test_display_page_acknowledging_a_final_twice_is_refused(
    display: tuple[DisplayServer, Reports],
) -> None:
    server, _ = display
    server.publish("hearing.opened", opened())
    async with websockets.connect(ws_url(server, "judge")) as ws:
        await ack(ws, await receive(ws))
        server.publish("transcript.final", final("一"))
        line = await receive(ws)
        await ack(ws, line)
        await ack(ws, line)
        code, reason = await close_of(ws)
    assert (code, reason) == (1008, f"id {line['id']}: no final awaits acknowledgement")


async def test_display_socket_refuses_unknown_view_foreign_origin_and_too_many_pages(
    display_factory: Callable[..., Any],
) -> None:
    server, _ = await display_factory(limits=DisplayLimits(max_pages=2))
    async with websockets.connect(ws_url(server, "nowhere")) as ws:
        assert await close_of(ws) == (1008, "unknown view")
    with pytest.raises(websockets.InvalidStatus):  # no such route at all
        await websockets.connect(ws_url(server, "../judge"))
    async with websockets.connect(ws_url(server, "judge"), origin="http://evil.example") as ws:  # type: ignore[arg-type]
        assert await close_of(ws) == (1008, "Origin is not this display server")
    async with (
        websockets.connect(ws_url(server, "judge")) as one,
        websockets.connect(ws_url(server, "clerk")) as two,
    ):
        await receive(one), await receive(two)
        async with websockets.connect(ws_url(server, "gallery")) as three:
            assert await close_of(three) == (1013, "too many display pages (max 2)")


async def test_display_evidence_is_served_only_for_the_presented_exhibit_inside_the_folder(
    display: tuple[DisplayServer, Reports], evidence: Path
) -> None:
    server, _ = display
    os.symlink(evidence.parent / "secret.png", evidence / "link.png")
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
        assert (await client.get("/display/evidence/照片.png")).status_code == 404  # not presented
        server.present(Exhibit(id="P-1", label="照片", path="照片.png"))
        shown = await client.get("/display/evidence/照片.png")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
        assert shown.content == (evidence / "照片.png").read_bytes()
        for path in (
            "/display/evidence/../secret.png",
            "/display/evidence/%2e%2e/secret.png",
            "/display/evidence/..%2fsecret.png",
            "/display/evidence/%2fetc%2fpasswd",
            "/display/evidence/link.png",
            "/display/static/../../../../etc/passwd",
            "/display/static/%2e%2e/model.py",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert b"root:" not in response.content and b"import" not in response.content
        assert "nosniff" in shown.headers["x-content-type-options"]
        assert "default-src 'self'" in shown.headers["content-security-policy"]
    for bad in ("../secret.png", "/etc/passwd", "a/../../secret.png", "a\\..\\secret.png"):
        with pytest.raises(ExhibitError, match=r"exhibit\.path"):
            Exhibit(id="X", path=bad)
    with pytest.raises(ExhibitError, match="leaves the evidence folder"):
        server.present(Exhibit(id="X", path="link.png"))
    with pytest.raises(ExhibitError, match="not found"):
        server.present(Exhibit(id="X", path="missing.png"))
    with pytest.raises(ExhibitError, match=r"must be \.pdf"):
        server.present(Exhibit(id="X", kind=ExhibitKind.PDF, path="照片.png"))


async def test_display_evidence_over_the_size_bound_is_refused(
    display_factory: Callable[..., Any], evidence: Path
) -> None:
    server, _ = await display_factory(limits=DisplayLimits(max_file=1024))
    with pytest.raises(ExhibitError, match="exceeds 1024 bytes"):
        server.present(Exhibit(id="P-1", path="照片.png"))


async def test_display_pdf_page_is_rendered_only_at_the_presented_page_and_zoom(
    display: tuple[DisplayServer, Reports],
) -> None:
    server, _ = display
    server.present(Exhibit(id="P-2", kind=ExhibitKind.PDF, path="合同.pdf", page=2))
    pdf = "/display/evidence/合同.pdf"
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
        sizes = {}
        for zoom in (1, 2):
            server.update_exhibit(zoom=zoom)
            response = await client.get(pdf, params={"page": 2, "zoom": zoom})
            assert response.status_code == 200 and response.headers["content-type"] == "image/png"
            sizes[zoom] = Image.open(io.BytesIO(response.content)).size
        assert sizes[2][0] == 2 * sizes[1][0]
        # Only the page and zoom presented: a page cannot browse the file or order renders.
        other = await client.get(pdf, params={"page": 1, "zoom": 2})
        assert other.status_code == 404 and "not presented" in other.text
        bad = await client.get(pdf, params={"zoom": "inf"})
        assert bad.status_code == 400 and "zoom must be within" in bad.text
        server.update_exhibit(page=3, zoom=1)
        missing = await client.get(pdf, params={"page": 3, "zoom": 1})
        assert missing.status_code == 404 and "3 of 2 pages" in missing.text


async def test_display_publish_never_waits_for_a_page_that_does_not_read(
    display_factory: Callable[..., Any],
) -> None:
    server, _ = await display_factory(limits=DisplayLimits(outbox=8, send_timeout_s=TIMEOUT))
    server.publish("hearing.opened", opened())
    async with websockets.connect(ws_url(server, "judge"), max_queue=1) as stuck:
        await receive(stuck)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(5000):
            server.publish("transcript.final", final(f"第{i}句，" + "很长的一句话" * 50))
        assert loop.time() - started < 2.0  # 5000 publishes: the loop never waited on the page
        pages = list(server._pages)
        assert len(pages) == 1 and len(pages[0].outbox) <= 8 and pages[0].overflows > 0
        # The slow page skips ahead: after the backlog it is given a snapshot of now.
        seen: list[dict[str, Any]] = []
        while not (seen and seen[-1]["type"] == "snapshot"):
            seen.append(await receive(stuck))
        assert seen[-1]["finals"][-1]["text"].startswith("第4999句")


async def test_display_serves_with_nothing_else_running(
    display: tuple[DisplayServer, Reports],
) -> None:
    """No hub, no agent, no network beyond loopback: every page and asset is served here."""
    server, _ = display
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
        index = await client.get("/display")
        assert index.status_code == 200
        for view in ("judge", "clerk", "plaintiff", "defendant", "gallery"):
            assert f'href="/display/{view}"' in index.text
            page = await client.get(f"/display/{view}")
            assert page.status_code == 200 and f'data-view="{view}"' in page.text
        for asset in ("display.js", "display.css"):
            assert (await client.get(f"/display/static/{asset}")).status_code == 200
        assert (await client.get("/display/nowhere")).status_code == 404
        assert "http" not in (await client.get("/display/judge")).text.replace(
            'name="viewport"', ""
        ).split("<body")[0].replace("http-equiv", "")


async def test_display_reports_periodically_only_the_views_that_changed(
    display_factory: Callable[..., Any],
) -> None:
    server, reports = await display_factory(report_every=0.02)
    server.publish("hearing.opened", opened())

    async def report_where(ready: Callable[[DisplayReport], bool]) -> DisplayReport:
        async with asyncio.timeout(TIMEOUT):
            while not (found := [r for r in reports if ready(r)]):  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # reports come from the server's own task
        return found[-1]

    # A new hearing starts every view's figures afresh: each is reported once.
    await report_where(lambda r: r.view == "gallery")
    async with asyncio.timeout(TIMEOUT):
        while {r.view for r in reports} != set(server.views):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    reports.clear()
    async with websockets.connect(ws_url(server, "judge")) as ws:
        await ack(ws, await receive(ws))
        await report_where(lambda r: r.view == "judge" and r.state == "open" and r.pages == 1)
        server.publish("transcript.final", final("现在开庭。"))
        await ack(ws, await receive(ws))
        shown = await report_where(lambda r: r.view == "judge" and r.finals_shown == 1)
    assert shown.latency_p50_ms is not None
    await report_where(lambda r: r.view == "judge" and r.pages == 0)  # the page left
    assert {r.view for r in reports} == {"judge"}  # untouched views are not reported


async def test_display_with_hosts_given_refuses_any_other_host_header(
    display_factory: Callable[..., Any],
) -> None:
    server, _ = await display_factory(hosts=["127.0.0.1"])
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
        assert (await client.get("/display/judge")).status_code == 200
        rebound = await client.get("/display/judge", headers={"host": "evil.example"})
        assert rebound.status_code == 400
    async with websockets.connect(ws_url(server, "judge")) as ws:
        assert (await receive(ws))["type"] == "snapshot"
    with pytest.raises(websockets.InvalidStatus) as info:  # Host: localhost:PORT
        await websockets.connect(ws_url(server, "judge").replace("127.0.0.1", "localhost"))
    assert info.value.response.status_code == 400
