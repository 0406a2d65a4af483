"""Users, roles, revocation, agent-token rotation and the audit log on a real hub."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from courtroom_core.wire import Hello, encode
from hub.config import UserConfig
from hub.security import hash_password
from tests.hub.conftest import (
    COURT,
    COURT_TOKEN,
    OTHER,
    TIMEOUT,
    HubFactory,
    RunningHub,
    close_code,
    make_config,
)
from tests.hub.test_agent_ws import opened, send_events

PASSWORD = "s3cret-pass"
# Each test role's user: clerk of court-1, judge of court-2, supervisor, admin.
ROLE_USERS = {
    "clerk": ("clerk1", [COURT]),
    "judge": ("judge1", [OTHER]),
    "supervisor": ("sup1", []),
}


def http(hub: RunningHub, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=TIMEOUT, **kwargs)


async def login(hub: RunningHub, username: str, password: str = PASSWORD) -> str:
    async with http(hub) as client:
        response = await client.post(
            "/api/login", json={"username": username, "password": password}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def add_user(hub: RunningHub, username: str, role: str, courtrooms: list[str]) -> None:
    async with http(hub, await hub.token()) as client:
        response = await client.post(
            "/api/users",
            json={
                "username": username,
                "password": PASSWORD,
                "role": role,
                "courtrooms": courtrooms,
            },
        )
    assert response.status_code == 201, response.text


async def role_token(hub: RunningHub, role: str) -> str:
    """A token for ``role`` (the admin's, or a freshly created user's)."""
    if role == "admin":
        return await hub.token()
    username, courtrooms = ROLE_USERS[role]
    await add_user(hub, username, role, courtrooms)
    return await login(hub, username)


async def live(hub: RunningHub, token: str) -> websockets.ClientConnection:
    return await websockets.connect(hub.ws(f"/ws/live?token={token}"), open_timeout=TIMEOUT)


async def subscribed(hub: RunningHub, token: str, courtroom: str = COURT) -> Any:
    ws = await live(hub, token)
    await ws.send(json.dumps({"type": "subscribe", "courtroom": courtroom}))
    snapshot = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert snapshot["type"] == "snapshot"
    return ws


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds (the audit queue writes asynchronously)."""
    async with asyncio.timeout(TIMEOUT):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


# -- route × role → status ---------------------------------------------------

ROLES = ("clerk", "judge", "supervisor", "admin")
NEW_USER = {"username": "new1", "password": PASSWORD, "role": "clerk", "courtrooms": [COURT]}
# (method, path, body) and the expected status for each of ROLES. A courtroom
# outside a clerk's or judge's scope is 403 even when it does not exist.
ROUTES: list[tuple[str, str, dict[str, Any] | None, tuple[int, int, int, int]]] = [
    ("GET", "/api/courtrooms", None, (200, 200, 200, 200)),
    ("GET", "/api/me", None, (200, 200, 200, 200)),
    ("GET", f"/api/hearings?courtroom={OTHER}", None, (403, 200, 200, 200)),
    ("GET", "/api/hearings/h-1/transcript", None, (200, 403, 200, 200)),
    ("GET", f"/api/courtrooms/{OTHER}/events", None, (403, 200, 200, 200)),
    ("GET", "/api/courtrooms/nope/events", None, (403, 403, 404, 404)),
    ("GET", f"/api/courtrooms/{OTHER}/cameras", None, (403, 200, 200, 200)),
    ("GET", f"/api/courtrooms/{OTHER}/cameras/cam-1/thumbnail", None, (403, 404, 404, 404)),
    ("GET", "/api/users", None, (403, 403, 403, 200)),
    ("POST", "/api/users", NEW_USER, (403, 403, 403, 201)),
    ("PATCH", "/api/users/ghost", {"enabled": False}, (403, 403, 403, 404)),
    ("POST", f"/api/courtrooms/{OTHER}/agent-token", None, (403, 403, 403, 200)),
    ("GET", "/api/audit", None, (403, 403, 403, 200)),
    ("GET", "/openapi.json", None, (200, 200, 200, 200)),
    ("POST", "/api/logout", None, (204, 204, 204, 204)),
]
# /ws/live requests and the close code for each of ROLES (None: a snapshot comes).
LIVE: list[tuple[dict[str, str], tuple[int | None, ...]]] = [
    ({"type": "subscribe", "courtroom": COURT}, (None, 4403, None, None)),
    ({"type": "subscribe", "courtroom": OTHER}, (4403, None, None, None)),
    ({"type": "subscribe", "courtroom": "nope"}, (4403, 4403, 4404, 4404)),
    ({"type": "patrol"}, (4403, 4403, None, None)),
]


