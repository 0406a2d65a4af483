"""The five lights live: each courtroom's current hearing folded as its events arrive.

:class:`ComplianceBoard` keeps, per courtroom, a
:class:`courtroom_core.compliance.ComplianceLedger` of its current hearing and
adds each stored ledger event to it (O(1)); a ``hearing.opened`` of another
hearing starts a new one. After a change it publishes, at most once per
``interval`` seconds per courtroom (a change within the interval is sent
when it ends: the newest state, never a backlog)::

    {"type": "compliance", "courtroom", "hearing_id", "final", "session": {...},
     "lights": {PART: {"status", "label", "summary"}}, "open_incidents",
     "incidents": [{"id", "kind", "part", "source", "message", "time", "state",
                    "explanation", "explained_by", "signed_by"}, ... at most 20 unsigned]}

to the courtroom's pages and the patrol wall. Computing a report costs
O(what the hearing holds), a few ms for a long hearing; with the throttle a
courtroom costs at most that once a second, whatever its event rate.

A hub that restarts during a hearing has no fold for it: the first event
of a courtroom the board holds nothing for (not a ``hearing.opened``) loads
the hearing's ledger from the archive (``loader``) and folds it in; repeats
are counted once by the fold, so events arriving meanwhile do no harm.

Bounds: one fold per configured courtroom (the hub refuses other agents),
each bounded by the fold's own limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from courtroom_core.compliance import LEDGER_KINDS, ComplianceLedger

__all__ = ["ComplianceBoard", "compliance_message"]

log = logging.getLogger(__name__)

MAX_LISTED: Final = 20
"""Most unsigned incidents a live message lists."""

Loader = Callable[[str], Awaitable[list[tuple[str, dict[str, Any]]] | None]]
Schedule = Callable[[float, Callable[[], None]], object]


def compliance_message(courtroom: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """The live ``compliance`` message of a report: lights and unsigned incidents, no figures."""
    keep = ("id", "kind", "part", "source", "message", "time", "state", "explanation",
            "explained_by", "signed_by")  # fmt: skip
    incidents = [{k: i[k] for k in keep} for i in report["incidents"] if i["state"] != "signed"][
        :MAX_LISTED
    ]
    return {
        "type": "compliance",
        "courtroom": courtroom,
        "hearing_id": report["hearing_id"],
        "final": report["final"],
        "session": report["session"],
        "lights": {
            part: {k: light[k] for k in ("status", "label", "summary")}
            for part, light in report["lights"].items()
        },
        "open_incidents": report["open_incidents"],
        "incidents": incidents,
    }


class ComplianceBoard:
    """Courtroom → its current hearing's fold and the last ``compliance`` message.

    Args:
        publish: sends a live message to a courtroom's pages (and patrollers).
        loader: reads a hearing's ledger events from the archive (None: unknown).
        interval: least seconds between two messages of one courtroom.
        clock: monotonic seconds.
        schedule: runs a callback after a delay (default: the running loop's
            ``call_later``); tests pass their own.
    """

    def __init__(
        self,
        publish: Callable[[str, dict[str, Any]], object],
        *,
        loader: Loader | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        schedule: Schedule | None = None,
    ) -> None:
        self._publish = publish
        self._loader = loader
        self._interval = interval
        self._clock = clock
        self._schedule = schedule
        self._ledgers: dict[str, ComplianceLedger] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._sent_at: dict[str, float] = {}
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def latest(self, courtroom: str) -> dict[str, Any] | None:
        """The courtroom's last ``compliance`` message (for page snapshots), or None."""
        return self._latest.get(courtroom)

    def add(self, courtroom: str, kind: str, body: Mapping[str, Any]) -> None:
        """Fold one stored event of ``courtroom``; publish (throttled) when it changed a thing."""
        if kind not in LEDGER_KINDS or not isinstance(body, Mapping):
            return
        hearing_id = body.get("hearing_id")
        ledger = self._ledgers.get(courtroom)
        fresh = ledger is None or (kind == "hearing.opened" and ledger.hearing_id != hearing_id)
        if fresh:
            # A new hearing begins; an event of another one (a late resend, the
            # paperwork of a past hearing) is left to that fold's own check.
            if not isinstance(hearing_id, str):
                return
            ledger = self._ledgers[courtroom] = ComplianceLedger(hearing_id)
            if kind != "hearing.opened" and self._loader is not None:
                self._load(courtroom, hearing_id)
        assert ledger is not None
        if ledger.add(kind, body):
            self.changed(courtroom)

    def add_all(self, courtroom: str, hearing_id: str, events: list[tuple[str, Any]]) -> None:
        """Fold a hearing's earlier events (from the archive) into its current fold."""
        ledger = self._ledgers.get(courtroom)
        if ledger is None or ledger.hearing_id != hearing_id:
            return  # another hearing began meanwhile
        for kind, body in events:
            ledger.add(kind, body)
        self.changed(courtroom)

    def _load(self, courtroom: str, hearing_id: str) -> None:
        loader = self._loader
        assert loader is not None

        async def load() -> None:
            try:
                events = await loader(hearing_id)
            except Exception:  # a task boundary: the live lights wait for the next event
                log.exception(
                    "courtroom %s: cannot load hearing %s's ledger", courtroom, hearing_id
                )
                return
            if events is not None:
                self.add_all(courtroom, hearing_id, events)

        task = asyncio.get_running_loop().create_task(load(), name=f"compliance-load {courtroom}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def changed(self, courtroom: str) -> None:
        """Publish the courtroom's lights now, or when its interval ends."""
        if courtroom in self._pending:
            return
        wait = self._sent_at.get(courtroom, -1e18) + self._interval - self._clock()
        if wait <= 0:
            self._send(courtroom)
            return
        self._pending.add(courtroom)
        schedule = self._schedule or asyncio.get_running_loop().call_later
        schedule(wait, lambda: self._send(courtroom))

    def _send(self, courtroom: str) -> None:
        self._pending.discard(courtroom)
        ledger = self._ledgers.get(courtroom)
        if ledger is None:
            return
        self._sent_at[courtroom] = self._clock()
        message = compliance_message(courtroom, ledger.report())
        self._latest[courtroom] = message
        self._publish(courtroom, message)
