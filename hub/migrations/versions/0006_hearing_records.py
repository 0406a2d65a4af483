"""Hearing records: events the hub adds to a hearing (incident explanations, sign-offs).

The SPC rule wants an equipment-failure incident explained in writing and
signed off by the presiding judge; the hub records both as ``incident``
bodies of the hearing, by the hub user, here — never in ``events``, whose
(courtroom, seq) belongs to the agent. Append only; nothing to backfill.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hearing_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
        ),
        sa.Column("hearing_id", sa.String(128), sa.ForeignKey("hearings.id"), nullable=False),
        sa.Column("courtroom", sa.String(64), sa.ForeignKey("courtrooms.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hearing_records_hearing_id", "hearing_records", ["hearing_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_hearing_records_hearing_id", table_name="hearing_records")
    op.drop_table("hearing_records")
