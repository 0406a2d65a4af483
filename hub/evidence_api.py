"""``POST /api/courtrooms/{id}/evidence``: 举证 from the clerk page.

The courtroom's clerk or judge presents an exhibit on the courtroom's screens
(a file of the hearing's evidence folder on the courtroom PC, or a live
matrix input such as the document camera) or withdraws it. The hub forwards
it to the agent as an ``evidence`` command (:class:`courtroom_core.wire.
EvidenceOrder`) and answers once the agent has routed the matrix, switched
the displays and shown it on the display pages::

    {"action": "present", "exhibit": "证据1", "label"?: "借款合同",
     "file"?: "contract.pdf", "page"?: 2, "zoom"?: 1.5}      # or "input": "doc-camera"
    {"action": "page", "exhibit": "证据1", "page"?: 3, "zoom"?: 1.5}   # follow the presenter
    {"action": "withdraw", "exhibit": "证据1"}

    200  done     {"command", "outcome", "message", "log": {evidence-display log}}
    409  refused  no hearing in session, or the exhibit is not shown
    502  failed   a screen did not confirm (``message`` names it; the log has each)
    403 / 404 / 422 / 429 / 503 / 504 as for the hearing route (:mod:`hub.hearing_api`)

Every order is an audit record ``hearing.command`` (``command: evidence``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from courtroom_core.wire import MAX_NAME, MAX_TITLE, EvidenceOrder, WireError
from hub.audit import Action
from hub.auth import AUTH_RESPONSES, client_of, hub_state, require_scope
from hub.commands import AgentLink, AgentOffline, CommandError
from hub.edge_asgi import unprocessable
from hub.hearing_api import OUTCOME_STATUS, Orderer

__all__ = ["EvidenceRequest", "evidence_router"]


class EvidenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["present", "page", "withdraw"] = Field(
        description="举证 present, 翻页 page (another page or zoom of the exhibit), 撤回 withdraw"
    )
    exhibit: str = Field(min_length=1, max_length=MAX_NAME, description="证据编号 exhibit id")
    label: str = Field(default="", max_length=MAX_TITLE, description="证据名称")
    file: str | None = Field(default=None, min_length=1, max_length=1024)
    input: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    page: int | None = Field(default=None, ge=1, le=100_000)
    zoom: float | None = Field(default=None, ge=0.1, le=10.0)


class EvidenceAnswer(BaseModel):
    command: str
    outcome: Literal["done", "refused", "failed"]
    message: str
    state: dict[str, Any] | None = None


def evidence_router() -> APIRouter:
    """The evidence route."""
    api = APIRouter(responses=AUTH_RESPONSES)

    @api.post(
        "/api/courtrooms/{courtroom}/evidence", tags=["hearing"], response_model=EvidenceAnswer
    )
    async def order_evidence(
        courtroom: Annotated[str, Path(max_length=64)],
        body: EvidenceRequest,
        request: Request,
        user: Orderer,
    ) -> EvidenceAnswer | JSONResponse:
        """Present or withdraw an exhibit in the courtroom (see :mod:`hub.evidence_api`)."""
        state = hub_state(request)
        require_scope(request, user, courtroom)
        if courtroom not in state.names:
            raise HTTPException(404, f"无此法庭 · no courtroom {courtroom!r}")
        if body.action == "present" and (body.file is None) == (body.input is None):
            raise unprocessable(("body", "file"), "present needs one of file or input")
        if body.action == "page" and body.page is None and body.zoom is None:
            raise unprocessable(("body", "page"), "page needs a page or a zoom")
        try:
            order = EvidenceOrder(by=user.username, **body.model_dump())
        except WireError as exc:
            raise unprocessable(("body",), str(exc)) from exc
        audit: dict[str, Any] = {
            "command": "evidence",
            "action": body.action,
            "exhibit": body.exhibit,
        }
        link = state.board.agent(courtroom)
        try:
            if not isinstance(link, AgentLink):
                raise AgentOffline("法庭终端离线 · the courtroom agent is offline")
            result = await link.command(order, within=state.config.limits.command_timeout_s)
        except CommandError as exc:
            _audit(request, user.username, courtroom, exc.status, audit)
            headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
            raise HTTPException(exc.status, str(exc), headers=headers) from exc
        status = OUTCOME_STATUS[result.outcome]
        answer = EvidenceAnswer(
            command=result.id,
            outcome=result.outcome,  # type: ignore[arg-type]  # checked by the wire
            message=result.message,
            state=result.state,
        )
        _audit(request, user.username, courtroom, status, audit | {"outcome": result.outcome})
        if status != 200:
            return JSONResponse(status_code=status, content=answer.model_dump())
        return answer

    return api


def _audit(
    request: Request, actor: str, courtroom: str, status: int, detail: dict[str, Any]
) -> None:
    hub_state(request).record(
        Action.HEARING_COMMAND,
        actor=actor,
        target=courtroom,
        client=client_of(request),
        status=status,
        detail=detail,
    )
