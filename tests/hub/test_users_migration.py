"""Revision 0004 on an archive written before users had roles (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from hub.db import _MIGRATIONS, migrate, open_engine
from hub.security import hash_password
from hub.users import Role, UserDirectory


def _upgrade(engine: sa.Engine, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_users_migration_0004_keeps_access_and_drops_the_archived_key(archive_url: str) -> None:
    engine = open_engine(archive_url)
    _upgrade(engine, "0002")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        users = sa.table(
            "users",
            sa.column("username", sa.String),
            sa.column("password_hash", sa.String),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        connection.execute(
            users.insert(),
            [
                {"username": "admin", "password_hash": hash_password("pw"), "created_at": now},
                {"username": "clerk", "password_hash": hash_password("pw"), "created_at": now},
            ],
        )
        settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))
        connection.execute(settings.insert().values(key="token_key", value="ab" * 32))
    migrate(engine)
    directory = UserDirectory(engine)
    by_name = {user.username: user for user in directory.list_users()}
    assert by_name["admin"].role is Role.ADMIN and by_name["admin"].enabled
    assert by_name["clerk"].role is Role.SUPERVISOR and by_name["clerk"].courtrooms == ()
    with engine.connect() as connection:
        keys = connection.execute(sa.text("SELECT key FROM settings")).scalars().all()
    assert "token_key" not in keys
    _downgrade(engine, "0002")
    engine.dispose()


def test_users_migrations_match_the_models(archive_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hub.db import Base

    engine = open_engine(archive_url)
    migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []
