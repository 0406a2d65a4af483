"""The archive schema (SQLAlchemy 2 typed ORM) and how to open and migrate it.

The schema is portable SQL: it runs on SQLite (the default, one file) and on
PostgreSQL (``postgresql+psycopg://``). Alembic owns the tables; the revisions
in ``hub/migrations/versions`` must match the models below, and
:func:`migrate` brings any database up to ``head`` at startup.

Tables::

    courtrooms  id, name, acked_seq          acked_seq: highest seq with no gap below
    hearings    id, courtroom, title, opened_seq, opened_at, closed_at, duration
    events      courtroom, seq, kind, body, digest, received_at   UNIQUE(courtroom, seq)
                digest: sha256 of kind+body (courtroom_core.wire.digest), NULL before 0003
    segments    courtroom, seq, hearing_id, start, end, channel, role, text,
                confidence, words                         UNIQUE(courtroom, seq)
    quarantine  courtroom, seq, kind, body (raw JSON text), error, received_at
                events the archive could not store or apply (see hub.store)
    users       username, password_hash, role, courtrooms, enabled, created_at,
                updated_at                                 (0004: role .. updated_at)
    settings    key, value                                (no longer the token key)
    sessions    jti, username, issued_at, expires_at, revoked_at, client   (0004)
    audit_log   id, at, actor, action, target, client, status, detail      (0004)
                append-only: the hub and the CLI only ever INSERT into it
    agent_tokens  courtroom, token_hash, source, updated_at               (0004)
    hearing_sites hearing_id, courtroom, joined_seq, joined_at, left_at   (0005)
                PRIMARY KEY(hearing_id, courtroom): the remote sites that
                joined a hearing another courtroom (hearings.courtroom, its
                owner) opened; left_at is set by the site's own 闭庭
    hearing_records  id, hearing_id, courtroom, kind, body, actor, at      (0006)
                events the hub itself adds to a hearing's record: an incident's
                written explanation and the judge's sign-off (``incident``
                bodies), appended only; the agent's seq space is not touched
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hub.errors import ArchiveError

__all__ = [
    "AgentTokenRow",
    "AuditRow",
    "Base",
    "CourtroomRow",
    "EventRow",
    "HearingRecordRow",
    "HearingRow",
    "HearingSiteRow",
    "QuarantineRow",
    "SegmentRow",
    "SessionRow",
    "SettingRow",
    "UserRow",
    "as_utc",
    "migrate",
    "open_engine",
]

_MIGRATIONS = Path(__file__).with_name("migrations")


class Base(DeclarativeBase):
    pass


class CourtroomRow(Base):
    __tablename__ = "courtrooms"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    acked_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class HearingRow(Base):
    __tablename__ = "hearings"

    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    courtroom: Mapped[str] = mapped_column(sa.ForeignKey("courtrooms.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(500), default="")
    opened_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    opened_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    duration: Mapped[float | None] = mapped_column(sa.Float)


class HearingSiteRow(Base):
    """A remote site (another courtroom's agent) that joined a hearing.

    The hearing's owner, the courtroom that opened it, is ``hearings.courtroom``
    and has no row here. ``joined_seq`` is the site's own seq of its latest
    joined ``hearing.opened`` (so it orders against the site's own hearings),
    ``joined_at`` when the hub first stored it, ``left_at`` the site's
    ``hearing.closed`` time (None while it takes part).
    """

    __tablename__ = "hearing_sites"
    __table_args__ = (sa.Index("ix_hearing_sites_courtroom_seq", "courtroom", "joined_seq"),)

    hearing_id: Mapped[str] = mapped_column(sa.ForeignKey("hearings.id"), primary_key=True)
    courtroom: Mapped[str] = mapped_column(sa.ForeignKey("courtrooms.id"), primary_key=True)
    joined_seq: Mapped[int] = mapped_column(sa.BigInteger)
    joined_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("courtroom", "seq", name="uq_events_courtroom_seq"),
        sa.Index("ix_events_courtroom_kind_seq", "courtroom", "kind", "seq"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    courtroom: Mapped[str] = mapped_column(sa.ForeignKey("courtrooms.id"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    digest: Mapped[str | None] = mapped_column(sa.String(64), default=None)


class HearingRecordRow(Base):
    """An event the hub adds to a hearing (an incident explained or signed), by a hub user.

    Kept apart from ``events``: those are keyed by the agent's seq, which the
    hub must never take. Rows are only ever inserted.
    """

    __tablename__ = "hearing_records"
    __table_args__ = (sa.Index("ix_hearing_records_hearing_id", "hearing_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    hearing_id: Mapped[str] = mapped_column(sa.ForeignKey("hearings.id"))
    courtroom: Mapped[str] = mapped_column(sa.ForeignKey("courtrooms.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class QuarantineRow(Base):
    """An event kept raw because the archive could not store or apply it."""

    __tablename__ = "quarantine"
    __table_args__ = (sa.Index("ix_quarantine_courtroom_seq", "courtroom", "seq"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    courtroom: Mapped[str] = mapped_column(sa.ForeignKey("courtrooms.id"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    error: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class SegmentRow(Base):
    __tablename__ = "segments"
    __table_args__ = (
        sa.UniqueConstraint("courtroom", "seq", name="uq_segments_courtroom_seq"),
        sa.Index("ix_segments_hearing_start", "hearing_id", "start", "seq"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    hearing_id: Mapped[str] = mapped_column(sa.String(128))
    courtroom: Mapped[str] = mapped_column(sa.ForeignKey("courtrooms.id"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    start: Mapped[float] = mapped_column(sa.Float)
    end: Mapped[float] = mapped_column(sa.Float)
    channel: Mapped[int] = mapped_column(sa.Integer)
    role: Mapped[str] = mapped_column(sa.String(64))
    text: Mapped[str] = mapped_column(sa.Text)
    confidence: Mapped[float] = mapped_column(sa.Float)
    words: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)


class UserRow(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    role: Mapped[str] = mapped_column(sa.String(16), default="clerk")
    courtrooms: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class SessionRow(Base):
    """One login: its token carries ``jti``; logout sets ``revoked_at``."""

    __tablename__ = "sessions"

    jti: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    username: Mapped[str] = mapped_column(
        sa.ForeignKey("users.username", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    client: Mapped[str] = mapped_column(sa.String(64), default="")


class AuditRow(Base):
    """One audit record; rows are only ever inserted (no update, no delete)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_action_id", "action", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    target: Mapped[str] = mapped_column(sa.String(200), default="")
    client: Mapped[str] = mapped_column(sa.String(64), default="")
    status: Mapped[int | None] = mapped_column(sa.Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class AgentTokenRow(Base):
    """The SHA-256 of a courtroom's agent token; ``source`` is config or rotated."""

    __tablename__ = "agent_tokens"

    courtroom: Mapped[str] = mapped_column(sa.ForeignKey("courtrooms.id"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(8))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class SettingRow(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


def as_utc(value: datetime | None) -> datetime | None:
    """Give a datetime read back from the database its UTC zone (SQLite drops it)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def open_engine(url: str) -> sa.Engine:
    """Create the engine for ``url``; a SQLite file's directory is created.

    SQLite connections get WAL journaling (readers do not block the writer),
    a busy timeout and enforced foreign keys.

    Raises:
        ArchiveError: the URL is malformed or its driver is not installed.
    """
    try:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, OSError) as exc:
        raise ArchiveError(f"cannot open archive {_safe(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: sa.Engine) -> None:
    """Bring the schema up to the newest Alembic revision.

    Raises:
        ArchiveError: the database is unreachable or a migration failed; the
            hub must not start on a half-migrated archive.
    """
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except sa.exc.SQLAlchemyError as exc:
        raise ArchiveError(f"cannot migrate archive {_safe(str(engine.url))}: {exc}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _safe(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"
