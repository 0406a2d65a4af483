"""Who is asking, and may they: the REST routes' authentication dependencies.

``User`` resolves ``Authorization: Bearer`` to a :class:`hub.users.Principal`
(read fresh from the archive: open session, enabled user) or answers 401;
``Admin`` also requires the admin role or answers 403; :func:`require_scope`
answers 403 for a courtroom outside the principal's scope. Every refusal is
audited (``access.refused`` with the method and path).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.audit import Action
from hub.errors import AuthError
from hub.state import HubState
from hub.users import Principal

__all__ = [
    "AUTH_RESPONSES",
    "Admin",
    "User",
    "client_of",
    "hub_state",
    "refuse",
    "require_scope",
]

_bearer = HTTPBearer(auto_error=False)

AUTH_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "Missing, expired or revoked token 未登录"},
    403: {"description": "Not allowed for this role or courtroom 无权访问"},
}


def hub_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def refuse(request: Request, status: int, reason: str, actor: str | None) -> HTTPException:
    """Audit a refused request and build its HTTP error."""
    hub_state(request).record(
        Action.ACCESS_REFUSED,
        actor=actor,
        target=f"{request.method} {request.url.path}"[:200],
        client=client_of(request),
        status=status,
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status, reason, headers=headers)


def require_scope(request: Request, user: Principal, courtroom: str) -> None:
    """Raises: HTTPException: 403 when ``courtroom`` is outside the user's scope."""
    if not user.sees(courtroom):
        raise refuse(request, 403, "not your courtroom 无权访问此法庭", user.username)


async def require_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        return await hub_state(request).authenticate(
            None if credentials is None else credentials.credentials
        )
    except AuthError as exc:
        raise refuse(request, 401, str(exc), None) from exc


User = Annotated[Principal, Depends(require_user)]


async def require_admin(request: Request, user: User) -> Principal:
    if not user.rights.admin:
        raise refuse(request, 403, "administrators only 仅限管理员", user.username)
    return user


Admin = Annotated[Principal, Depends(require_admin)]
