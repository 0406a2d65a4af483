"""``POST /api/courtrooms/{id}/hearing``: the courtroom's clerk or judge orders
开庭 / 休庭 / 继续开庭 / 闭庭, and the hub forwards it to the agent.

Request (JSON; checked here, at the edge, into a
:class:`courtroom_core.wire.HearingOrder` whose ``by`` is the caller's
username; a value that does not fit is 422 naming the field)::

    {"action": "open" | "recess" | "resume" | "close",
     "reason"?: "recess" | "closed-evidence" | "mediation",     # recess only, required
     "case"?: {"number": 案号, "title"?: 案由,                   # open only
               "parties"?: [{"role", "name"?, "channel"?}]},
     "join"?: "<hearing id>"}                                  # open only: a remote site
                                                               # joins that hearing

Answers (the agent decides the transition, by :mod:`courtroom_core.hearing`)::

    200  done      {"command", "action", "outcome", "message", "state": {"state",
                    "reason", "hearing_id"}} — the state after it
    409  refused   the same body: ``message`` is the agent's refusal, ``state`` the
                   current state
    502  failed    the same body: ``message`` is the recorder's or device's error
    403            not the courtroom's clerk or judge (supervisors and admins too)
    404            no such courtroom
    422            a field that does not fit (``detail[].loc`` names it)
    429            4 commands of this courtroom already await answers (Retry-After)
    503            agent offline (answered at once, never queued) or too old
                   (protocol 1); ``detail`` zh · en
    504            no answer within ``limits.command_timeout_s``; the order may still
                   be carried out — the state pushed live will tell

Every order that reaches this far (whatever its outcome, offline included)
is an audit record ``hearing.command`` with the HTTP status answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from courtroom_core.hearing import TRANSITIONS, HearingAction, HearingState, InterruptionReason
from courtroom_core.wire import (
    MAX_CHANNEL,
    MAX_ID,
    MAX_NAME,
    MAX_TITLE,
    Case,
    HearingOrder,
    JoinHearing,
    Party,
    Result,
    WireError,
)
from hub.audit import Action
from hub.auth import AUTH_RESPONSES, User, client_of, hub_state, refuse, require_scope
from hub.commands import AgentLink, AgentOffline, CommandError
from hub.edge_asgi import unprocessable
from hub.hearing_state import HearingStatus
from hub.users import Principal

__all__ = [
    "OUTCOME_STATUS",
    "HearingAnswer",
    "HearingRequest",
    "HearingStateOut",
    "Orderer",
    "hearing_router",
]

_Action = Literal["open", "recess", "resume", "close"]
_Reason = Literal["recess", "closed-evidence", "mediation"]
MAX_PARTIES: Final = 64


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartyIn(_Strict):
    role: str = Field(min_length=1, max_length=MAX_NAME, description="审判长, 原告, 被告 …")
    name: str = Field(default="", max_length=MAX_TITLE)
    channel: int | None = Field(
        default=None, ge=0, le=MAX_CHANNEL, description="the seat's microphone channel"
    )


class CaseIn(_Strict):
    number: str = Field(min_length=1, max_length=MAX_NAME, description="案号")
    title: str = Field(default="", max_length=MAX_TITLE, description="案由 / the hearing's title")
    parties: list[PartyIn] = Field(default_factory=list, max_length=MAX_PARTIES)


class HearingRequest(_Strict):
    action: _Action = Field(description="开庭 open, 休庭 recess, 继续开庭 resume, 闭庭 close")
    reason: _Reason | None = Field(
        default=None,
        description="recess only (required): 休庭 recess, 不公开举证质证 closed-evidence, "
        "调解 mediation",
    )
    case: CaseIn | None = Field(default=None, description="open only: the case heard")
    join: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID,
        description="open only: join this hearing (a remote site); the hub sends its 开庭 time",
    )


class HearingStateOut(BaseModel):
    state: Literal["idle", "open", "recess"]
    reason: _Reason | None
    hearing_id: str | None


class HearingAnswer(BaseModel):
    command: str = Field(description="the command's id (also in the agent's ``command`` event)")
    action: _Action
    outcome: Literal["done", "refused", "failed"]
    message: str
    state: HearingStateOut


class Problem(BaseModel):
    detail: str


_TAKES: Final[Mapping[HearingAction, frozenset[str]]] = {
    HearingAction.OPEN: frozenset({"case", "join"}),
    HearingAction.RECESS: frozenset({"reason"}),
    HearingAction.RESUME: frozenset(),
    HearingAction.CLOSE: frozenset(),
}
"""Which optional fields each action takes; any other one given is 422."""
_NEEDS: Final[Mapping[HearingAction, frozenset[str]]] = {
    HearingAction.RECESS: frozenset({"reason"})
}
"""Which fields each action must have."""

OUTCOME_STATUS: Final[Mapping[str, int]] = {"done": 200, "refused": 409, "failed": 502}
"""A result's outcome → the HTTP status answered."""

_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": Problem, "description": "No such courtroom 无此法庭"},
    409: {"model": HearingAnswer, "description": "The agent refused: not allowed in this state"},
    422: {"description": "A field that does not fit; ``detail[].loc`` names it"},
    429: {"model": Problem, "description": "4 commands already await answers; see Retry-After"},
    502: {"model": HearingAnswer, "description": "The agent tried and failed (device error)"},
    503: {"model": Problem, "description": "Agent offline or too old 法庭终端离线或版本过旧"},
    504: {"model": Problem, "description": "No answer in time; the order may still be carried out"},
}


