"""Several agents in one hearing: a remote site joins a court's hearing (issue 12 §3).

The court's agent (COURT) opens a hearing; the remote site's agent (OTHER)
joins it with ``hearing.opened`` ``joined: true`` (same hearing id, same
``opened_at``). Both sites' finals make one transcript, each line labelled
with its site, on SQLite and PostgreSQL, through the real hub's websockets
and REST API; the archive rules are also checked on the archive directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from playwright.async_api import Browser, expect

from courtroom_core.wire import Event, Partial, encode
from hub.config import DatabaseConfig
from hub.db import migrate, open_engine
from hub.live import MAX_ROUTES, LiveBroadcaster, LiveSubscriber
from hub.store import Archive
from tests.hub.conftest import (
    COURT,
    COURT_TOKEN,
    OTHER,
    OTHER_TOKEN,
    TIMEOUT,
    HubFactory,
    RunningHub,
    make_config,
)
from tests.hub.test_agent_ws import send_events
from tests.hub.test_clerk_page import browser, log_in  # noqa: F401  (the Chromium fixture)
from tests.hub.test_users import add_user, login

HEARING = "h-joint"
OPENED_AT = "2025-03-01T09:00:00+08:00"
NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


def opened(seq: int, *, joined: bool = False, at: str = OPENED_AT, hearing: str = HEARING) -> Event:
    body: dict[str, Any] = {"hearing_id": hearing, "title": "远程提审", "opened_at": at}
    if joined:
        body["joined"] = True
    return Event(seq=seq, kind="hearing.opened", body=body)


def final(seq: int, start: float, text: str, role: str, hearing: str = HEARING) -> Event:
    segment = {
        "start": start,
        "end": start + 0.5,
        "channel": 0,
        "role": role,
        "text": text,
        "confidence": 0.9,
        "words": [],
    }
    return Event(seq=seq, kind="transcript.final", body={"hearing_id": hearing, "segment": segment})


def closed(seq: int, at: str = "2025-03-01T10:00:00+08:00") -> Event:
    return Event(seq=seq, kind="hearing.closed", body={"hearing_id": HEARING, "closed_at": at})


async def get(hub: RunningHub, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or await hub.token()}"}
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT, headers=headers) as client:
        response = await client.get(path)
        response.raise_for_status()
        return response.json()


async def next_of(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    """The next live message of type ``kind`` (status pushes may come in between)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == kind:
            return message


async def quarantine_errors(hub: RunningHub, courtroom: str) -> list[str]:
    events = await get(hub, f"/api/courtrooms/{courtroom}/events?kind=hub.quarantine")
    return [e["body"]["error"] for e in events]


async def joint_hearing(hub: RunningHub) -> tuple[Any, Any]:
    """COURT opens the hearing, OTHER joins it; both agents connected."""
    court, _ = await hub.agent(COURT, COURT_TOKEN)
    other, _ = await hub.agent(OTHER, OTHER_TOKEN)
    await send_events(court, [opened(1)])
    await send_events(other, [opened(1, joined=True)])
    return court, other


