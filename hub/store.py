"""The hub archive: stores agents' events exactly once and answers queries.

:class:`Archive` is synchronous and blocking; the hub calls it through
:class:`ArchiveRunner`, which runs every write on one dedicated writer thread
(so the per-courtroom watermark is advanced by one writer at a time) and reads
on a small pool, never on the event loop.

Exactly-once: an event's (courtroom, seq) is inserted in the same transaction
as its effect (hearing row, segment), with a digest of its kind and body. A
repeat with the same digest is skipped, so a resent event never adds a second
segment; a repeat with another digest raises :class:`SeqConflict`. An event
that cannot be stored or applied is quarantined (:meth:`Archive.store_event`)
and still advances the watermark, so the agent's spool never stalls. The
watermark ``acked_seq`` is the highest seq with no gap below it; it is kept
on the courtroom row and only walks forward over the stored seqs just above
it, so storing is O(gap) rather than O(history). An event beyond a gap is
refused unstored (:class:`SeqGap`): agents send strictly in order, and an
early event would otherwise take its seq from the genuine one.

Sites: a hearing belongs to the courtroom that opened it (its owner) and
holds, besides, every remote site that joined it — another courtroom whose
agent sent ``hearing.opened`` with ``joined: true`` for that hearing id (same
``opened_at``: one hearing clock). A joined site's events are stored under its
own courtroom's seq, exactly once as any other, and applied to the hearing:
its finals join the hearing's transcript, labelled with the site. Its
``hearing.closed`` ends only its own part (``left_at``); the owner's closes the
hearing. Any other courtroom's event naming the hearing is quarantined
(:class:`Unstorable`), as is a site's event after it left (but its rejoin).

Who sees which lines (:meth:`Archive.transcript`): seen from the owner
courtroom, a hearing's transcript holds every site's finals; seen from a
joined site, only that site's own. Each line names its site (``site``,
``site_name``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from courtroom_core.wire import (
    Event,
    HearingClosed,
    HearingOpened,
    TranscriptFinal,
    WireError,
    alarm_of,
)
from hub.db import (
    CourtroomRow,
    EventRow,
    HearingRow,
    HearingSiteRow,
    QuarantineRow,
    SegmentRow,
    as_utc,
)
from hub.quarantine import (
    MAX_QUARANTINE_BODY,
    QUARANTINE_KIND,
    Quarantined,
    SeqConflict,
    SeqGap,
    Unstorable,
    printable,
    quarantined_of,
    raw_digest,
    refusal_reason,
    refuses_values,
)

__all__ = [
    "MAX_QUARANTINE_BODY",
    "QUARANTINE_KIND",
    "Archive",
    "ArchiveRunner",
    "HearingInfo",
    "HearingSite",
    "Quarantined",
    "SeqConflict",
    "SeqGap",
    "StoreResult",
    "Unstorable",
    "segment_json",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HearingSite:
    """A remote site that joined a hearing: its courtroom id and display name."""

    courtroom: str
    name: str
    joined_at: datetime
    left_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "courtroom": self.courtroom,
            "name": self.name,
            "joined_at": _iso(self.joined_at),
            "left_at": _iso(self.left_at),
        }


@dataclass(frozen=True, slots=True)
class HearingInfo:
    """A hearing: ``courtroom`` opened it (its owner); ``sites`` joined it."""

    id: str
    courtroom: str
    title: str
    opened_at: datetime | None
    closed_at: datetime | None
    duration: float | None
    sites: tuple[HearingSite, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "courtroom": self.courtroom,
            "title": self.title,
            "opened_at": _iso(self.opened_at),
            "closed_at": _iso(self.closed_at),
            "duration": self.duration,
            "sites": [site.to_json() for site in self.sites],
        }


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one event did.

    Attributes:
        acked_seq: the courtroom's watermark after the event.
        duplicate: the (courtroom, seq) was already stored; nothing changed.
        hearing: the hearing row after a hearing.opened/closed event.
        segment: the stored segment (Final.to_json plus ``seq``) of a final.
        quarantined: the event was quarantined instead of applied.
    """

    acked_seq: int
    duplicate: bool
    hearing: HearingInfo | None = None
    segment: dict[str, Any] | None = field(default=None)
    quarantined: Quarantined | None = None


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

        An event that cannot be stored or applied (its hearing id belongs to
        another courtroom, the database refuses a value) is quarantined
        instead: kept raw in the ``quarantine`` table, recorded in ``events``
        as a ``hub.quarantine`` event (see :data:`QUARANTINE_KIND`) and
        acknowledged, so one bad event cannot stall the agent's spool.

        Repeats: a seq already stored with the same digest is a duplicate
        (nothing changes); with another digest it is a :class:`SeqConflict`.
        A seq at or below the watermark with no stored row was a thinned
        status report (its body was never kept): it counts as a duplicate.

        Raises:
            SeqConflict: the seq is stored with a different kind or body.
            SeqGap: the seq is beyond the watermark + 1; nothing was stored.
            sqlalchemy.exc.SQLAlchemyError: the database itself failed
                (connection, disk); nothing was stored, the caller must not
                ack and should drop the connection.
        """
        digest = event.digest()
        with self._sessions.begin() as session:
            room = self._room(session, courtroom)
            held = self._held(session, courtroom, event.seq, digest, room.acked_seq)
            if held is not None:
                return held
            if event.seq > room.acked_seq + 1:
                raise SeqGap(courtroom, event.seq, room.acked_seq + 1)
            if self._thinned(session, courtroom, event, now):
                room.acked_seq = self._advance(session, courtroom, event.seq)
                return StoreResult(acked_seq=room.acked_seq, duplicate=False)
            try:
                with session.begin_nested():
                    session.add(
                        EventRow(
                            courtroom=courtroom,
                            seq=event.seq,
                            kind=event.kind,
                            body=event.body,
                            digest=digest,
                            received_at=now,
                        )
                    )
                    hearing, segment = self._apply(session, room, event, now)
                    session.flush()
            except (Unstorable, sa.exc.StatementError) as exc:
                if isinstance(exc, sa.exc.StatementError) and not refuses_values(exc):
                    raise
                raw = json.dumps(event.body, ensure_ascii=False)
                quarantined = self._quarantine(
                    session, room, event.seq, event.kind, raw, refusal_reason(exc), digest, now
                )
                return StoreResult(
                    acked_seq=room.acked_seq, duplicate=False, quarantined=quarantined
                )
            room.acked_seq = self._advance(session, courtroom, room.acked_seq)
            return StoreResult(
                acked_seq=room.acked_seq, duplicate=False, hearing=hearing, segment=segment
            )

    def quarantine(
        self, courtroom: str, *, seq: int, kind: str, raw: str, error: str, now: datetime
    ) -> StoreResult:
        """Quarantine an event whose seq and kind are valid but whose body is not.

        ``raw`` is the body as received (JSON text); it is compared by digest
        like a stored event, so an identical resend is a duplicate.

        Raises:
            SeqConflict: the seq is stored with a different kind or body.
            SeqGap: the seq is beyond the watermark + 1; nothing was stored.
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing stored.
        """
        digest = raw_digest(kind, raw)
        with self._sessions.begin() as session:
            room = self._room(session, courtroom)
            held = self._held(session, courtroom, seq, digest, room.acked_seq)
            if held is not None:
                return held
            if seq > room.acked_seq + 1:
                raise SeqGap(courtroom, seq, room.acked_seq + 1)
            quarantined = self._quarantine(session, room, seq, kind, raw, error, digest, now)
            return StoreResult(acked_seq=room.acked_seq, duplicate=False, quarantined=quarantined)

    def quarantined(self, courtroom: str, *, limit: int = 100) -> list[Quarantined]:
        """The courtroom's newest quarantined events, newest first."""
        query = (
            sa.select(QuarantineRow)
            .where(QuarantineRow.courtroom == courtroom)
            .order_by(QuarantineRow.id.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            return [quarantined_of(row) for row in session.scalars(query)]

    def _room(self, session: Session, courtroom: str) -> CourtroomRow:
        room = session.get(CourtroomRow, courtroom, with_for_update=True)
        if room is None:
            raise LookupError(f"unknown courtroom {courtroom!r}")
        return room

    def _held(
        self, session: Session, courtroom: str, seq: int, digest: str, acked: int
    ) -> StoreResult | None:
        """A duplicate's result, None for a new seq.

        Raises:
            SeqConflict: the seq is held with another digest.
        """
        held = session.execute(
            sa.select(EventRow.digest).where(EventRow.courtroom == courtroom, EventRow.seq == seq)
        ).first()
        if held is None:
            # At or below the watermark without a row: a thinned status report.
            return StoreResult(acked_seq=acked, duplicate=True) if seq <= acked else None
        if held.digest is not None and held.digest != digest:
            raise SeqConflict(courtroom, seq)
        return StoreResult(acked_seq=acked, duplicate=True)

    def _quarantine(
        self,
        session: Session,
        room: CourtroomRow,
        seq: int,
        kind: str,
        raw: str,
        error: str,
        digest: str,
        now: datetime,
    ) -> Quarantined:
        row = QuarantineRow(
            courtroom=room.id,
            seq=seq,
            kind=kind,
            body=printable(raw)[:MAX_QUARANTINE_BODY],
            error=printable(error)[:500],
            received_at=now,
        )
        session.add(row)
        session.flush()
        quarantined = quarantined_of(row)
        session.add(
            EventRow(
                courtroom=room.id,
                seq=seq,
                kind=QUARANTINE_KIND,
                body=quarantined.summary(),
                digest=digest,
                received_at=now,
            )
        )
        session.flush()
        room.acked_seq = self._advance(session, room.id, room.acked_seq)
        return quarantined

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
        self, session: Session, room: CourtroomRow, event: Event, now: datetime
    ) -> tuple[HearingInfo | None, dict[str, Any] | None]:
        """Apply the event's effect; the body was checked by :mod:`courtroom_core.wire`.

        Raises:
            Unstorable: the body names a hearing of another courtroom that
                this courtroom did not join (or left), or it joins a hearing
                no site opened, its own, or at another ``opened_at``.
        """
        courtroom = room.id
        body = event.data
        hearing_id = getattr(body, "hearing_id", None)
        hearing = None if hearing_id is None else session.get(HearingRow, hearing_id)
        if hearing is not None and hearing.courtroom != courtroom:
            site = self._admit_site(session, hearing, courtroom, event, now)
            return self._apply_site(session, room, hearing, site, event, now)
        if isinstance(body, HearingOpened) and body.joined:
            whose = "no site opened it" if hearing is None else f"{courtroom!r} opened it"
            raise Unstorable(f"cannot join hearing {body.hearing_id!r}: {whose}")
        if isinstance(body, HearingOpened):
            hearing = hearing or self._new_hearing(session, courtroom, body.hearing_id)
            hearing.title, hearing.opened_seq = body.title, event.seq
            hearing.opened_at = _parse_time(body.opened_at)
            if body.resumed_at is not None:
                # The agent continues a hearing an earlier run of it ended
                # with a failure: open again until its 闭庭.
                hearing.closed_at = hearing.duration = None
            return _hearing_info(session, hearing), None
        if isinstance(body, HearingClosed):
            hearing = hearing or self._new_hearing(session, courtroom, body.hearing_id)
            hearing.closed_at, hearing.duration = _parse_time(body.closed_at), body.duration
            return _hearing_info(session, hearing), None
        if isinstance(body, TranscriptFinal):
            return None, self._add_segment(session, room, event, body)
        return None, None

    def _admit_site(
        self, session: Session, hearing: HearingRow, courtroom: str, event: Event, now: datetime
    ) -> HearingSiteRow:
        """The site row letting ``courtroom`` write into another courtroom's hearing.

        A joined ``hearing.opened`` creates it (or rejoins: ``left_at`` cleared);
        a site that left may still repeat its ``hearing.closed``.

        Raises:
            Unstorable: ``courtroom`` never joined the hearing, left it, or
                joins it at another ``opened_at`` than the owner opened it.
        """
        body = event.data
        site = session.get(HearingSiteRow, (hearing.id, courtroom), with_for_update=True)
        if isinstance(body, HearingOpened) and body.joined:
            opened_at = _parse_time(body.opened_at)
            owner_at = as_utc(hearing.opened_at)
            if opened_at is not None and owner_at is not None and opened_at != owner_at:
                raise Unstorable(
                    f"cannot join hearing {hearing.id!r} of courtroom {hearing.courtroom!r}: "
                    f"opened_at {body.opened_at} is not its opened_at {owner_at.isoformat()}"
                )
            if site is None:
                site = HearingSiteRow(
                    hearing_id=hearing.id, courtroom=courtroom, joined_seq=event.seq, joined_at=now
                )
                session.add(site)
            site.joined_seq, site.left_at = event.seq, None
            return site
        if site is None:
            raise Unstorable(
                f"hearing {hearing.id!r} belongs to courtroom {hearing.courtroom!r}"
                f" and courtroom {courtroom!r} has not joined it"
            )
        if site.left_at is not None and not isinstance(body, HearingClosed):
            raise Unstorable(f"courtroom {courtroom!r} left hearing {hearing.id!r}")
        return site

    def _apply_site(
        self,
        session: Session,
        room: CourtroomRow,
        hearing: HearingRow,
        site: HearingSiteRow,
        event: Event,
        now: datetime,
    ) -> tuple[HearingInfo | None, dict[str, Any] | None]:
        """A joined site's event: its 闭庭 ends its part only; its finals join the hearing."""
        body = event.data
        if isinstance(body, HearingClosed):
            if site.left_at is None:
                site.left_at = _parse_time(body.closed_at) or now
            session.flush()
            return _hearing_info(session, hearing), None
        if isinstance(body, HearingOpened):
            session.flush()
            return _hearing_info(session, hearing), None
        if isinstance(body, TranscriptFinal):
            return None, self._add_segment(session, room, event, body)
        return None, None

    def _add_segment(
        self, session: Session, room: CourtroomRow, event: Event, body: TranscriptFinal
    ) -> dict[str, Any]:
        seg = body.segment
        row = SegmentRow(
            hearing_id=body.hearing_id,
            courtroom=room.id,
            seq=event.seq,
            start=seg.start,
            end=seg.end,
            channel=seg.channel,
            role=seg.role,
            text=seg.text,
            confidence=seg.confidence,
            words=event.body["segment"].get("words") or [],
        )
        session.add(row)
        return segment_json(row, room.name)

    def _new_hearing(self, session: Session, courtroom: str, hearing_id: str) -> HearingRow:
        hearing = HearingRow(id=hearing_id, courtroom=courtroom, title="")
        session.add(hearing)
        return hearing

    # -- queries ----------------------------------------------------------

    def courtrooms(self) -> list[tuple[str, str, HearingInfo | None]]:
        """Every courtroom as (id, name, current hearing)."""
        with self._sessions() as session:
            rooms = session.scalars(sa.select(CourtroomRow).order_by(CourtroomRow.id)).all()
            return [(r.id, r.name, self._current(session, r.id)) for r in rooms]

    def current_hearing(self, courtroom: str) -> HearingInfo | None:
        """The courtroom's latest opened or joined hearing, closed or not."""
        with self._sessions() as session:
            return self._current(session, courtroom)

    def _current(self, session: Session, courtroom: str) -> HearingInfo | None:
        """The hearing of the courtroom's latest ``hearing.opened``, its own or a join.

        Both seqs are the courtroom's own, so the later event wins.
        """
        owned = session.execute(
            sa.select(HearingRow.id, HearingRow.opened_seq)
            .where(HearingRow.courtroom == courtroom, HearingRow.opened_seq.is_not(None))
            .order_by(HearingRow.opened_seq.desc())
            .limit(1)
        ).first()
        joined = session.execute(
            sa.select(HearingSiteRow.hearing_id, HearingSiteRow.joined_seq)
            .where(HearingSiteRow.courtroom == courtroom)
            .order_by(HearingSiteRow.joined_seq.desc())
            .limit(1)
        ).first()
        latest = max(
            (r for r in (owned, joined) if r is not None), key=lambda r: r[1] or 0, default=None
        )
        row = None if latest is None else session.get(HearingRow, latest[0])
        return None if row is None else _hearing_info(session, row)

    def hearings(self, courtroom: str | None = None) -> list[HearingInfo]:
        """Hearings, newest first, optionally of one courtroom (opened or joined by it)."""
        query = sa.select(HearingRow).order_by(
            HearingRow.opened_at.desc().nulls_last(), HearingRow.id
        )
        if courtroom is not None:
            joined = sa.select(HearingSiteRow.hearing_id).where(
                HearingSiteRow.courtroom == courtroom
            )
            query = query.where(
                sa.or_(HearingRow.courtroom == courtroom, HearingRow.id.in_(joined))
            )
        with self._sessions() as session:
            rows = session.scalars(query).all()
            sites = _sites_of(session, [row.id for row in rows])
            return [_hearing_info(session, row, sites.get(row.id, ())) for row in rows]

    def hearing(self, hearing_id: str) -> HearingInfo | None:
        with self._sessions() as session:
            row = session.get(HearingRow, hearing_id)
            return None if row is None else _hearing_info(session, row)

    def _visible(self, session: Session, hearing_id: str, courtroom: str) -> list[str]:
        """The sites whose lines of the hearing are seen from ``courtroom``.

        From the owner: itself and every joined site; from a joined site: its
        own; from any other courtroom: its own (it has none, its events were
        quarantined) — and from a courtroom of a hearing never opened, its own.
        """
        owner = session.scalar(sa.select(HearingRow.courtroom).where(HearingRow.id == hearing_id))
        if owner != courtroom:
            return [courtroom]
        joined = session.scalars(
            sa.select(HearingSiteRow.courtroom).where(HearingSiteRow.hearing_id == hearing_id)
        )
        return [courtroom, *joined]

    def transcript(
        self,
        hearing_id: str,
        courtroom: str,
        *,
        site: str | None = None,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Segments of a hearing seen from ``courtroom``, in hearing-clock order.

        Seen from the hearing's owner: every site's segments; from a joined
        site: that site's own (see the module docstring). Each is
        :func:`segment_json` (Final.to_json plus ``seq``, ``site`` and
        ``site_name``). Order: (start, seq, site).

        Paging follows that order: ``before_seq`` keeps the segments ordered
        before the segment of ``site`` (default ``courtroom``) with that seq
        (the ``limit`` nearest it), ``after_seq`` those after it (the
        ``limit`` nearest it); a seq that is not a segment of the hearing
        gives ``[]``. Either way the page is returned in transcript order.

        Raises:
            ValueError: ``limit`` below 1, or both ``before_seq`` and ``after_seq``.
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if before_seq is not None and after_seq is not None:
            raise ValueError("give before_seq or after_seq, not both")
        key = sa.tuple_(SegmentRow.start, SegmentRow.seq, SegmentRow.courtroom)
        backwards = before_seq is not None
        with self._sessions() as session:
            where = [
                SegmentRow.hearing_id == hearing_id,
                SegmentRow.courtroom.in_(self._visible(session, hearing_id, courtroom)),
            ]
            cursor = before_seq if before_seq is not None else after_seq
            if cursor is not None:
                cursor_site = courtroom if site is None else site
                start = session.scalar(
                    sa.select(SegmentRow.start).where(
                        *where, SegmentRow.seq == cursor, SegmentRow.courtroom == cursor_site
                    )
                )
                if start is None:
                    return []
                at = (start, cursor, cursor_site)
                where.append(key < at if backwards else key > at)
            columns = (SegmentRow.start, SegmentRow.seq, SegmentRow.courtroom)
            order = [c.desc() for c in columns] if backwards else list(columns)
            query = _named_segments().where(*where).order_by(*order)
            if limit is not None:
                query = query.limit(limit)
            rows = [segment_json(row, name) for row, name in session.execute(query)]
        return rows[::-1] if backwards else rows

    def transcript_tail(
        self, hearing_id: str, courtroom: str, *, limit: int, max_bytes: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """The last segments of a hearing seen from ``courtroom`` for a live snapshot,
        and whether older ones exist (same sites as :meth:`transcript`).

        At most ``limit`` segments and, counting each as its compact JSON, at
        most ``max_bytes`` (the newest segment is always included).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        tail: list[dict[str, Any]] = []
        size = 0
        with self._sessions() as session:
            query = (
                _named_segments()
                .where(
                    SegmentRow.hearing_id == hearing_id,
                    SegmentRow.courtroom.in_(self._visible(session, hearing_id, courtroom)),
                )
                .order_by(
                    SegmentRow.start.desc(), SegmentRow.seq.desc(), SegmentRow.courtroom.desc()
                )
                .limit(limit + 1)
            )
            for row, name in session.execute(query):
                segment = segment_json(row, name)
                size += len(json.dumps(segment, ensure_ascii=False, separators=(",", ":")).encode())
                if len(tail) == limit or (tail and size > max_bytes):
                    return tail[::-1], True
                tail.append(segment)
        return tail[::-1], False

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

        An alarm (``av.alarm``, or a ``camera`` alarm or online/offline change
        of an agent before protocol 2) is returned in the wire's one alarm
        shape, whatever shape it was archived in (:func:`_read_body`).

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
                    "body": _read_body(row.kind, row.body),
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


def _read_body(kind: str, body: Any) -> Any:
    """An archived body as readers get it: an alarm of any shape ever archived
    is mapped to the one alarm shape (:func:`courtroom_core.wire.alarm_of`).

    Old rows are mapped on read, never rewritten: the archive keeps each body
    as received (its digest is the event's identity). A row that cannot be
    mapped (archived before bodies were checked) is returned as stored.
    """
    try:
        alarm = alarm_of(kind, body)
    except WireError as exc:
        log.debug("archived %s body not mapped to an alarm: %s", kind, exc)
        return body
    return body if alarm is None else alarm.to_json()


def segment_json(row: SegmentRow, site_name: str) -> dict[str, Any]:
    """A stored segment in Final.to_json form plus its ``seq`` and its site.

    ``site`` is the courtroom id whose agent sent it (the seq is that
    courtroom's), ``site_name`` that courtroom's display name.
    """
    return {
        "seq": row.seq,
        "site": row.courtroom,
        "site_name": site_name,
        "start": row.start,
        "end": row.end,
        "channel": row.channel,
        "role": row.role,
        "text": row.text,
        "confidence": row.confidence,
        "words": row.words,
    }


def _named_segments() -> sa.Select[SegmentRow, str]:
    """Segments, each with its courtroom's display name alongside."""
    return sa.select(SegmentRow, CourtroomRow.name).join(
        CourtroomRow, CourtroomRow.id == SegmentRow.courtroom
    )


def _sites_of(session: Session, hearing_ids: Sequence[str]) -> dict[str, tuple[HearingSite, ...]]:
    """The joined sites of each hearing, in the order they joined (one query)."""
    if not hearing_ids:
        return {}
    query = (
        sa.select(HearingSiteRow, CourtroomRow.name)
        .join(CourtroomRow, CourtroomRow.id == HearingSiteRow.courtroom)
        .where(HearingSiteRow.hearing_id.in_(hearing_ids))
        .order_by(HearingSiteRow.joined_at, HearingSiteRow.courtroom)
    )
    sites: dict[str, list[HearingSite]] = {}
    for row, name in session.execute(query):
        site = HearingSite(
            courtroom=row.courtroom,
            name=name,
            joined_at=as_utc(row.joined_at) or row.joined_at,
            left_at=as_utc(row.left_at),
        )
        sites.setdefault(row.hearing_id, []).append(site)
    return {hearing_id: tuple(held) for hearing_id, held in sites.items()}


def _hearing_info(
    session: Session, row: HearingRow, sites: tuple[HearingSite, ...] | None = None
) -> HearingInfo:
    """The hearing's value object; its sites read unless given."""
    if sites is None:
        sites = _sites_of(session, [row.id]).get(row.id, ())
    return HearingInfo(
        id=row.id,
        courtroom=row.courtroom,
        title=row.title,
        opened_at=as_utc(row.opened_at),
        closed_at=as_utc(row.closed_at),
        duration=row.duration,
        sites=sites,
    )


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = as_utc(datetime.fromisoformat(value))  # checked by courtroom_core.wire
    return None if parsed is None else parsed.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
