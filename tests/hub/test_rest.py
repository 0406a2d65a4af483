"""REST API and OpenAPI on a real hub, plus the redaction of tokens in logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.hub.conftest import ADMIN_PASSWORD, COURT, TIMEOUT, RunningHub
from tests.hub.test_agent_ws import final, opened, send_events
from tests.hub.test_live_alarms import alarm


def client(hub: RunningHub, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=TIMEOUT)


async def test_rest_healthz_needs_no_auth(hub: RunningHub) -> None:
    async with client(hub) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "path", ["/api/courtrooms", "/api/hearings", "/api/hearings/h-1/transcript"]
)
async def test_rest_api_without_bearer_is_401(hub: RunningHub, path: str) -> None:
    async with client(hub) as http:
        assert (await http.get(path)).status_code == 401
    async with client(hub, "garbage.token") as http:
        assert (await http.get(path)).status_code == 401


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong password"), ("nobody", ADMIN_PASSWORD)]
)
async def test_rest_login_wrong_credentials_is_401(
    hub: RunningHub, username: str, password: str
) -> None:
    async with client(hub) as http:
        response = await http.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 401
    assert "token" not in response.json()


async def test_rest_login_returns_token_and_expiry(hub: RunningHub) -> None:
    async with client(hub) as http:
        response = await http.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
    body = response.json()
    assert response.status_code == 200 and body["token"] and body["expires_at"]
    async with client(hub, body["token"]) as http:
        assert (await http.get("/api/courtrooms")).status_code == 200


async def test_rest_courtrooms_hearings_and_transcript(hub: RunningHub) -> None:
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), final(2, "后", 5.0), final(3, "先", 1.0)])
    async with client(hub, await hub.token()) as http:
        rooms = (await http.get("/api/courtrooms")).json()
        hearings = (await http.get("/api/hearings", params={"courtroom": COURT})).json()
        none = (await http.get("/api/hearings", params={"courtroom": "court-2"})).json()
        segments = (await http.get("/api/hearings/h-1/transcript")).json()
        missing = await http.get("/api/hearings/nope/transcript")
    by_id = {room["id"]: room for room in rooms}
    assert by_id[COURT]["online"] is True and by_id[COURT]["name"] == "第一法庭"
    assert by_id[COURT]["hearing"]["id"] == "h-1"
    assert by_id["court-2"]["online"] is False and by_id["court-2"]["hearing"] is None
    assert [h["id"] for h in hearings] == ["h-1"] and none == []
    assert hearings[0]["opened_at"].startswith("2025-03-01T01:00:00")
    assert [(s["seq"], s["text"]) for s in segments] == [(3, "先"), (2, "后")]  # by start
    assert set(segments[0]) == {
        "seq",
        "site",
        "site_name",
        "start",
        "end",
        "channel",
        "role",
        "text",
        "confidence",
        "words",
    }
    assert (segments[0]["site"], segments[0]["site_name"]) == (COURT, "第一法庭")
    assert missing.status_code == 404


async def test_rest_openapi_lists_the_api(hub: RunningHub) -> None:
    async with client(hub, await hub.token()) as http:
        schema = (await http.get("/openapi.json")).json()
    assert {"/api/login", "/api/courtrooms", "/api/hearings", "/healthz"} <= set(schema["paths"])
    assert "/api/hearings/{hearing_id}/transcript" in schema["paths"]


async def test_rest_clerk_page_is_served(hub: RunningHub) -> None:
    async with client(hub) as http:
        page = await http.get("/")
        script = await http.get("/static/app.js")
        shared = await http.get("/static/session.js")
    assert page.status_code == 200 and "庭审实时笔录" in page.text
    assert "/static/session.js" in page.text and "/static/app.js" in page.text
    assert script.status_code == 200 and "liveUrl(" in script.text
    assert shared.status_code == 200 and "/ws/live" in shared.text


async def test_rest_bearer_token_is_not_logged(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, _ = await hub.browser()
    token = await hub.token()
    assert "token=***" in caplog.text
    assert token not in caplog.text


async def events_page(http: httpx.AsyncClient, **params: str | int) -> list[int]:
    response = await http.get(f"/api/courtrooms/{COURT}/events", params=params)
    assert response.status_code == 200, response.text
    return [event["seq"] for event in response.json()]


async def test_rest_events_newest_first_pages_with_before_without_overlap(
    hub: RunningHub,
) -> None:
    agent, _ = await hub.agent()
    alarms = [alarm(seq, subject=str(seq)) for seq in range(2, 8)]
    await send_events(agent, [opened(1), *alarms, final(8), alarm(9)])
    async with client(hub, await hub.token()) as http:
        pages, before = [], None
        while True:
            params: dict[str, str | int] = {"kind": "av.alarm", "order": "desc", "limit": 3}
            if before is not None:
                params["before"] = before
            page = await events_page(http, **params)
            if not page:
                break
            pages.append(page)
            before = page[-1]
        assert pages == [[9, 7, 6], [5, 4, 3], [2]]
        assert await events_page(http, kind="av.alarm") == [2, 3, 4, 5, 6, 7, 9]  # default asc
        assert await events_page(http, kind="av.alarm", after=6) == [7, 9]
        assert await events_page(http, order="desc", after=3, before=8, limit=10) == [7, 6, 5, 4]
        assert await events_page(http, order="asc", after=3, before=8, limit=2) == [4, 5]
        assert await events_page(http, order="desc", limit=1) == [9]


BAD_EVENTS_QUERIES = [
    "order=newest",
    "order=DESC",
    "limit=0",
    "limit=5001",
    "limit=ten",
    "before=0",
    "before=-5",
    "before=x",
    f"before={2**63}",
    "after=-1",
    f"after={2**63}",
    "kind=" + "k" * 33,
]


async def test_rest_events_bad_parameter_is_422_unknown_courtroom_404(hub: RunningHub) -> None:
    async with client(hub, await hub.token()) as http:
        for query in BAD_EVENTS_QUERIES:
            response = await http.get(f"/api/courtrooms/{COURT}/events?{query}")
            assert response.status_code == 422, (query, response.text)
            assert response.json()["detail"][0]["loc"][0] == "query", query
        response = await http.get("/api/courtrooms/nope/events", params={"order": "desc"})
    assert response.status_code == 404


async def test_rest_transcript_pages_in_transcript_order(hub: RunningHub) -> None:
    agent, _ = await hub.agent()
    # seq order and time order differ: paging follows the transcript's (start, seq)
    events = [opened(1)] + [final(seq, f"第{seq}句", 10.0 - seq) for seq in range(2, 9)]
    await send_events(agent, events)
    async with client(hub, await hub.token()) as http:
        url = "/api/hearings/h-1/transcript"
        whole = [s["seq"] for s in (await http.get(url)).json()]
        earlier = (await http.get(url, params={"before_seq": whole[4], "limit": 3})).json()
        later = (await http.get(url, params={"after_seq": whole[4], "limit": 2})).json()
        both = await http.get(url, params={"before_seq": 2, "after_seq": 3})
        too_big = await http.get(url, params={"limit": 10**6})
    assert whole == [8, 7, 6, 5, 4, 3, 2]
    assert [s["seq"] for s in earlier] == [7, 6, 5]
    assert [s["seq"] for s in later] == [3, 2]
    assert both.status_code == 422 and too_big.status_code == 422
