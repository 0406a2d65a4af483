"""The compliance report (五同步) and the incident paperwork, over HTTP.

==============================================================  ==========================
``GET  /api/hearings/{id}/compliance``                          the report
                                                                (:mod:`courtroom_core.compliance`)
                                                                over the hearing's archived ledger
``GET  /api/hearings/{id}/incidents``                           its incidents, latest state each
``POST /api/hearings/{id}/incidents/{incident}/explanation``    {"text"}: the written explanation
                                                                (the courtroom's clerk or judge)
``POST /api/hearings/{id}/incidents/{incident}/sign``           the presiding judge's sign-off
==============================================================  ==========================

Who: reading is for any user who may see the hearing's (owner) courtroom;
explaining for its clerk or judge; signing for its judge only (the hub does
not know which judge presides: any judge of the courtroom signs, and the
record names who did). Answers: 404 no such hearing or incident; 403 a
courtroom outside the caller's scope or a role that may not (audited as
``access.refused``); 409 a sign-off before an explanation, or any paperwork
on an incident already signed (``detail`` says why, zh · en); 422 a blank
or over-long text (``detail[].loc`` names ``body.text``); 429 the hearing
holds :data:`hub.hearing_ledger.MAX_RECORDS` records already.

An explanation or sign-off is stored as an ``incident`` body (state
``explained`` / ``signed``, ``by`` the hub user) in the hearing's record
(:mod:`hub.hearing_ledger`), so every report reads it; it is audited
(``incident.explain`` / ``incident.sign``, refusals too) and pushed to the
courtroom's pages with the live lights.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.audit import Action
from hub.auth import AUTH_RESPONSES, User, client_of, hub_state, refuse, require_scope
from hub.edge_asgi import unprocessable
from hub.hearing_ledger import PaperworkError, add_paperwork, hearing_ledger
from hub.users import Principal, Role

__all__ = ["ExplanationIn", "compliance_router"]

MAX_EXPLANATION: Final = 4000
_EXPLAINERS: Final = frozenset({Role.CLERK, Role.JUDGE})
_SIGNERS: Final = frozenset({Role.JUDGE})

HearingId = Annotated[str, Path(max_length=128)]
IncidentId = Annotated[str, Path(max_length=64)]


class ExplanationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1, max_length=MAX_EXPLANATION, description="书面说明 · the written explanation"
    )


class IncidentOut(BaseModel):
    id: str
    kind: str
    part: str
    source: str
    message: str
    time: float
    at: str
    state: str = Field(description="open → explained → signed")
    explanation: str | None
    explained_by: str | None
    explained_at: str | None
    signed_by: str | None
    signed_at: str | None
    detail: str | None


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    404: {"description": "No such hearing or incident 无此庭审或事件"},
}
_PAPERWORK: Final[dict[int | str, dict[str, Any]]] = {
    **_RESPONSES,
    409: {"description": "Signed already, or a sign-off before the explanation"},
    422: {"description": "A blank or over-long text (body.text)"},
    429: {"description": "The hearing holds too many records"},
}


async def _ledger(request: Request, user: Principal, hearing_id: str) -> tuple[str, Any]:
    """(owner courtroom, the hearing's folded ledger) for a user who may see it.

    Raises:
        HTTPException: 404 no such hearing; 403 outside the user's scope (audited).
    """
    state = hub_state(request)
    found = await state.runner.read(hearing_ledger, state.runner.archive, hearing_id)
    if found is None:
        raise HTTPException(404, f"no hearing {hearing_id[:128]!r} 无此庭审")
    require_scope(request, user, found[0])
    return found


def compliance_router() -> APIRouter:
    """The compliance and incident routes."""
    api = APIRouter(responses=AUTH_RESPONSES, tags=["compliance"])

    @api.get("/api/hearings/{hearing_id}/compliance", responses=_RESPONSES)
    async def compliance(hearing_id: HearingId, request: Request, user: User) -> dict[str, Any]:
        """The hearing's compliance report: provisional until 闭庭, final after."""
        courtroom, ledger = await _ledger(request, user, hearing_id)
        hub_state(request).record(
            Action.ARCHIVE_READ,
            actor=user.username,
            target=hearing_id,
            client=client_of(request),
            detail={"courtroom": courtroom, "what": "compliance"},
        )
        report: dict[str, Any] = ledger.report()
        return report

    @api.get("/api/hearings/{hearing_id}/incidents", responses=_RESPONSES)
    async def incidents(hearing_id: HearingId, request: Request, user: User) -> list[IncidentOut]:
        """The hearing's incidents, each in its latest state, oldest first."""
        _courtroom, ledger = await _ledger(request, user, hearing_id)
        return [IncidentOut(**i) for i in ledger.report()["incidents"]]

    @api.post(
        "/api/hearings/{hearing_id}/incidents/{incident_id}/explanation", responses=_PAPERWORK
    )
    async def explain(
        hearing_id: HearingId,
        incident_id: IncidentId,
        body: ExplanationIn,
        request: Request,
        user: User,
    ) -> IncidentOut:
        """Enter (or, before the sign-off, replace) the incident's written explanation."""
        text = body.text.strip()
        if not text:
            raise unprocessable(("body", "text"), "书面说明不能为空 · the explanation is blank")
        return await _paperwork(request, user, hearing_id, incident_id, "explained", text)

    @api.post("/api/hearings/{hearing_id}/incidents/{incident_id}/sign", responses=_PAPERWORK)
    async def sign(
        hearing_id: HearingId, incident_id: IncidentId, request: Request, user: User
    ) -> IncidentOut:
        """The presiding judge signs the explained incident off (SPC rule)."""
        return await _paperwork(request, user, hearing_id, incident_id, "signed", None)

    return api


async def _paperwork(
    request: Request,
    user: Principal,
    hearing_id: str,
    incident_id: str,
    state_after: str,
    text: str | None,
) -> IncidentOut:
    state = hub_state(request)
    courtroom, _ledger_now = await _ledger(request, user, hearing_id)
    action = Action.INCIDENT_SIGN if state_after == "signed" else Action.INCIDENT_EXPLAIN
    allowed = _SIGNERS if state_after == "signed" else _EXPLAINERS
    if user.role not in allowed:
        who = "仅本庭法官可签署 · only a judge of the courtroom signs an incident off"
        if state_after != "signed":
            who = "仅本庭书记员或法官可填写说明 · only the courtroom's clerk or judge explains"
        raise refuse(request, 403, who, user.username)

    def audit(status: int, **detail: Any) -> None:
        state.record(
            action,
            actor=user.username,
            target=f"{hearing_id}/{incident_id}"[:200],
            client=client_of(request),
            status=status,
            detail={"courtroom": courtroom, **detail},
        )

    try:
        _body, after = await state.runner.write(
            add_paperwork,
            state.runner.archive,
            hearing_id,
            incident_id,
            state=state_after,
            by=user.username,
            now=state.clock(),
            text=text,
        )
    except PaperworkError as exc:
        audit(exc.status, refused=str(exc)[:200])
        raise HTTPException(exc.status, str(exc)) from exc
    except LookupError as exc:  # the hearing vanished meanwhile (never: rows are kept)
        raise HTTPException(404, f"no hearing {hearing_id[:128]!r} 无此庭审") from exc
    audit(200, **({"chars": len(text)} if text is not None else {}))
    if state.compliance is not None:
        state.compliance.add(courtroom, "incident", _body)
    return IncidentOut(**after)