@pytest.mark.parametrize("role", ROLES)
async def test_users_route_and_live_refusals_by_role(hub: RunningHub, role: str) -> None:
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    token = await role_token(hub, role)
    got = {}
    async with http(hub, token) as client:
        for method, path, body, _ in ROUTES:
            response = await client.request(method, path, json=body)
            got[(method, path)] = response.status_code
            if response.status_code in (401, 403):
                assert response.json()["detail"], "a refusal says why"
    column = ROLES.index(role)
    expected = {(method, path): statuses[column] for method, path, _, statuses in ROUTES}
    assert got == expected
    token = await login(hub, ROLE_USERS[role][0]) if role != "admin" else await login_admin(hub)
    for request, codes in LIVE:
        ws = await live(hub, token)
        await ws.send(json.dumps(request))
        if codes[column] is None:
            reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert reply["type"] in ("snapshot", "patrol-snapshot")
            await ws.close()
        else:
            assert (await close_code(ws))[0] == codes[column], (request, role)


async def login_admin(hub: RunningHub) -> str:
    return await login(hub, "admin", hub.admin_password)


async def test_users_courtrooms_list_is_filtered_by_scope(hub: RunningHub) -> None:
    async with http(hub, await role_token(hub, "clerk")) as client:
        rooms = (await client.get("/api/courtrooms")).json()
        hearings = (await client.get("/api/hearings")).json()
    assert [room["id"] for room in rooms] == [COURT]
    assert all(h["courtroom"] == COURT for h in hearings)


async def test_users_openapi_needs_a_token_and_docs_are_off(hub: RunningHub) -> None:
    async with http(hub) as client:
        assert (await client.get("/openapi.json")).status_code == 401
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404
    async with http(hub, await hub.token()) as client:
        schema = (await client.get("/openapi.json")).json()
    users = schema["paths"]["/api/users"]["get"]["responses"]
    assert {"401", "403"} <= set(users)
    assert {"401", "429", "503"} <= set(schema["paths"]["/api/login"]["post"]["responses"])


# -- revocation ------------------------------------------------------------


async def test_users_logout_revokes_token_and_closes_live(hub: RunningHub) -> None:
    token = await role_token(hub, "clerk")
    ws = await subscribed(hub, token)
    async with http(hub, token) as client:
        assert (await client.post("/api/logout")).status_code == 204
        assert (await client.get("/api/courtrooms")).status_code == 401
    assert (await close_code(ws))[0] == 4401
    other = await login(hub, "clerk1")  # a new login is a new session
    async with http(hub, other) as client:
        assert (await client.get("/api/courtrooms")).status_code == 200


async def test_users_disable_stops_tokens_and_live_enable_restores_login(hub: RunningHub) -> None:
    token = await role_token(hub, "clerk")
    ws = await subscribed(hub, token)
    async with http(hub, await hub.token()) as admin:
        response = await admin.patch("/api/users/clerk1", json={"enabled": False})
        assert response.status_code == 200 and response.json()["enabled"] is False
        assert (await close_code(ws))[0] == 4401
        async with http(hub, token) as client:
            assert (await client.get("/api/courtrooms")).status_code == 401
        async with http(hub) as anonymous:
            refused = await anonymous.post(
                "/api/login", json={"username": "clerk1", "password": PASSWORD}
            )
            assert refused.status_code == 401
        await admin.patch("/api/users/clerk1", json={"enabled": True})
    await login(hub, "clerk1")


async def test_users_role_change_applies_to_the_next_request(hub: RunningHub) -> None:
    token = await role_token(hub, "clerk")
    async with http(hub, token) as client:
        assert (await client.get(f"/api/courtrooms/{OTHER}/events")).status_code == 403
        async with http(hub, await hub.token()) as admin:
            await admin.patch("/api/users/clerk1", json={"courtrooms": [OTHER]})
        assert (await client.get(f"/api/courtrooms/{OTHER}/events")).status_code == 200
        assert (await client.get(f"/api/courtrooms/{COURT}/events")).status_code == 403


