"""The audit log: append-only records of logins, access and changes.

Records are only ever inserted (``audit_log`` table); there is no update or
delete path in the hub or the CLI, and ``GET /api/audit`` (admin) reads them.

Actions (:class:`Action`): ``login.ok``, ``login.failed``, ``logout``,
``live.open`` (a /ws/live subscribe or patrol), ``archive.read`` (a hearing's
transcript), ``user.create``, ``user.update``, ``agent_token.rotate``,
``access.refused`` (401/403 with the route), ``hearing.command`` (a hearing
order sent to a courtroom's agent, or refused before it was: the action, the
command id and its outcome, with the HTTP status answered), ``incident.explain``
and ``incident.sign`` (an incident's written explanation and the judge's
sign-off, or their refusal, with the HTTP status), ``audit.dropped``.

The hub never waits for the archive to record: :class:`AuditQueue` buffers up
to ``size`` records and one task writes them in batches on the archive's
writer thread. Overflow policy: a record that does not fit is counted, not
kept, and the count is written as one ``audit.dropped`` record once there is
room again, so a flood of refused requests costs bounded memory and writes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from hub.db import AuditRow, as_utc
from hub.security import utc_now
from hub.store import ArchiveRunner

__all__ = ["AUDIT_PAGE_LIMIT", "Action", "AuditLog", "AuditQueue", "AuditRecord"]

log = logging.getLogger(__name__)

AUDIT_PAGE_LIMIT: Final = 500
_BATCH: Final = 200


class Action(enum.StrEnum):
    LOGIN_OK = "login.ok"
    LOGIN_FAILED = "login.failed"
    LOGOUT = "logout"
    LIVE_OPEN = "live.open"
    ARCHIVE_READ = "archive.read"
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    AGENT_TOKEN_ROTATE = "agent_token.rotate"
    ACCESS_REFUSED = "access.refused"
    HEARING_COMMAND = "hearing.command"
    INCIDENT_EXPLAIN = "incident.explain"
    INCIDENT_SIGN = "incident.sign"
    AUDIT_DROPPED = "audit.dropped"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    action: Action
    actor: str | None = None
    target: str = ""
    client: str = ""
    status: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("audit time must be timezone-aware")

    def to_row(self) -> AuditRow:
        return AuditRow(
            at=self.at,
            action=self.action.value,
            actor=None if self.actor is None else self.actor[:64],
            target=self.target[:200],
            client=self.client[:64],
            status=self.status,
            detail=self.detail,
        )


class AuditLog:
    """Blocking inserts and reads of ``audit_log``."""

    def __init__(self, engine: sa.Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def append(self, records: list[AuditRecord]) -> None:
        with self._sessions.begin() as session:
            session.add_all([record.to_row() for record in records])

    def read(
        self,
        *,
        before_id: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; page with ``before_id`` = the smallest id received."""
        query = sa.select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        with self._sessions() as session:
            return [
                {
                    "id": row.id,
                    "at": as_utc(row.at),
                    "actor": row.actor,
                    "action": row.action,
                    "target": row.target,
                    "client": row.client,
                    "status": row.status,
                    "detail": row.detail or {},
                }
                for row in session.scalars(query)
            ]


class AuditQueue:
    """Bounded buffer in front of :class:`AuditLog`; :meth:`run` writes it out.

    Args:
        audit: where records go.
        runner: the archive runner (records are written on its writer thread).
        size: records held at most; beyond, records are counted as dropped.
    """

    def __init__(self, audit: AuditLog, runner: ArchiveRunner, *, size: int = 1000) -> None:
        self._audit = audit
        self._runner = runner
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def record(self, record: AuditRecord) -> None:
        """Queue ``record``; never blocks (see the overflow policy above)."""
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        """Write queued records until cancelled (then write what is left)."""
        try:
            while True:
                await self.flush(await self._queue.get())
        finally:
            if not self._queue.empty():
                await asyncio.shield(self.flush(None))

    async def flush(self, first: AuditRecord | None) -> None:
        batch = [] if first is None else [first]
        while len(batch) < _BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if self.dropped:
            batch.append(
                AuditRecord(
                    at=batch[-1].at if batch else utc_now(),
                    action=Action.AUDIT_DROPPED,
                    detail={"count": self.dropped},
                )
            )
            self.dropped = 0
        if batch:
            await self._runner.write(self._audit.append, batch)
