"""The hub archive: stores agents' events exactly once and answers queries.

:class:`Archive` is synchronous and blocking; the hub calls it through
:class:`ArchiveRunner`, which runs every write on one dedicated writer thread
(so the per-courtroom watermark is advanced by one writer at a time) and reads
on a small pool, never on the event loop.

Exactly-once: an event's (courtroom, seq) is inserted in the same transaction
as its effect (hearing row, segment). A repeat is detected and skipped, so a
resent event never adds a second segment. The watermark ``acked_seq`` is the
highest seq with no gap below it; it is kept on the courtroom row and only
walks forward over the stored seqs just above it, so storing is O(gap) rather
than O(history). An event beyond a gap is stored and applied but not acked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from hub.db import CourtroomRow, EventRow, HearingRow, SegmentRow, as_utc
from hub.wire import Event

__all__ = ["Archive", "ArchiveRunner", "HearingInfo", "StoreResult", "segment_json"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HearingInfo:
    id: str
    courtroom: str
    title: str
    opened_at: datetime | None
    closed_at: datetime | None
    duration: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "courtroom": self.courtroom,
            "title": self.title,
            "opened_at": _iso(self.opened_at),
            "closed_at": _iso(self.closed_at),
            "duration": self.duration,
        }


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one event did.

    Attributes:
        acked_seq: the courtroom's watermark after the event.
        duplicate: the (courtroom, seq) was already stored; nothing changed.
        hearing: the hearing row after a hearing.opened/closed event.
        segment: the stored segment (Final.to_json plus ``seq``) of a final.
    """

    acked_seq: int
    duplicate: bool
    hearing: HearingInfo | None = None
    segment: dict[str, Any] | None = field(default=None)


