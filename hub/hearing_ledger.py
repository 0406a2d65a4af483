"""A hearing's ledger in the archive, and the incident paperwork the hub adds to it.

Blocking functions over :class:`hub.store.Archive`, run through its
:class:`~hub.store.ArchiveRunner` (reads on the reader pool, the paperwork on
the one writer thread, so a check and its insert cannot interleave with
another's).

Which events are a hearing's ledger (:func:`ledger_events`): the owner
courtroom's events of the ledger kinds
(:data:`courtroom_core.compliance.LEDGER_KINDS`), read in seq order from just
after the courtroom's previous hearing's 开庭 to before its next one. An event
naming this hearing belongs to it; one naming no hearing (a body whose
``hearing_id`` is optional) belongs to it once an event naming it was seen and
until its 闭庭. Then the hub's own records (``hearing_records``: incidents
explained and signed) follow. At most :data:`MAX_LEDGER_EVENTS` are read.

The paperwork (:func:`add_paperwork`), per the SPC rule: an incident is
explained in writing (by the courtroom's clerk or judge; a later explanation
replaces an earlier one until it is signed), then signed off by a judge. It
is stored as an ``incident`` body (state ``explained`` / ``signed``, ``by`` the
hub user) in ``hearing_records``, so the compliance report reads it like the
agent's own.

Errors::

    CourtroomError
    └── PaperworkError        its ``status`` is the HTTP answer
        ├── NoSuchIncident    404
        ├── PaperworkConflict 409: signed already, or not explained yet
        └── TooManyRecords    429: the hearing holds MAX_RECORDS records already
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from courtroom_core.compliance import LEDGER_KINDS, MAX_EVENTS, ComplianceLedger
from courtroom_core.errors import CourtroomError
from courtroom_core.wire_bodies import Incident
from hub.db import EventRow, HearingRecordRow, HearingRow
from hub.store import Archive

__all__ = [
    "MAX_LEDGER_EVENTS",
    "MAX_RECORDS",
    "NoSuchIncident",
    "PaperworkConflict",
    "PaperworkError",
    "TooManyRecords",
    "add_paperwork",
    "hearing_ledger",
    "ledger_events",
]

MAX_LEDGER_EVENTS: Final = MAX_EVENTS
"""Most archived events one report reads (the fold's own bound)."""
MAX_RECORDS: Final = 1000
"""Most records the hub adds to one hearing (explanations and sign-offs)."""

Ledger = list[tuple[str, dict[str, Any]]]


class PaperworkError(CourtroomError):
    """An explanation or sign-off that cannot be recorded; ``status`` is the HTTP answer."""

    status = 409


class NoSuchIncident(PaperworkError):
    status = 404


class PaperworkConflict(PaperworkError):
    status = 409


class TooManyRecords(PaperworkError):
    status = 429


def _sessions(archive: Archive) -> Session:
    return Session(archive.engine, expire_on_commit=False)


def _bounds(session: Session, hearing: HearingRow) -> tuple[int, int | None]:
    """(lowest seq, seq bound above) of the courtroom's events that may be this hearing's."""
    if hearing.opened_seq is None:
        return 0, None
    before = session.scalar(
        sa.select(sa.func.max(HearingRow.opened_seq)).where(
            HearingRow.courtroom == hearing.courtroom, HearingRow.opened_seq < hearing.opened_seq
        )
    )
    after = session.scalar(
        sa.select(sa.func.min(HearingRow.opened_seq)).where(
            HearingRow.courtroom == hearing.courtroom, HearingRow.opened_seq > hearing.opened_seq
        )
    )
    return (0 if before is None else int(before) + 1), (None if after is None else int(after))


def _read(session: Session, hearing_id: str) -> tuple[str, Ledger] | None:
    hearing = session.get(HearingRow, hearing_id)
    if hearing is None:
        return None
    low, high = _bounds(session, hearing)
    query = sa.select(EventRow.kind, EventRow.body).where(
        EventRow.courtroom == hearing.courtroom,
        EventRow.seq >= low,
        EventRow.kind.in_(sorted(LEDGER_KINDS)),
    )
    if high is not None:
        query = query.where(EventRow.seq < high)
    events: Ledger = []
    inside = False
    for kind, body in session.execute(query.order_by(EventRow.seq).limit(MAX_LEDGER_EVENTS)):
        named = body.get("hearing_id") if isinstance(body, dict) else None
        if named == hearing_id:
            events.append((kind, body))
            inside = not (kind == "hearing.closed" and not body.get("interrupted"))
        elif named is None and inside:
            events.append((kind, body))
    records = session.execute(
        sa.select(HearingRecordRow.kind, HearingRecordRow.body)
        .where(HearingRecordRow.hearing_id == hearing_id)
        .order_by(HearingRecordRow.id)
        .limit(MAX_RECORDS)
    )
    events += [(kind, body) for kind, body in records]
    return hearing.courtroom, events


def ledger_events(archive: Archive, hearing_id: str) -> tuple[str, Ledger] | None:
    """(owner courtroom, the hearing's ledger events in order), None for no such hearing."""
    with _sessions(archive) as session:
        return _read(session, hearing_id)


def hearing_ledger(archive: Archive, hearing_id: str) -> tuple[str, ComplianceLedger] | None:
    """(owner courtroom, the hearing's ledger folded), None for no such hearing."""
    found = ledger_events(archive, hearing_id)
    if found is None:
        return None
    courtroom, events = found
    ledger = ComplianceLedger(hearing_id)
    for kind, body in events:
        ledger.add(kind, body)
    return courtroom, ledger


def add_paperwork(
    archive: Archive,
    hearing_id: str,
    incident_id: str,
    *,
    state: str,
    by: str,
    now: datetime,
    text: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Record an incident explained (``text``) or signed; (the body stored, the incident after).

    Raises:
        NoSuchIncident: the hearing holds no incident ``incident_id``.
        PaperworkConflict: it is signed already, or (signing) not explained yet.
        TooManyRecords: the hearing holds :data:`MAX_RECORDS` records already.
        LookupError: no such hearing.
    """
    with _sessions(archive) as session, session.begin():
        found = _read(session, hearing_id)
        if found is None:
            raise LookupError(hearing_id)
        courtroom, events = found
        ledger = ComplianceLedger(hearing_id)
        for kind, event in events:
            ledger.add(kind, event)
        incidents = {i["id"]: i for i in ledger.report()["incidents"]}
        incident = incidents.get(incident_id)
        if incident is None:
            raise NoSuchIncident(f"无此事件 · no incident {incident_id[:64]!r} in this hearing")
        if incident["state"] == "signed":
            raise PaperworkConflict(
                f"事件已由 {incident['signed_by']} 签署, 不可更改 · already signed off"
            )
        if state == "signed" and incident["state"] != "explained":
            raise PaperworkConflict(
                "须先填写书面说明, 审判长方可签署 · the incident must be explained in writing "
                "before the presiding judge signs it off"
            )
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(HearingRecordRow)
            .where(HearingRecordRow.hearing_id == hearing_id)
        )
        if int(count or 0) >= MAX_RECORDS:
            raise TooManyRecords(f"庭审记录已满 · this hearing holds {MAX_RECORDS} records")
        body = Incident(
            id=incident_id,
            kind=incident["kind"],
            state=state,
            part=incident["part"],
            source=incident["source"],
            message=incident["message"],
            time=incident["time"],
            at=now.isoformat(),
            explanation=text,
            by=by,
            hearing_id=hearing_id,
        ).to_json()
        session.add(
            HearingRecordRow(
                hearing_id=hearing_id,
                courtroom=courtroom,
                kind="incident",
                body=body,
                actor=by,
                at=now,
            )
        )
        ledger.add("incident", body)
        after = {i["id"]: i for i in ledger.report()["incidents"]}[incident_id]
        return body, after
