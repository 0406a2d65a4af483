"""Users get roles, courtrooms and an enabled flag; sessions, audit log, agent tokens.

Existing users other than ``admin`` become ``supervisor`` (read-only, every
courtroom): before roles existed every user could read every courtroom, so
nobody loses access and nobody gains any write right. ``admin`` becomes
``admin``. The old token signing key in ``settings`` is deleted: the key now
lives outside the archive (``token.key`` in the data dir or
``auth.token_secret_env``), and tokens issued before this revision carry no
session id, so they stop working and users log in once more.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("role", sa.String(16), nullable=False, server_default="supervisor")
        )
        batch.add_column(sa.Column("courtrooms", sa.JSON, nullable=True))
        batch.add_column(
            sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    users = sa.table(
        "users",
        sa.column("username", sa.String),
        sa.column("role", sa.String),
        sa.column("courtrooms", sa.JSON),
    )
    op.execute(users.update().values(courtrooms=[]))
    op.execute(users.update().where(users.c.username == "admin").values(role="admin"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("courtrooms", existing_type=sa.JSON, nullable=False)
        batch.alter_column("role", existing_type=sa.String(16), server_default=None)
        batch.alter_column("enabled", existing_type=sa.Boolean, server_default=None)
    settings = sa.table("settings", sa.column("key", sa.String))
    op.execute(settings.delete().where(settings.c.key == "token_key"))
    op.create_table(
        "sessions",
        sa.Column("jti", sa.String(32), primary_key=True),
        sa.Column(
            "username",
            sa.String(64),
            sa.ForeignKey("users.username", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client", sa.String(64), nullable=False),
    )
    op.create_index("ix_sessions_username", "sessions", ["username"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])
    op.create_table(
        "agent_tokens",
        sa.Column("courtroom", sa.String(64), sa.ForeignKey("courtrooms.id"), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("agent_tokens", "audit_log", "sessions"):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        for column in ("updated_at", "enabled", "courtrooms", "role"):
            batch.drop_column(column)
