"""The audit queue's overflow policy and the role table, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.audit import Action, AuditLog, AuditQueue, AuditRecord
from hub.db import migrate, open_engine
from hub.store import Archive, ArchiveRunner
from hub.users import ROLE_RIGHTS, Principal, Role

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


async def test_audit_queue_overflow_is_counted_and_written_as_one_record(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    runner = ArchiveRunner(Archive(engine))
    audit = AuditLog(engine)
    queue = AuditQueue(audit, runner, size=3)
    try:
        for n in range(10):
            queue.record(AuditRecord(at=NOW, action=Action.ACCESS_REFUSED, target=f"r{n}"))
        assert queue.dropped == 7
        await queue.flush(None)
        rows = audit.read(limit=100)
    finally:
        runner.close()
    assert [row["action"] for row in rows] == ["audit.dropped"] + ["access.refused"] * 3
    assert rows[0]["detail"] == {"count": 7} and queue.dropped == 0
    assert [row["target"] for row in rows[1:]] == ["r2", "r1", "r0"]


def test_audit_record_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        AuditRecord(at=datetime(2026, 1, 1), action=Action.LOGOUT)


@pytest.mark.parametrize(
    ("role", "sees_own", "sees_other", "patrol", "admin"),
    [
        (Role.CLERK, True, False, False, False),
        (Role.JUDGE, True, False, False, False),
        (Role.SUPERVISOR, True, True, True, False),
        (Role.ADMIN, True, True, True, True),
    ],
)
def test_role_rights_table(
    role: Role, sees_own: bool, sees_other: bool, patrol: bool, admin: bool
) -> None:
    user = Principal(
        username="u", role=role, courtrooms=frozenset({"own"}), jti="j", expires_at=NOW
    )
    assert (user.sees("own"), user.sees("other")) == (sees_own, sees_other)
    assert (ROLE_RIGHTS[role].patrol, ROLE_RIGHTS[role].admin) == (patrol, admin)