async def test_users_live_scope_shrinks_closes_with_4403(hub: RunningHub) -> None:
    ws = await subscribed(hub, await role_token(hub, "clerk"))
    async with http(hub, await hub.token()) as admin:
        await admin.patch("/api/users/clerk1", json={"courtrooms": [OTHER]})
    assert (await close_code(ws))[0] == 4403


async def test_users_admin_cannot_lock_itself_out(hub: RunningHub) -> None:
    async with http(hub, await hub.token()) as admin:
        for body in ({"enabled": False}, {"role": "clerk"}):
            assert (await admin.patch("/api/users/admin", json=body)).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"username": "x", "password": "short", "role": "clerk"},
        {"username": "bad name", "password": PASSWORD, "role": "clerk"},
        {"username": "x", "password": PASSWORD, "role": "king"},
        {"username": "x", "password": PASSWORD, "role": "clerk", "courtrooms": ["nope"]},
        {"username": "x", "password": PASSWORD, "role": "clerk", "extra": 1},
    ],
)
async def test_users_create_bad_input_is_422(hub: RunningHub, body: dict[str, Any]) -> None:
    async with http(hub, await hub.token()) as admin:
        assert (await admin.post("/api/users", json=body)).status_code == 422


async def test_users_token_expiry_closes_live_with_injected_clock(
    hub_factory: HubFactory,
) -> None:
    now = [datetime(2026, 12, 4, 9, 0, tzinfo=UTC)]
    hub = await hub_factory(clock=lambda: now[0])
    ws = await subscribed(hub, await hub.token())
    now[0] += timedelta(hours=13)  # token_lifetime is 12 h
    assert (await close_code(ws))[0] == 4401
    async with http(hub, await hub.token()) as client:
        assert (await client.get("/api/courtrooms")).status_code == 401


def _forge(key: bytes, claims: dict[str, Any]) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = b64(json.dumps(claims).encode())
    return f"{body}.{b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


async def test_users_token_signed_with_the_key_for_unknown_user_or_session_is_refused(
    hub: RunningHub, tmp_path: Path
) -> None:
    key_file = tmp_path / "token.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = bytes.fromhex(key_file.read_text().strip())
    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    real = json.loads(base64.urlsafe_b64decode((await hub.token()).split(".")[0] + "=="))
    forged = [
        _forge(key, {"sub": "ghost", "exp": exp, "jti": "0" * 32}),  # user never existed
        _forge(key, {"sub": "admin", "exp": exp, "jti": "1" * 32}),  # no such session
        _forge(key, {"sub": "ghost", "exp": exp, "jti": real["jti"]}),  # another's session
        _forge(key, {"sub": "admin", "exp": exp}),  # pre-session token form
    ]
    for token in forged:
        async with http(hub, token) as client:
            assert (await client.get("/api/courtrooms")).status_code == 401, token
        ws = await live(hub, token)
        assert (await close_code(ws))[0] == 4401


async def test_users_config_seeds_once_and_never_overwrites(
    hub_factory: HubFactory, tmp_path: Path
) -> None:
    seeded = UserConfig(
        username="clerk9", password_hash=hash_password(PASSWORD), courtrooms=(COURT,)
    )
    hub = await hub_factory(make_config(tmp_path, users=(seeded,)))
    async with http(hub, await hub.token()) as admin:
        await admin.patch("/api/users/clerk9", json={"password": "changed-pass"})
    await hub.stop()
    hub = await hub_factory(make_config(tmp_path, users=(seeded,)))
    await login(hub, "clerk9", "changed-pass")  # the archive's password, not the file's
    async with http(hub) as client:
        response = await client.post(
            "/api/login", json={"username": "clerk9", "password": PASSWORD}
        )
    assert response.status_code == 401


# -- agent tokens ------------------------------------------------------------


