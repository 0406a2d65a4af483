"""Findings 3, 5, 6, 8, 9 and 10 of issue 11, replayed against one ``courtroom hub`` process.

One hub process (two courtrooms, an admin password from the environment, a
clerk seeded from ``hub.toml``) serves every test in this module; findings 1
and 2 are in ``test_edge_process.py``, finding 7 is the agent's side
(``tests/agent/test_link_trust.py``). The tests share the courtrooms' seq
streams, so each one starts from the ``acked_seq`` of its agent's ``welcome``
and works in its own hearing: they pass in any order.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets

from courtroom_core.wire import (
    CLOSE_INVALID,
    CLOSE_SEQ_CONFLICT,
    CLOSE_UNAUTHORIZED,
    Ack,
    Event,
    Hello,
    Partial,
    Welcome,
    decode,
    encode,
)
from hub.agent_ws import FRAMES_PER_SECOND, PARTIAL_BURST, PARTIALS_PER_SECOND
from hub.live_ws import SNAPSHOT_SEGMENTS
from hub.security import TokenSigner, hash_password
from hub.store import QUARANTINE_KIND
from tests.fixtures.hub_process import HubProcess, courtroom_command, run_hub_process
from tests.hub.conftest import (
    ADMIN_PASSWORD,
    COURT,
    COURT_TOKEN,
    OTHER,
    OTHER_TOKEN,
    TIMEOUT,
    close_code,
)
from tests.hub.test_agent_ws import final, opened, send_events
from tests.hub.test_users import PASSWORD
from tests.hub.test_wire_hub import SEQ_2_63, next_of, raw_final, send_raw

CLERK = "clerk3"
"""Seeded by ``hub.toml`` as a clerk of court-1; disabled with ``courtroom users``."""


@pytest.fixture(scope="module")
def hub_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    tables = f"""
[[courtrooms]]
id = "{COURT}"
name = "第一法庭"
token = "{COURT_TOKEN}"

[[courtrooms]]
id = "{OTHER}"
name = "第二法庭"
token = "{OTHER_TOKEN}"

[[users]]
username = "{CLERK}"
password_hash = "{hash_password(PASSWORD)}"
role = "clerk"
courtrooms = ["{COURT}"]
"""
    with run_hub_process(
        tmp_path_factory.mktemp("findings-hub"),
        tables,
        env={"COURTROOM_ADMIN_PASSWORD": ADMIN_PASSWORD},
    ) as hub:
        yield hub


# -- helpers for a hub in another process -------------------------------------


def http(hub: HubProcess, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=TIMEOUT)


async def login(hub: HubProcess, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    async with http(hub) as client:
        response = await client.post(
            "/api/login", json={"username": username, "password": password}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def get(hub: HubProcess, path: str, token: str | None = None) -> Any:
    async with http(hub, token or await login(hub)) as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def agent(
    hub: HubProcess, courtroom: str = COURT, token: str = COURT_TOKEN
) -> tuple[websockets.ClientConnection, Iterator[int]]:
    """The courtroom's agent, and the seqs it may send next (from its welcome)."""
    ws = await websockets.connect(hub.ws("/ws/agent"), open_timeout=TIMEOUT)
    await ws.send(encode(Hello(courtroom=courtroom, token=token)))
    welcome = decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert isinstance(welcome, Welcome)
    return ws, itertools.count(welcome.acked_seq + 1)


async def live(hub: HubProcess, token: str, request: dict[str, str]) -> websockets.ClientConnection:
    """A /ws/live socket that sent ``request`` (subscribe or patrol); nothing read yet."""
    ws = await websockets.connect(hub.ws(f"/ws/live?token={token}"), open_timeout=TIMEOUT)
    await ws.send(json.dumps(request))
    return ws


async def snapshot(
    hub: HubProcess, token: str, courtroom: str
) -> tuple[websockets.ClientConnection, dict[str, Any]]:
    ws = await live(hub, token, {"type": "subscribe", "courtroom": courtroom})
    first: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert first["type"] == "snapshot" and first["courtroom"] == courtroom
    return ws, first


def final_in(hearing: str, seq: int, text: str, start: float = 1.0) -> Event:
    """``final()`` of ``tests.hub.test_agent_ws`` in another hearing."""
    return Event(
        seq=seq,
        kind="transcript.final",
        body={**final(seq, text, start).body, "hearing_id": hearing},
    )