class Archive:
    """Blocking archive operations over one SQLAlchemy engine.

    Args:
        engine: an engine whose schema is migrated (:func:`hub.db.migrate`).
        status_every: seconds between the ``status`` reports kept in the
            archive. Agents report status every second or so for the live
            patrol view; keeping each would grow the archive by ~30 000 rows
            per courtroom per day. A report within ``status_every`` of the last
            kept one is acknowledged and shown live, not stored. Alarms,
            transcripts and every other kind are always stored. 0 keeps all.
    """

    def __init__(self, engine: sa.Engine, *, status_every: float = 60.0) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._status_every = timedelta(seconds=status_every)

    # -- setup ------------------------------------------------------------

    def ensure_courtrooms(self, courtrooms: Iterable[tuple[str, str]]) -> None:
        """Create or rename the configured courtrooms (id, name); keeps watermarks."""
        with self._sessions.begin() as session:
            for courtroom_id, name in courtrooms:
                row = session.get(CourtroomRow, courtroom_id)
                if row is None:
                    session.add(CourtroomRow(id=courtroom_id, name=name, acked_seq=0))
                else:
                    row.name = name

    # -- events -----------------------------------------------------------

    def acked_seq(self, courtroom: str) -> int:
        """Highest seq of ``courtroom`` stored with no gap below it (0 if none)."""
        with self._sessions() as session:
            row = session.get(CourtroomRow, courtroom)
            return 0 if row is None else row.acked_seq

    def store_event(self, courtroom: str, event: Event, *, now: datetime) -> StoreResult:
        """Store ``event`` once, apply its effect and advance the watermark.

        A body that does not fit its kind (say, a final without text) is still
        stored, acknowledged and logged, so one bad event cannot stall the
        agent's spool forever.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was
                stored, the caller must not ack and should drop the connection.
        """
        with self._sessions.begin() as session:
            room = session.get(CourtroomRow, courtroom, with_for_update=True)
            if room is None:
                raise LookupError(f"unknown courtroom {courtroom!r}")
            exists = session.scalar(
                sa.select(EventRow.id).where(
                    EventRow.courtroom == courtroom, EventRow.seq == event.seq
                )
            )
            if exists is not None or event.seq <= room.acked_seq:
                return StoreResult(acked_seq=room.acked_seq, duplicate=True)
            if event.seq == room.acked_seq + 1 and self._thinned(session, courtroom, event, now):
                room.acked_seq = self._advance(session, courtroom, event.seq)
                return StoreResult(acked_seq=room.acked_seq, duplicate=False)
            session.add(
                EventRow(
                    courtroom=courtroom,
                    seq=event.seq,
                    kind=event.kind,
                    body=event.body,
                    received_at=now,
                )
            )
            result = self._apply(session, courtroom, event)
            session.flush()
            room.acked_seq = self._advance(session, courtroom, room.acked_seq)
            return StoreResult(
                acked_seq=room.acked_seq,
                duplicate=False,
                hearing=result[0],
                segment=result[1],
            )

    def _thinned(self, session: Session, courtroom: str, event: Event, now: datetime) -> bool:
        """A status report close behind the last one kept: acknowledge, don't store.

        Only for the next seq in order, so the watermark needs no stored row.
        """
        if event.kind != "status" or not self._status_every:
            return False
        last = session.scalar(
            sa.select(EventRow.received_at)
            .where(EventRow.courtroom == courtroom, EventRow.kind == "status")
            .order_by(EventRow.seq.desc())
            .limit(1)
        )
        if last is None:
            return False
        if last.tzinfo is None:  # SQLite returns naive UTC
            last = last.replace(tzinfo=UTC)
        return now - last < self._status_every

    def _advance(self, session: Session, courtroom: str, acked: int) -> int:
        pending = session.scalars(
            sa.select(EventRow.seq)
            .where(EventRow.courtroom == courtroom, EventRow.seq > acked)
            .order_by(EventRow.seq)
        )
        for seq in pending:
            if seq != acked + 1:
                break
            acked = seq
        return acked

    def _apply(
        self, session: Session, courtroom: str, event: Event
    ) -> tuple[HearingInfo | None, dict[str, Any] | None]:
        # Everything is parsed before anything is changed, so a bad body
        # leaves no half-applied effect behind.
        body = event.body
        try:
            if len(body.get("hearing_id", "")) > 128:
                raise ValueError("hearing_id is longer than 128 characters")
            if event.kind == "hearing.opened":
                title = str(body.get("title", ""))[:500]
                opened_at = _parse_time(body.get("opened_at"))
                hearing = self._hearing(session, courtroom, body["hearing_id"])
                hearing.title, hearing.opened_at, hearing.opened_seq = title, opened_at, event.seq
                if body.get("resumed_at") is not None:
                    # The agent continues a hearing an earlier run of it ended
                    # with a failure: open again until its 闭庭.
                    hearing.closed_at = hearing.duration = None
                return _hearing_info(hearing), None
            if event.kind == "hearing.closed":
                closed_at = _parse_time(body.get("closed_at"))
                duration = None if body.get("duration") is None else float(body["duration"])
                hearing = self._hearing(session, courtroom, body["hearing_id"])
                hearing.closed_at, hearing.duration = closed_at, duration
                return _hearing_info(hearing), None
            if event.kind == "transcript.final":
                seg = body["segment"]
                row = SegmentRow(
                    hearing_id=body["hearing_id"],
                    courtroom=courtroom,
                    seq=event.seq,
                    start=float(seg["start"]),
                    end=float(seg["end"]),
                    channel=int(seg["channel"]),
                    role=str(seg["role"])[:64],
                    text=str(seg["text"]),
                    confidence=float(seg.get("confidence", 1.0)),
                    words=_words(seg.get("words", [])),
                )
                session.add(row)
                return None, segment_json(row)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "courtroom %s event %d (%s) stored but not applied: bad body (%s)",
                courtroom,
                event.seq,
                event.kind,
                exc,
            )
        return None, None

    def _hearing(self, session: Session, courtroom: str, hearing_id: str) -> HearingRow:
        hearing = session.get(HearingRow, hearing_id)
        if hearing is None:
            hearing = HearingRow(id=hearing_id, courtroom=courtroom, title="")
            session.add(hearing)
        elif hearing.courtroom != courtroom:
            raise ValueError(f"hearing {hearing_id!r} belongs to courtroom {hearing.courtroom!r}")
        return hearing

    # -- queries ----------------------------------------------------------

    def courtrooms(self) -> list[tuple[str, str, HearingInfo | None]]:
        """Every courtroom as (id, name, current hearing)."""
        with self._sessions() as session:
            rooms = session.scalars(sa.select(CourtroomRow).order_by(CourtroomRow.id)).all()
            return [(r.id, r.name, self._current(session, r.id)) for r in rooms]

    def current_hearing(self, courtroom: str) -> HearingInfo | None:
        """The courtroom's latest opened hearing, closed or not."""
        with self._sessions() as session:
            return self._current(session, courtroom)

    def _current(self, session: Session, courtroom: str) -> HearingInfo | None:
        row = session.scalars(
            sa.select(HearingRow)
            .where(HearingRow.courtroom == courtroom, HearingRow.opened_seq.is_not(None))
            .order_by(HearingRow.opened_seq.desc())
            .limit(1)
        ).first()
        return None if row is None else _hearing_info(row)

    def hearings(self, courtroom: str | None = None) -> list[HearingInfo]:
        """Hearings, newest first, optionally of one courtroom."""
        query = sa.select(HearingRow).order_by(
            HearingRow.opened_at.desc().nulls_last(), HearingRow.id
        )
        if courtroom is not None:
            query = query.where(HearingRow.courtroom == courtroom)
        with self._sessions() as session:
            return [_hearing_info(row) for row in session.scalars(query)]

    def hearing(self, hearing_id: str) -> HearingInfo | None:
        with self._sessions() as session:
            row = session.get(HearingRow, hearing_id)
            return None if row is None else _hearing_info(row)

    def transcript(self, hearing_id: str, courtroom: str) -> list[dict[str, Any]]:
        """Segments of a hearing as Final.to_json plus ``seq``, by start then seq."""
        query = (
            sa.select(SegmentRow)
            .where(SegmentRow.hearing_id == hearing_id, SegmentRow.courtroom == courtroom)
            .order_by(SegmentRow.start, SegmentRow.seq)
        )
        with self._sessions() as session:
            return [segment_json(row) for row in session.scalars(query)]

    def events(
        self,
        courtroom: str,
        *,
        kind: str | None = None,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 500,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """One page of a courtroom's stored events (the audit trail).

        Args:
            courtroom: the courtroom id.
            kind: only events of this kind.
            after_seq: only events with a seq above this.
            before_seq: only events with a seq below this (None: no bound).
            limit: at most this many events (the ones nearest the start of
                the order); the caller bounds it.
            newest_first: descending seq order instead of ascending. Page
                ascending with ``after_seq`` = the last seq received, descending
                with ``before_seq`` = the last seq received.

        Raises:
            ValueError: ``limit`` below 1.
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        query = sa.select(EventRow).where(EventRow.courtroom == courtroom, EventRow.seq > after_seq)
        if before_seq is not None:
            query = query.where(EventRow.seq < before_seq)
        if kind is not None:
            query = query.where(EventRow.kind == kind)
        # (courtroom, seq) is unique and indexed: either direction is an index scan.
        order = EventRow.seq.desc() if newest_first else EventRow.seq
        query = query.order_by(order).limit(limit)
        with self._sessions() as session:
            return [
                {
                    "seq": row.seq,
                    "kind": row.kind,
                    "body": row.body,
                    "received_at": row.received_at,
                }
                for row in session.scalars(query)
            ]

    def event_count(self, courtroom: str) -> int:
        with self._sessions() as session:
            count = session.scalar(
                sa.select(sa.func.count())
                .select_from(EventRow)
                .where(EventRow.courtroom == courtroom)
            )
            return int(count or 0)


class ArchiveRunner:
    """Runs :class:`Archive` calls off the event loop.

    Writes go to a single writer thread in submission order; reads use a
    separate pool of ``readers`` threads. Call :meth:`close` on shutdown.
    """

    def __init__(self, archive: Archive, *, readers: int = 2) -> None:
        self.archive = archive
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-db-writer")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="hub-db-reader")

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._run(self._writer, fn, *args, **kwargs)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._run(self._readers, fn, *args, **kwargs)

    async def _run(
        self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.archive.engine.dispose()


def segment_json(row: SegmentRow) -> dict[str, Any]:
    """A stored segment in Final.to_json form plus its ``seq``."""
    return {
        "seq": row.seq,
        "start": row.start,
        "end": row.end,
        "channel": row.channel,
        "role": row.role,
        "text": row.text,
        "confidence": row.confidence,
        "words": row.words,
    }


def _hearing_info(row: HearingRow) -> HearingInfo:
    return HearingInfo(
        id=row.id,
        courtroom=row.courtroom,
        title=row.title,
        opened_at=as_utc(row.opened_at),
        closed_at=as_utc(row.closed_at),
        duration=row.duration,
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = as_utc(datetime.fromisoformat(value))
    return None if parsed is None else parsed.astimezone(UTC)


def _words(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(w, dict) for w in value):
        raise ValueError("segment.words must be a list of objects")
    return value


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
