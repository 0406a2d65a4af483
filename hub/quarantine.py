"""Quarantine: events the archive kept aside instead of storing (see :mod:`hub.store`).

An event that decoded (or whose seq and kind did) but cannot be stored or
applied is kept raw in the ``quarantine`` table and stands in the ``events``
table as a :data:`QUARANTINE_KIND` event of its seq, so the watermark moves on
and the agent's spool never stalls. This module holds what describes one:
the row's value object, the errors that lead to it and the text helpers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from hub.db import QuarantineRow, as_utc
from hub.errors import HubError

__all__ = [
    "MAX_QUARANTINE_BODY",
    "QUARANTINE_KIND",
    "Quarantined",
    "SeqConflict",
    "SeqGap",
    "Unstorable",
    "printable",
    "quarantined_of",
    "raw_digest",
    "refusal_reason",
    "refuses_values",
]


QUARANTINE_KIND: Final = "hub.quarantine"
"""Kind of the ``events`` row standing in for a quarantined event's seq.

Its body is :meth:`Quarantined.summary`; ``GET /api/courtrooms/{id}/events?kind=hub.quarantine``
lists them, and the live alarm ``{"type": "alarm", "kind": "hub.quarantine", "seq",
"body": summary}`` carries the same body.
"""
MAX_QUARANTINE_BODY: Final = 512 * 1024
"""Most characters of a quarantined body kept (a frame is at most 256 KiB)."""


def refuses_values(exc: sa.exc.StatementError) -> bool:
    """True for a database error that refuses one event's values (quarantine it).

    DataError and IntegrityError, and a StatementError raised before the
    database was asked (a value the driver cannot bind). Anything else — an
    unreachable or locked database (OperationalError) and the rest — is not
    the event's fault: it propagates, the agent is dropped and resends later.
    """
    if isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError)):
        return True
    return not isinstance(exc, sa.exc.DBAPIError)


class SeqConflict(HubError):
    """An event's seq is already held with a different kind or body.

    Attributes:
        courtroom: the courtroom id.
        seq: the conflicting seq.
    """

    def __init__(self, courtroom: str, seq: int) -> None:
        super().__init__(f"seq {seq} is already stored with a different body")
        self.courtroom = courtroom
        self.seq = seq


class SeqGap(HubError):
    """An event skips ahead of the next seq the courtroom's archive expects.

    An agent sends its events strictly in order from ``acked_seq + 1``, so a
    gap is never legitimate. Storing an early event would let whoever sent it
    take that seq from the genuine event (the watermark would walk over it and
    the agent would never resend the real one), so it is refused unstored.

    Attributes:
        courtroom: the courtroom id.
        seq: the seq received.
        expected: the next seq in order.
    """

    def __init__(self, courtroom: str, seq: int, expected: int) -> None:
        super().__init__(f"event.seq {seq} skips ahead of seq {expected}: events arrive in order")
        self.courtroom = courtroom
        self.seq = seq
        self.expected = expected


class Unstorable(HubError):
    """An event decoded but cannot be applied (say, another courtroom's hearing id)."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One quarantined event (row of the ``quarantine`` table)."""

    id: int
    courtroom: str
    seq: int
    kind: str
    body: str
    error: str
    received_at: datetime

    def summary(self) -> dict[str, Any]:
        """The body of its ``hub.quarantine`` event and live alarm (the raw body is not in it)."""
        return {
            "quarantine_id": self.id,
            "kind": self.kind,
            "error": self.error,
            "message": f"事件 {self.seq} 无法存档，已隔离 / event {self.seq} quarantined: "
            f"{self.error}"[:500],
        }


def quarantined_of(row: QuarantineRow) -> Quarantined:
    """The value object of a ``quarantine`` row (its time given its UTC zone)."""
    return Quarantined(
        id=row.id,
        courtroom=row.courtroom,
        seq=row.seq,
        kind=row.kind,
        body=row.body,
        error=row.error,
        received_at=as_utc(row.received_at) or row.received_at,
    )


def refusal_reason(exc: BaseException) -> str:
    """One line saying why an event was quarantined (the driver's words for a database error)."""
    if isinstance(exc, sa.exc.DBAPIError):
        return f"database refused it: {type(exc.orig).__name__}: {exc.orig}".splitlines()[0]
    return str(exc)


def raw_digest(kind: str, raw: str) -> str:
    """Digest of an event known only as raw body text (it has no canonical form)."""
    return hashlib.sha256(json.dumps([kind, raw], ensure_ascii=False).encode()).hexdigest()


def printable(text: str) -> str:
    """``text`` without NUL, which PostgreSQL text cannot hold (JSON text escapes it anyway)."""
    return text.replace("\x00", "\\u0000")
