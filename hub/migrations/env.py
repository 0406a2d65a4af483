"""Alembic environment for the hub archive.

The hub runs migrations in code (:func:`hub.db.migrate`) and hands over an
open connection in ``config.attributes["connection"]``. For the ``alembic``
command line, ``sqlalchemy.url`` in the Alembic config is used instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from hub.db import Base

target_metadata = Base.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
