"""Initial archive: courtrooms, hearings, events, segments, users, settings.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "courtrooms",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("acked_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "hearings",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("courtroom", sa.String(64), sa.ForeignKey("courtrooms.id"), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("opened_seq", sa.BigInteger, nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Float, nullable=True),
    )
    op.create_index("ix_hearings_courtroom", "hearings", ["courtroom"])
    op.create_table(
        "events",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("courtroom", sa.String(64), sa.ForeignKey("courtrooms.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("courtroom", "seq", name="uq_events_courtroom_seq"),
    )
    op.create_table(
        "segments",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("hearing_id", sa.String(128), nullable=False),
        sa.Column("courtroom", sa.String(64), sa.ForeignKey("courtrooms.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("channel", sa.Integer, nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("words", sa.JSON, nullable=False),
        sa.UniqueConstraint("courtroom", "seq", name="uq_segments_courtroom_seq"),
    )
    op.create_index("ix_segments_hearing_start", "segments", ["hearing_id", "start", "seq"])
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("settings", "users", "segments", "events", "hearings", "courtrooms"):
        op.drop_table(table)