def raw_final_in(hearing: str, seq: int, **segment: Any) -> str:
    frame = json.loads(raw_final(seq, **segment))
    frame["body"]["hearing_id"] = hearing
    return json.dumps(frame)


def logged(hub: HubProcess, fragment: str) -> list[str]:
    """The hub's log lines holding ``fragment`` (a line is written before the
    ack or close it explains is sent)."""
    return [line for line in hub.log_lines() if fragment in line]


async def texts(hub: HubProcess, hearing: str) -> list[str]:
    return [s["text"] for s in await get(hub, f"/api/hearings/{hearing}/transcript")]


# -- finding 3: nothing is revoked ---------------------------------------------


async def test_finding3_disabled_user_forged_token_and_logout_are_refused(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    # A user seeded by hub.toml, disabled in the archive with `courtroom users` while the
    # hub runs: no new login, the old token 401, the open /ws/live closed 4401.
    token = await login(hub, CLERK, PASSWORD)
    watching, _ = await snapshot(hub, token, COURT)
    disable = await asyncio.create_subprocess_exec(
        *courtroom_command(),
        "users",
        "--config",
        str(hub.config),
        "disable",
        CLERK,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(disable.communicate(), 4 * TIMEOUT)
    assert disable.returncode == 0, output.decode()
    assert (await close_code(watching))[0] == CLOSE_UNAUTHORIZED
    async with http(hub, token) as client:
        assert (await client.get("/api/courtrooms")).status_code == 401
    async with http(hub) as anonymous:
        refused = await anonymous.post("/api/login", json={"username": CLERK, "password": PASSWORD})
        assert refused.status_code == 401

    # A token signed with the hub's own key for a user that never existed.
    key = bytes.fromhex((hub.data_dir / "token.key").read_text().strip())
    forged = TokenSigner(key=key, lifetime=timedelta(hours=1)).issue("ghost").token
    async with http(hub, forged) as client:
        assert (await client.get("/api/courtrooms")).status_code == 401
        assert (await client.get(f"/api/courtrooms/{COURT}/events")).status_code == 401
    ws = await websockets.connect(hub.ws(f"/ws/live?token={forged}"), open_timeout=TIMEOUT)
    assert (await close_code(ws))[0] == CLOSE_UNAUTHORIZED

    # Logout revokes the token, and the open /ws/live of that session is closed 4401.
    token = await login(hub)
    watching, _ = await snapshot(hub, token, OTHER)
    async with http(hub, token) as client:
        assert (await client.post("/api/logout")).status_code == 204
        assert (await client.get("/api/courtrooms")).status_code == 401
    assert (await close_code(watching))[0] == CLOSE_UNAUTHORIZED


# -- finding 5: one poisoned event stops a courtroom's archive -------------------


async def test_finding5_poisoned_events_are_quarantined_and_the_archive_goes_on(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    hearing = "h-f5"
    ws, seqs = await agent(hub)
    first = next(seqs)
    assert await send_events(ws, [opened(first, hearing)]) == [first]
    poisoned = {
        next(seqs): ({"start": "nan"}, "event.body.segment.start must be a finite number"),
        next(seqs): ({"channel": 1e20}, "event.body.segment.channel must be an integer"),
    }
    for seq, (segment, reason) in poisoned.items():
        assert await send_raw(ws, raw_final_in(hearing, seq, **segment)) == Ack(seq=seq)
        assert await close_code(ws) == (CLOSE_INVALID, reason)
        [line] = logged(hub, f"court-1: event {seq} (transcript.final) quarantined")
        assert " ERROR " in line and reason in line
        ws, resume = await agent(hub)
        assert next(resume) == seq + 1  # acknowledged: the agent's spool moves on
    last_poisoned = max(poisoned)
    assert await send_raw(ws, raw_final_in(hearing, SEQ_2_63)) is None
    code, reason = await close_code(ws)
    assert code == CLOSE_INVALID and reason.startswith("event.seq must be within 1.."), reason
    assert logged(hub, f"closed {CLOSE_INVALID}: {reason}")
    ws, seqs = await agent(hub)
    after = [next(seqs), next(seqs)]
    assert after[0] == last_poisoned + 1
    events = [
        final_in(hearing, after[0], "继续审理", 3.0),
        final_in(hearing, after[1], "下一句", 4.0),
    ]
    assert await send_events(ws, events) == after
    assert await texts(hub, hearing) == ["继续审理", "下一句"]
    quarantined = await get(
        hub, f"/api/courtrooms/{COURT}/events?kind={QUARANTINE_KIND}&after={first}"
    )
    mine = {e["seq"]: e["body"] for e in quarantined if e["seq"] in poisoned}
    assert sorted(mine) == sorted(poisoned)
    for seq, body in mine.items():
        assert body["kind"] == "transcript.final" and poisoned[seq][1] in body["error"], body
    assert not [e for e in quarantined if e["seq"] > last_poisoned]  # 2^63 refused, not kept
    await ws.close()


# -- finding 6: one non-finite number breaks pages for everyone ------------------


async def test_finding6_infinite_status_is_refused_and_every_page_loads(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    hearing = "h-f6"
    token = await login(hub)
    patrol = await live(hub, token, {"type": "patrol"})  # a viewer connected throughout
    assert (await next_of(patrol, "patrol-snapshot"))["courtrooms"]
    ws, seqs = await agent(hub)
    first = next(seqs)
    assert await send_events(ws, [opened(first, hearing)]) == [first]
    seq = next(seqs)
    status = f'{{"type":"event","seq":{seq},"kind":"status","body":{{"state":"ok","lag":1e400}}}}'
    assert await send_raw(ws, status) == Ack(seq=seq)
    assert await close_code(ws) == (CLOSE_INVALID, "event.body.lag must be a finite number")
    assert logged(hub, f"court-1: event {seq} (status) quarantined")  # and logged
    alarm = await next_of(patrol, "alarm")  # and shown on the patrol wall
    assert (alarm["courtroom"], alarm["kind"], alarm["seq"]) == (COURT, QUARANTINE_KIND, seq)
    ws, seqs = await agent(hub)  # welcomed again, not dropped before it
    seq = next(seqs)
    frame = raw_final_in(hearing, seq, confidence=0.5).replace(
        '"confidence": 0.5', '"confidence": 1e400'
    )
    assert await send_raw(ws, frame) == Ack(seq=seq)
    assert await close_code(ws) == (
        CLOSE_INVALID,
        "event.body.segment.confidence must be a finite number",
    )
    ws, seqs = await agent(hub)
    # A new patrol wall, this hearing's live view and the other courtroom's all load.
    wall = await live(hub, token, {"type": "patrol"})
    rooms = (await next_of(wall, "patrol-snapshot"))["courtrooms"]
    assert [room["id"] for room in rooms] == [COURT, OTHER]
    own, own_snapshot = await snapshot(hub, token, COURT)
    other, _ = await snapshot(hub, token, OTHER)
    assert own_snapshot["hearing"]["id"] == hearing
    seq = next(seqs)
    assert await send_events(ws, [final_in(hearing, seq, "仍在记录")]) == [seq]
    assert (await next_of(own, "final"))["segment"]["text"] == "仍在记录"
    assert await texts(hub, hearing) == ["仍在记录"]
    for socket in (patrol, wall, own, other, ws):
        await socket.close()


# -- finding 8: an early or replayed seq wins silently ---------------------------


async def test_finding8_early_seq_and_other_body_under_held_seq_are_refused(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    hearing = "h-f8"
    ws, seqs = await agent(hub, OTHER, OTHER_TOKEN)
    first = next(seqs)
    assert await send_events(ws, [opened(first, hearing)]) == [first]
    second, third = next(seqs), next(seqs)
    await ws.send(encode(final_in(hearing, third, "抢先", 2.0)))  # ahead of the gap
    code, reason = await close_code(ws)
    assert code == CLOSE_INVALID, reason
    assert f"event.seq {third} skips ahead of seq {second}" in reason
    assert logged(hub, f"refused, close {CLOSE_INVALID}: {reason}")
    ws, seqs = await agent(hub, OTHER, OTHER_TOKEN)
    assert next(seqs) == second  # nothing of the early event was kept
    genuine = [
        final_in(hearing, second, "第二句", 1.0),
        final_in(hearing, third, "真正的第三句", 2.0),
    ]
    assert await send_events(ws, genuine) == [second, third]
    assert await send_events(ws, genuine[1:]) == [third]  # an identical resend: a duplicate
    await ws.send(encode(final_in(hearing, third, "改写的第三句", 2.0)))
    code, reason = await close_code(ws)
    assert code == CLOSE_SEQ_CONFLICT and f"seq {third}" in reason, (code, reason)
    assert logged(hub, f"refused, close {CLOSE_SEQ_CONFLICT}: {reason}")  # not silent
    assert await texts(hub, hearing) == ["第二句", "真正的第三句"]


# -- finding 9: partials are not rate-limited ----------------------------------


async def snapshot_latency(hub: HubProcess, token: str, courtroom: str) -> float:
    started = time.perf_counter()
    ws, _ = await snapshot(hub, token, courtroom)
    elapsed = time.perf_counter() - started
    await ws.close()
    return elapsed


FLOOD_SECONDS = 3.0
LATENCY_FACTOR = 5
LATENCY_FLOOR_S = 0.05

FLOODER = """
import os, sys, time
from websockets.sync.client import connect
url, hello, frame, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
ws = connect(url)
ws.send(hello)
ws.recv()  # welcome
print("flooding", flush=True)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:  # as fast as the socket takes them
    for _ in range(100):
        ws.send(frame)
    sent += 100
print(sent, flush=True)
os._exit(0)  # no closing handshake: the hub would answer it only after the backlog
"""
"""Courtroom A's agent in its own process, sending partials at line rate."""


async def healthz_latency(hub: HubProcess) -> float:
    async with httpx.AsyncClient(base_url=hub.url, timeout=TIMEOUT) as client:
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        return time.perf_counter() - started


async def test_finding9_partial_flood_is_rate_limited_and_costs_others_nothing(
    hub_process: HubProcess,
) -> None:
    """An agent sending partials at line rate from its own process: the hub reads
    its previews at a bounded pace (TCP pushes back), forwards a bounded rate, and
    another courtroom's page and /healthz keep their pace throughout."""
    hub = hub_process
    hearing = "h-f9"
    token = await login(hub)
    for _ in range(2):  # warm the path
        await snapshot_latency(hub, token, OTHER)
    at_rest = statistics.median([await snapshot_latency(hub, token, OTHER) for _ in range(7)])
    health_at_rest = statistics.median([await healthz_latency(hub) for _ in range(7)])
    ws, seqs = await agent(hub)
    first = next(seqs)
    assert await send_events(ws, [opened(first, hearing)]) == [first]
    await ws.close()
    browser, _ = await snapshot(hub, token, COURT)
    frame = encode(Partial(hearing_id=hearing, channel=0, role="judge", start=0.0, text="快" * 50))
    hello = encode(Hello(courtroom=COURT, token=COURT_TOKEN))
    flooder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FLOODER,
        hub.ws("/ws/agent"),
        hello,
        frame,
        str(FLOOD_SECONDS),
        stdout=asyncio.subprocess.PIPE,
    )
    assert flooder.stdout is not None
    assert await asyncio.wait_for(flooder.stdout.readline(), TIMEOUT) == b"flooding\n"
    started = time.perf_counter()
    received = 0

    async def count() -> None:
        nonlocal received
        while True:
            message = json.loads(await browser.recv())
            received += message["type"] == "partial"

    counting = asyncio.create_task(count())
    during: list[float] = []
    health: list[float] = []
    rss_before = hub.rss_kib()
    rss_peak = rss_before
    while time.perf_counter() - started < FLOOD_SECONDS - 0.5:
        during.append(await snapshot_latency(hub, token, OTHER))
        health.append(await healthz_latency(hub))
        rss_peak = max(rss_peak, hub.rss_kib())
    sent = int(await asyncio.wait_for(flooder.stdout.readline(), 4 * TIMEOUT))
    await asyncio.wait_for(flooder.wait(), TIMEOUT)
    elapsed = time.perf_counter() - started
    counting.cancel()
    await browser.close()
    print(
        f"line-rate partial flood (own process): {sent} sent in {FLOOD_SECONDS:.0f} s, "
        f"{received} forwarded; other courtroom's snapshot median {at_rest * 1000:.1f} ms "
        f"at rest, {statistics.median(during) * 1000:.1f} ms during ({len(during)} loads); "
        f"/healthz {health_at_rest * 1000:.1f} → {statistics.median(health) * 1000:.1f} ms; "
        f"hub RSS +{(rss_peak - rss_before) / 1024:.1f} MiB"
    )
    # a real flood: ten times what the hub reads of one agent's previews, at least
    assert sent > 10 * FRAMES_PER_SECOND * FLOOD_SECONDS
    assert rss_peak - rss_before < 64 * 1024  # read at the hub's pace, not buffered
    assert received <= PARTIAL_BURST + PARTIALS_PER_SECOND * elapsed + 1
    limit = max(LATENCY_FACTOR * at_rest, LATENCY_FLOOR_S)
    assert statistics.median(during) <= limit, (at_rest, during)
    assert statistics.median(health) <= max(LATENCY_FACTOR * health_at_rest, LATENCY_FLOOR_S)


# -- finding 10: the smaller ones ------------------------------------------------


async def test_finding10_hearing_id_of_another_courtroom_is_quarantined(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    hearing = "h-f10-owned"
    token = await login(hub)
    owner, seqs = await agent(hub)
    first, second = next(seqs), next(seqs)
    events = [opened(first, hearing), final_in(hearing, second, "第一法庭的笔录")]
    assert await send_events(owner, events) == [first, second]
    browser, _ = await snapshot(hub, token, OTHER)
    intruder, theirs = await agent(hub, OTHER, OTHER_TOKEN)
    taken = [next(theirs) for _ in range(3)]
    closed = {"hearing_id": hearing, "duration": 1.0}
    attempt = [
        opened(taken[0], hearing),
        Event(seq=taken[1], kind="hearing.closed", body=closed),
        final_in(hearing, taken[2], "冒名顶替"),
    ]
    assert await send_events(intruder, attempt) == taken  # acknowledged, but ...
    for seq in taken:  # ... quarantined and alarmed, never applied
        alarm = await next_of(browser, "alarm")
        assert (alarm["kind"], alarm["seq"]) == (QUARANTINE_KIND, seq)
        assert f"belongs to courtroom '{COURT}'" in alarm["body"]["error"], alarm
    [mine] = [
        h for h in await get(hub, f"/api/hearings?courtroom={COURT}", token) if h["id"] == hearing
    ]
    assert mine["closed_at"] is None
    assert hearing not in {
        h["id"] for h in await get(hub, f"/api/hearings?courtroom={OTHER}", token)
    }
    assert await texts(hub, hearing) == ["第一法庭的笔录"]
    for ws in (owner, intruder, browser):
        await ws.close()


async def test_finding10_security_headers_and_api_docs_behind_login(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    async with http(hub) as anonymous:
        page = await anonymous.get("/")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert (await anonymous.get("/docs")).status_code == 404
        assert (await anonymous.get("/redoc")).status_code == 404
        assert (await anonymous.get("/openapi.json")).status_code == 401
    async with http(hub, await login(hub)) as client:
        assert "/api/login" in (await client.get("/openapi.json")).json()["paths"]


SNAPSHOT_FINALS = SNAPSHOT_SEGMENTS + 20


async def test_finding10_live_snapshot_is_bounded_with_more_before(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    hearing = "h-f10-long"
    ws, seqs = await agent(hub)
    first = next(seqs)
    finals = [final_in(hearing, next(seqs), f"第{i}句", float(i)) for i in range(SNAPSHOT_FINALS)]
    for event in [opened(first, hearing), *finals]:  # pipelined: acks read afterwards
        await ws.send(encode(event))
    for event in [opened(first, hearing), *finals]:
        ack = decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert ack == Ack(seq=event.seq)
    token = await login(hub)
    browser, first_frame = await snapshot(hub, token, COURT)
    assert first_frame["hearing"]["id"] == hearing
    assert first_frame["more_before"] is True
    segments = first_frame["segments"]
    assert len(segments) == SNAPSHOT_SEGMENTS
    assert [s["seq"] for s in segments] == [e.seq for e in finals[-SNAPSHOT_SEGMENTS:]]
    older = await get(
        hub, f"/api/hearings/{hearing}/transcript?before_seq={segments[0]['seq']}&limit=500", token
    )
    assert [s["seq"] for s in older] == [e.seq for e in finals[:-SNAPSHOT_SEGMENTS]]
    await browser.close()
    await ws.close()
