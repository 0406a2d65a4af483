"""Admin-only REST routes: users, courtroom agent tokens and the audit log.

==========================================  =====================================
``GET /api/users``                          every user
``POST /api/users``                         create one (409 when it exists)
``PATCH /api/users/{name}``                 change password, role, courtrooms,
                                            enabled; disabling or a new password
                                            revokes their sessions; an admin may
                                            not disable or demote itself (409)
``POST /api/courtrooms/{id}/agent-token``   a fresh agent token, shown once; the
                                            connected agent is closed 4401
``GET /api/audit``                          audit records, newest first, paged
==========================================  =====================================

Every route is 403 for any role but admin (:data:`hub.auth.Admin`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from hub.audit import AUDIT_PAGE_LIMIT, Action
from hub.auth import AUTH_RESPONSES, Admin, client_of, hub_state
from hub.edge_asgi import unprocessable
from hub.state import HubState
from hub.throttle import HashPoolBusy
from hub.users import Principal, Role, UserExistsError, UserInfo, UserNotFoundError

__all__ = ["admin_router"]

_MAX_ID: Final = 2**63 - 1

Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
_CourtroomId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
_NewPassword = Annotated[str, Field(min_length=8, max_length=1024)]


class UserOut(BaseModel):
    username: str
    role: Role
    courtrooms: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    password: _NewPassword
    role: Role
    courtrooms: list[_CourtroomId] = Field(default_factory=list, max_length=256)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: _NewPassword | None = None
    role: Role | None = None
    courtrooms: list[_CourtroomId] | None = Field(default=None, max_length=256)
    enabled: bool | None = None


class AgentTokenOut(BaseModel):
    courtroom: str
    token: str = Field(description="shown once; only its hash is kept")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str
    client: str
    status: int | None
    detail: dict[str, Any]


def admin_router() -> APIRouter:
    """The admin-only routes: users, agent tokens and the audit log."""
    api = APIRouter(responses=AUTH_RESPONSES)

    @api.get("/api/users", tags=["admin"])
    async def list_users(request: Request, _admin: Admin) -> list[UserOut]:
        state = hub_state(request)
        rows = await state.runner.read(state.users.list_users)
        return [UserOut(**row.to_json()) for row in rows]

    @api.post(
        "/api/users",
        tags=["admin"],
        status_code=201,
        responses={409: {"description": "User exists"}, 503: {"description": "Busy"}},
    )
    async def create_user(body: UserCreate, request: Request, admin: Admin) -> UserOut:
        state = hub_state(request)
        _known_courtrooms(state, body.courtrooms)
        password_hash = await _hash(state, body.password)
        try:
            info = await state.runner.write(
                state.users.create_user,
                body.username,
                password_hash=password_hash,
                role=body.role,
                courtrooms=body.courtrooms,
                now=state.clock(),
            )
        except UserExistsError as exc:
            raise HTTPException(409, str(exc)) from exc
        _audit_user(request, admin, Action.USER_CREATE, info, changed=["created"])
        return UserOut(**info.to_json())

    @api.patch(
        "/api/users/{username}",
        tags=["admin"],
        responses={
            404: {"description": "No such user"},
            409: {"description": "Would lock the admin out"},
            503: {"description": "Busy"},
        },
    )
    async def update_user(
        username: Annotated[str, PathParam(max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")],
        body: UserPatch,
        request: Request,
        admin: Admin,
    ) -> UserOut:
        """Change a user; disabling or a new password revokes their sessions."""
        state = hub_state(request)
        if body.courtrooms is not None:
            _known_courtrooms(state, body.courtrooms)
        if username == admin.username and (
            body.enabled is False or body.role not in (None, Role.ADMIN)
        ):
            raise HTTPException(409, "cannot disable or demote yourself 不能停用或降级自己")
        password_hash = None if body.password is None else await _hash(state, body.password)
        try:
            info = await state.runner.write(
                state.users.update_user,
                username,
                now=state.clock(),
                password_hash=password_hash,
                role=body.role,
                courtrooms=body.courtrooms,
                enabled=body.enabled,
            )
        except UserNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        changed = sorted(k for k, v in body.model_dump().items() if v is not None)
        _audit_user(request, admin, Action.USER_UPDATE, info, changed=changed)
        return UserOut(**info.to_json())

    @api.post(
        "/api/courtrooms/{courtroom}/agent-token",
        tags=["admin"],
        responses={404: {"description": "No such courtroom"}},
    )
    async def rotate_agent_token(
        courtroom: str, request: Request, admin: Admin, response: Response
    ) -> AgentTokenOut:
        """A fresh agent token, shown once. The old one stops opening new
        connections and the connected agent is closed with 4401."""
        state = hub_state(request)
        if courtroom not in state.names:
            raise HTTPException(404, f"no courtroom {courtroom[:64]!r} 无此法庭")
        token = await state.rotate_agent_token(courtroom)
        state.record(
            Action.AGENT_TOKEN_ROTATE,
            actor=admin.username,
            target=courtroom,
            client=client_of(request),
        )
        response.headers["Cache-Control"] = "no-store"
        return AgentTokenOut(courtroom=courtroom, token=token)

    @api.get("/api/audit", tags=["admin"])
    async def audit(
        request: Request,
        _admin: Admin,
        before: Annotated[
            int | None, Query(ge=1, le=_MAX_ID, description="only ids below this")
        ] = None,
        action: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_.]+$")] = None,
        actor: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._@:-]+$")] = None,
        limit: Annotated[int, Query(ge=1, le=AUDIT_PAGE_LIMIT)] = 100,
    ) -> list[AuditOut]:
        """Audit records, newest first; page with ``before`` = the smallest id seen."""
        state = hub_state(request)
        rows = await state.runner.read(
            state.audit_log.read, before_id=before, action=action, actor=actor, limit=limit
        )
        return [AuditOut.model_validate(row) for row in rows]

    return api


def _known_courtrooms(state: HubState, courtrooms: list[str]) -> None:
    unknown = sorted(set(courtrooms) - set(state.names))
    if unknown:
        raise unprocessable(
            ("body", "courtrooms"), f"unknown courtrooms {', '.join(unknown)[:200]} 无此法庭"
        )


async def _hash(state: HubState, password: str) -> str:
    try:
        return await state.hash_new_password(password)
    except HashPoolBusy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from exc


def _audit_user(
    request: Request, admin: Principal, action: Action, info: UserInfo, *, changed: list[str]
) -> None:
    hub_state(request).record(
        action,
        actor=admin.username,
        target=info.username,
        client=client_of(request),
        detail={
            "changed": changed,
            "role": info.role.value,
            "courtrooms": list(info.courtrooms),
            "enabled": info.enabled,
        },
    )