def lines(segments: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(s["site"], s["site_name"], s["role"], s["text"]) for s in segments]


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_hub(
    request: pytest.FixtureRequest, hub_factory: HubFactory, tmp_path: Path
) -> RunningHub:
    """A real hub on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        return await hub_factory()
    url = request.getfixturevalue("postgres_url")
    return await hub_factory(make_config(tmp_path, database=DatabaseConfig(url=url)))


async def test_sites_two_agents_share_one_hearing(any_hub: RunningHub) -> None:
    hub = any_hub
    court, _ = await hub.agent(COURT, COURT_TOKEN)
    other, _ = await hub.agent(OTHER, OTHER_TOKEN)
    await send_events(court, [opened(1)])
    viewer, snapshot = await hub.browser(COURT)
    assert snapshot["hearing"]["id"] == HEARING and snapshot["hearing"]["sites"] == []

    # Not joined: OTHER cannot write into COURT's hearing.
    assert await send_events(other, [final(1, 0.5, "冒名", "defendant")]) == [1]
    [error] = await quarantine_errors(hub, OTHER)
    assert "belongs to courtroom 'court-1'" in error and "has not joined" in error

    await send_events(other, [opened(2, joined=True)])
    joined = await next_of(viewer, "hearing")
    assert joined["courtroom"] == COURT and joined["hearing"]["closed_at"] is None
    [site] = joined["hearing"]["sites"]
    assert (site["courtroom"], site["name"], site["left_at"]) == (OTHER, "第二法庭", None)

    await other.send(
        encode(Partial(hearing_id=HEARING, channel=1, role="defendant", start=2.0, text="我"))
    )
    partial = await next_of(viewer, "partial")
    assert (partial["courtroom"], partial["site"], partial["site_name"]) == (
        COURT,
        OTHER,
        "第二法庭",
    )
    assert (partial["role"], partial["text"]) == ("defendant", "我")

    await send_events(court, [final(2, 1.0, "现在开庭", "judge")])
    await send_events(other, [final(3, 2.0, "我认罪", "defendant")])
    await send_events(court, [final(3, 3.0, "记录在案", "judge")])
    live = [(await next_of(viewer, "final")) for _ in range(3)]
    assert [(m["courtroom"], m["segment"]["site"], m["segment"]["seq"]) for m in live] == [
        (COURT, COURT, 2),
        (COURT, OTHER, 3),
        (COURT, COURT, 3),
    ]

    whole = await get(hub, f"/api/hearings/{HEARING}/transcript")
    assert lines(whole) == [
        (COURT, "第一法庭", "judge", "现在开庭"),
        (OTHER, "第二法庭", "defendant", "我认罪"),
        (COURT, "第一法庭", "judge", "记录在案"),
    ]
    # Paging names the cursor's site: seq 3 is a segment of both sites.
    page = await get(hub, f"/api/hearings/{HEARING}/transcript?before_seq=3&site={COURT}&limit=1")
    assert lines(page) == [(OTHER, "第二法庭", "defendant", "我认罪")]
    page = await get(hub, f"/api/hearings/{HEARING}/transcript?before_seq=3&site={OTHER}")
    assert lines(page) == [(COURT, "第一法庭", "judge", "现在开庭")]

    # The site's 闭庭 ends its part only; its later lines are quarantined.
    await send_events(other, [closed(4), final(5, 4.0, "迟到", "defendant")])
    [hearing] = await get(hub, f"/api/hearings?courtroom={COURT}")
    assert hearing["closed_at"] is None and hearing["sites"][0]["left_at"] is not None
    assert "left hearing" in (await quarantine_errors(hub, OTHER))[-1]
    await send_events(court, [closed(4)])
    [hearing] = await get(hub, f"/api/hearings?courtroom={COURT}")
    assert hearing["closed_at"] is not None and hearing["duration"] is None
    assert len(await get(hub, f"/api/hearings/{HEARING}/transcript")) == 3
    for ws in (court, other, viewer):
        await ws.close()


async def test_sites_owner_page_relearns_joined_site_after_restart(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    """After a hub restart the owner's snapshot routes the joined site's lines again;
    the joined site's page sees only its own lines; REST follows the same rule."""
    config = make_config(tmp_path)
    hub = await hub_factory(config)
    court, other = await joint_hearing(hub)
    await send_events(court, [final(2, 1.0, "开庭", "judge")])
    await send_events(other, [final(2, 2.0, "听到", "defendant")])
    for ws in (court, other):
        await ws.close()
    await hub.stop()

    hub = await hub_factory(config)
    court, _ = await hub.agent(COURT, COURT_TOKEN)
    other, _ = await hub.agent(OTHER, OTHER_TOKEN)
    owner_page, snapshot = await hub.browser(COURT)
    assert [s["site"] for s in snapshot["segments"]] == [COURT, OTHER]
    site_page, site_snapshot = await hub.browser(OTHER)
    assert site_snapshot["hearing"]["id"] == HEARING
    assert site_snapshot["hearing"]["courtroom"] == COURT
    assert [s["site"] for s in site_snapshot["segments"]] == [OTHER]

    await send_events(court, [final(3, 3.0, "继续", "judge")])
    await send_events(other, [final(3, 4.0, "明白", "defendant")])
    assert [(await next_of(owner_page, "final"))["segment"]["site"] for _ in range(2)] == [
        COURT,
        OTHER,
    ]
    # The court's line was published before its ack: had it gone to the
    # site's page, it would come before the site's own.
    assert (await next_of(site_page, "final"))["segment"]["site"] == OTHER

    await add_user(hub, "site-clerk", "clerk", [OTHER])
    await add_user(hub, "court-clerk", "clerk", [COURT])
    site_view = await get(
        hub, f"/api/hearings/{HEARING}/transcript", await login(hub, "site-clerk")
    )
    court_view = await get(
        hub, f"/api/hearings/{HEARING}/transcript", await login(hub, "court-clerk")
    )
    assert [s["text"] for s in site_view] == ["听到", "明白"]
    assert [s["text"] for s in court_view] == ["开庭", "听到", "继续", "明白"]
    for ws in (court, other, owner_page, site_page):
        await ws.close()