async def require_orderer(request: Request, user: User) -> Principal:
    """Raises: HTTPException: 403 for a role that does not order hearings."""
    if not user.rights.orders_hearings:
        raise refuse(
            request,
            403,
            "仅本庭书记员或法官可操作庭审 · only the courtroom's clerk or judge orders a hearing",
            user.username,
        )
    return user


Orderer = Annotated[Principal, Depends(require_orderer)]


def order_of(body: HearingRequest, *, by: str, join: JoinHearing | None) -> HearingOrder:
    """The wire order for a request.

    Raises:
        RequestValidationError: a field the action does not take, or lacks
            one it needs (422 naming ``body.<field>``).
    """
    action = HearingAction(body.action)
    given = {name for name in ("reason", "case", "join") if getattr(body, name) is not None}
    for name in sorted(given - _TAKES[action]):
        raise unprocessable(("body", name), f"{action.value} takes no {name}")
    for name in sorted(_NEEDS.get(action, frozenset()) - given):
        choices = ", ".join(r.value for r in InterruptionReason)
        raise unprocessable(("body", name), f"{action.value} needs a {name}: one of {choices}")
    case = None
    if body.case is not None:
        if not body.case.number.strip():
            raise unprocessable(("body", "case", "number"), "案号 must not be blank")
        parties = tuple(Party(**p.model_dump()) for p in body.case.parties)
        case = Case(number=body.case.number.strip(), title=body.case.title, parties=parties)
    try:
        return HearingOrder(action=action.value, by=by, reason=body.reason, case=case, join=join)
    except WireError as exc:  # pragma: no cover - the model's bounds are the wire's
        raise unprocessable(("body",), str(exc)) from exc


def hearing_router() -> APIRouter:
    """The hearing-control route."""
    api = APIRouter(responses=AUTH_RESPONSES)

    @api.post(
        "/api/courtrooms/{courtroom}/hearing",
        tags=["hearing"],
        response_model=HearingAnswer,
        responses=_RESPONSES,
    )
    async def order_hearing(
        courtroom: Annotated[str, Path(max_length=64)],
        body: HearingRequest,
        request: Request,
        user: Orderer,
    ) -> HearingAnswer | JSONResponse:
        """Order 开庭 / 休庭 / 继续开庭 / 闭庭 in the courtroom; answered once its
        agent has (see :mod:`hub.hearing_api` for every status)."""
        state = hub_state(request)
        require_scope(request, user, courtroom)
        if courtroom not in state.names:
            raise HTTPException(404, f"无此法庭 · no courtroom {courtroom!r}")
        join = await _join_of(request, body.join)
        order = order_of(body, by=user.username, join=join)
        link = state.board.agent(courtroom)
        audit: dict[str, Any] = {"action": order.action, "reason": order.reason}
        try:
            if not isinstance(link, AgentLink):
                raise AgentOffline("法庭终端离线 · the courtroom agent is offline")
            result = await link.command(order, within=state.config.limits.command_timeout_s)
        except CommandError as exc:
            _audit(request, user, courtroom, exc.status, audit | {"outcome": type(exc).__name__})
            headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
            raise HTTPException(exc.status, str(exc), headers=headers) from exc
        status = OUTCOME_STATUS[result.outcome]
        answer = HearingAnswer(
            command=result.id,
            action=body.action,
            outcome=result.outcome,  # type: ignore[arg-type]  # checked by the wire
            message=result.message,
            state=HearingStateOut(**_state_after(request, courtroom, result, order).to_json()),
        )
        detail = audit | {"command": result.id, "outcome": result.outcome}
        _audit(request, user, courtroom, status, detail | {"message": result.message[:200]})
        if status != 200:
            return JSONResponse(status_code=status, content=answer.model_dump())
        return answer

    return api


async def _join_of(request: Request, hearing_id: str | None) -> JoinHearing | None:
    """The hearing a remote site joins, from the archive.

    Raises:
        RequestValidationError: no such hearing, not opened, or closed (422, ``body.join``).
    """
    if hearing_id is None:
        return None
    state = hub_state(request)
    hearing = await state.runner.read(state.runner.archive.hearing, hearing_id)
    if hearing is None or hearing.opened_at is None or hearing.closed_at is not None:
        raise unprocessable(("body", "join"), "no hearing in session by that id 无此进行中的庭审")
    return JoinHearing(hearing_id=hearing.id, opened_at=hearing.opened_at.isoformat())


def _state_after(
    request: Request, courtroom: str, result: Result, order: HearingOrder
) -> HearingStatus:
    """The state the answer reports: the agent's (already applied by the
    endpoint), or — a done result without one — the table's step from the
    state the hub followed."""
    state = hub_state(request)
    now = state.board.hearing(courtroom)
    if result.state is not None or result.outcome != "done":
        return now
    after = TRANSITIONS.get((now.state, HearingAction(order.action)))
    if after is None:
        return now
    reason = None if order.reason is None else InterruptionReason(order.reason)
    guess = HearingStatus(
        after,
        reason if after is HearingState.RECESS else None,
        None if after is HearingState.IDLE else now.hearing_id,
    )
    state.set_hearing(courtroom, guess)
    return guess


def _audit(
    request: Request, user: Principal, courtroom: str, status: int, detail: dict[str, Any]
) -> None:
    hub_state(request).record(
        Action.HEARING_COMMAND,
        actor=user.username,
        target=courtroom,
        client=client_of(request),
        status=status,
        detail={k: v for k, v in detail.items() if v is not None},
    )
