"""Event digests (repeat detection) and the quarantine of events the archive refused.

``events.digest`` is the sha256 of an event's canonical kind and body
(:func:`courtroom_core.wire.digest`): a resend of a stored seq with another digest is a
conflict, not a duplicate. Rows written before this revision have none and are
treated as matching. ``quarantine`` keeps, raw, every event that decoded (or
whose seq and kind did) but could not be stored or applied.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("digest", sa.String(64), nullable=True))
    op.create_table(
        "quarantine",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("courtroom", sa.String(64), sa.ForeignKey("courtrooms.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_quarantine_courtroom_seq", "quarantine", ["courtroom", "seq"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_courtroom_seq", table_name="quarantine")
    op.drop_table("quarantine")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("digest")
