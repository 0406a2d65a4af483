"""Hearings hold several sites: the remote sites that joined another courtroom's hearing.

A hearing still belongs to the courtroom that opened it (``hearings.courtroom``);
``hearing_sites`` lists every other courtroom whose agent joined it (a
``hearing.opened`` with ``joined: true``), with the site's seq of that event,
when the hub stored it and when the site left (its own ``hearing.closed``).
Existing hearings have no joined site, so nothing is backfilled.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hearing_sites",
        sa.Column(
            "hearing_id", sa.String(128), sa.ForeignKey("hearings.id"), primary_key=True
        ),
        sa.Column("courtroom", sa.String(64), sa.ForeignKey("courtrooms.id"), primary_key=True),
        sa.Column("joined_seq", sa.BigInteger, nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_hearing_sites_courtroom_seq", "hearing_sites", ["courtroom", "joined_seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_hearing_sites_courtroom_seq", table_name="hearing_sites")
    op.drop_table("hearing_sites")
