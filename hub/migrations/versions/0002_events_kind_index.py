"""Index events by (courtroom, kind, seq).

Status reports arrive every second per courtroom, so a courtroom's events are
mostly ``status``; the patrol wall reads the newest alarms of one kind
(``order=desc``), which without this index scans every status row backwards.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_courtroom_kind_seq", "events", ["courtroom", "kind", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_courtroom_kind_seq", table_name="events")