@pytest.mark.slow
async def test_sites_clerk_page_labels_the_joined_sites_lines(
    hub: RunningHub,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The owner's clerk page shows the remote site's partial and final, labelled
    with the site's name, in hearing-clock order among the court's own."""
    expect.set_options(timeout=TIMEOUT * 1000 * 2)
    court, other = await joint_hearing(hub)
    page = await browser.new_page(viewport={"width": 1280, "height": 760})
    await log_in(page, hub.url)
    await expect(page.locator("#hearing-title")).to_contain_text("远程提审")
    partial = Partial(hearing_id=HEARING, channel=0, role="defendant", start=2.0, text="我")
    await other.send(encode(partial))
    await expect(page.locator("#partials .partial .site")).to_have_text("第二法庭")
    await send_events(court, [final(2, 1.0, "现在开庭", "judge")])
    await send_events(other, [final(2, 2.0, "我认罪", "defendant")])
    await send_events(court, [final(3, 3.0, "记录在案", "judge")])
    finals = page.locator("#finals .final")
    await expect(finals).to_have_count(3)
    await expect(page.locator("#partials .partial")).to_have_count(0)
    await expect(finals.locator(".text")).to_have_text(["现在开庭", "第二法庭我认罪", "记录在案"])
    await expect(finals.nth(1).locator(".site")).to_have_attribute("title", OTHER)
    await expect(page.locator("#finals .site")).to_have_count(1)  # the court's own: no label
    await page.screenshot(path=tmp_path / "sites.png")
    for ws in (court, other):
        await ws.close()


# -- the archive's rules ------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Archive]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/archive/hub.db"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_engine(url)
    migrate(engine)
    archive = Archive(engine)
    archive.ensure_courtrooms([("c1", "第一法庭"), ("c2", "看守所提讯室")])
    yield archive
    engine.dispose()


def store(archive: Archive, event: Event, courtroom: str) -> Any:
    return archive.store_event(courtroom, event, now=NOW)


def test_sites_archive_refuses_joins_that_do_not_fit(archive: Archive) -> None:
    store(archive, opened(1), "c1")
    refused = [
        (opened(1, joined=True, hearing="h-none"), "c2", "no site opened it"),
        (opened(2, joined=True), "c1", "'c1' opened it"),
        (opened(2, joined=True, at="2025-03-01T09:00:01+08:00"), "c2", "is not its opened_at"),
    ]
    for event, courtroom, error in refused:
        result = store(archive, event, courtroom)
        assert result.quarantined is not None and error in result.quarantined.error
    hearing = archive.hearing(HEARING)
    assert hearing is not None and hearing.sites == ()


def test_sites_archive_join_leave_rejoin_and_current_hearing(archive: Archive) -> None:
    store(archive, opened(1, hearing="h-own"), "c2")  # the site's own earlier hearing
    store(archive, opened(1), "c1")
    assert archive.current_hearing("c2").id == "h-own"  # type: ignore[union-attr]
    result = store(archive, opened(2, joined=True), "c2")
    assert result.hearing is not None and [s.courtroom for s in result.hearing.sites] == ["c2"]
    assert archive.current_hearing("c2").id == HEARING  # type: ignore[union-attr]
    assert {h.id for h in archive.hearings("c2")} == {"h-own", HEARING}
    store(archive, final(3, 1.0, "一", "defendant"), "c2")
    left = store(archive, closed(4), "c2").hearing
    assert left is not None and left.closed_at is None and left.sites[0].left_at is not None
    assert store(archive, final(5, 2.0, "二", "defendant"), "c2").quarantined is not None
    rejoined = store(archive, opened(6, joined=True), "c2").hearing
    assert rejoined is not None and rejoined.sites[0].left_at is None
    store(archive, final(7, 3.0, "三", "defendant"), "c2")
    store(archive, final(2, 2.5, "庭", "judge"), "c1")
    assert [s["text"] for s in archive.transcript(HEARING, "c1")] == ["一", "庭", "三"]
    assert [s["text"] for s in archive.transcript(HEARING, "c2")] == ["一", "三"]
    tail, more = archive.transcript_tail(HEARING, "c1", limit=2, max_bytes=1 << 20)
    assert [s["site_name"] for s in tail] == ["第一法庭", "看守所提讯室"] and more
    owner_close = store(archive, closed(3), "c1").hearing
    assert owner_close is not None and owner_close.closed_at is not None
    assert owner_close.sites[0].left_at is None  # the site's part ends with its own 闭庭


# -- live routing -------------------------------------------------------------


def hearing_json(sites: list[tuple[str, str | None]], hearing: str = HEARING) -> dict[str, Any]:
    return {
        "id": hearing,
        "courtroom": "c1",
        "sites": [{"courtroom": c, "name": c.upper(), "left_at": left} for c, left in sites],
    }


async def test_sites_broadcaster_routes_joined_lines_and_forgets_left_sites() -> None:
    broadcaster = LiveBroadcaster()
    owner, site = LiveSubscriber(queue_size=8), LiveSubscriber(queue_size=8)
    broadcaster.watch(owner, "c1")
    broadcaster.watch(site, "c2")
    partial = {"type": "partial", "courtroom": "c2", "hearing_id": HEARING, "text": "我"}
    assert broadcaster.publish("c2", partial) == 1  # not joined: the site's page only
    joined = {"type": "hearing", "courtroom": "c2", "hearing": hearing_json([("c2", None)])}
    assert broadcaster.publish("c2", joined) == 2
    assert broadcaster.publish("c2", partial) == 2
    frames = [json.loads(await owner.next_frame()) for _ in range(2)]
    assert frames[0]["courtroom"] == "c1" and frames[0]["type"] == "hearing"
    assert frames[1] == {**partial, "courtroom": "c1", "site": "c2", "site_name": "C2"}
    owners_line = {"type": "final", "courtroom": "c1", "hearing_id": HEARING, "segment": {}}
    assert broadcaster.publish("c1", owners_line) == 1  # never to the site's page
    broadcaster.learn(hearing_json([("c2", "2025-03-01T02:00:00+00:00")]))
    assert broadcaster.route("c2", HEARING) is None
    for n in range(MAX_ROUTES + 1):
        broadcaster.learn(hearing_json([(f"s{n}", None)], hearing=f"h{n}"))
    assert broadcaster.route("s0", "h0") is None and broadcaster.route("s1", "h1") == "c1"