async def test_users_agent_token_rotation_drops_agent_and_refuses_old_token(
    hub: RunningHub,
) -> None:
    agent, _ = await hub.agent()
    async with http(hub, await hub.token()) as admin:
        response = await admin.post(f"/api/courtrooms/{COURT}/agent-token")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    fresh = response.json()["token"]
    assert (await close_code(agent))[0] == 4401
    old = await websockets.connect(hub.ws("/ws/agent"), open_timeout=TIMEOUT)
    await old.send(encode(Hello(courtroom=COURT, token=COURT_TOKEN)))
    assert (await close_code(old))[0] == 4401
    await hub.agent(token=fresh)


async def test_users_rotated_agent_token_survives_restart_over_config(
    hub_factory: HubFactory,
) -> None:
    hub = await hub_factory()
    async with http(hub, await hub.token()) as admin:
        fresh = (await admin.post(f"/api/courtrooms/{COURT}/agent-token")).json()["token"]
    await hub.stop()
    hub = await hub_factory()
    await hub.agent(token=fresh)
    old = await websockets.connect(hub.ws("/ws/agent"), open_timeout=TIMEOUT)
    await old.send(encode(Hello(courtroom=COURT, token=COURT_TOKEN)))
    assert (await close_code(old))[0] == 4401


# -- audit -------------------------------------------------------------------


async def audit_actions(hub: RunningHub, **params: Any) -> list[dict[str, Any]]:
    async with http(hub, await hub.token()) as admin:
        response = await admin.get("/api/audit", params=params)
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_users_audit_records_logins_access_changes_and_refusals(hub: RunningHub) -> None:
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1)])
    token = await role_token(hub, "clerk")  # user.create, login.ok
    async with http(hub) as anonymous:
        await anonymous.post("/api/login", json={"username": "clerk1", "password": "wrong!!!"})
        await anonymous.get("/api/courtrooms")  # 401
    async with http(hub, token) as client:
        await client.get("/api/hearings/h-1/transcript")  # archive.read
        await client.get(f"/api/courtrooms/{OTHER}/events")  # 403
        ws = await subscribed(hub, token)  # live.open
        await ws.close()
        await client.post("/api/logout")
    async with http(hub, await hub.token()) as admin:
        await admin.patch("/api/users/clerk1", json={"role": "judge", "courtrooms": [OTHER]})
        await admin.post(f"/api/courtrooms/{COURT}/agent-token")
    wanted = {
        ("user.create", "admin", "clerk1", None),
        ("login.ok", "clerk1", "", 200),
        ("login.failed", "clerk1", "", 401),
        ("access.refused", None, "GET /api/courtrooms", 401),
        ("archive.read", "clerk1", "h-1", None),
        ("access.refused", "clerk1", f"GET /api/courtrooms/{OTHER}/events", 403),
        ("live.open", "clerk1", COURT, None),
        ("logout", "clerk1", "", None),
        ("user.update", "admin", "clerk1", None),
        ("agent_token.rotate", "admin", COURT, None),
    }

    async def all_there() -> bool:
        rows = await audit_actions(hub)
        return wanted <= {(r["action"], r["actor"], r["target"], r["status"]) for r in rows}

    await eventually(all_there)
    rows = await audit_actions(hub, action="login.failed")
    assert rows and all(r["action"] == "login.failed" for r in rows)
    assert rows[0]["client"] == "127.0.0.1"
    update = (await audit_actions(hub, action="user.update"))[0]
    assert update["detail"]["changed"] == ["courtrooms", "role"]
    newest = await audit_actions(hub, limit=2)
    older = await audit_actions(hub, before=newest[-1]["id"], limit=2)
    assert newest[-1]["id"] > older[0]["id"]


async def test_users_audit_has_no_update_or_delete_route(hub: RunningHub) -> None:
    async with http(hub, await hub.token()) as admin:
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            assert (await admin.request(method, "/api/audit")).status_code == 405


async def test_users_hostile_names_are_422_before_any_query(hub: RunningHub) -> None:
    async with http(hub) as anonymous:
        response = await anonymous.post("/api/login", json={"username": "a\x00b", "password": "x"})
        assert response.status_code == 422
    async with http(hub, await hub.token()) as admin:
        assert (await admin.get("/api/audit", params={"actor": "a\x00"})).status_code == 422
        assert (await admin.get("/api/audit", params={"before": 2**63})).status_code == 422
        assert (await admin.patch("/api/users/a%00b", json={})).status_code == 422
        assert (await admin.patch("/api/users/" + "u" * 65, json={})).status_code == 422
