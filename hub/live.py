"""Fan-out of live transcript messages to clerks' browsers, and courtroom status.

Each browser websocket owns a :class:`LiveSubscriber` with a bounded queue of
already-encoded JSON text frames. :meth:`LiveBroadcaster.publish` never
waits: it offers the frame to every subscriber of the courtroom.

Overflow policy: a subscriber whose queue is full has fallen behind (its
network or tab cannot keep up). It is marked ``overflowed`` and its endpoint
closes the websocket with :data:`CLOSE_TOO_SLOW` and a reason; the page
reconnects and receives a fresh snapshot, so nothing is lost from the
archive's point of view and nobody else is slowed down. Dropping single
messages instead would silently leave gaps in a clerk's transcript.

Browser messages (hub → browser)::

    {"type": "snapshot", "courtroom", "hearing": {...} | null, "segments": [...], "status": {...}}
    {"type": "final",    "courtroom", "hearing_id", "segment": {..., "seq"}}
    {"type": "partial",  "courtroom", "hearing_id", "channel", "role", "start", "text"[, "end"]}
    {"type": "hearing",  "courtroom", "hearing": {...}}
    {"type": "status",   "courtroom", "status": {"online", "last_seen", "report"}}
    {"type": "alarm",    "courtroom", "kind": "av.alarm" | "camera", "seq", "body": {...}}
    {"type": "thumbnail", "courtroom", "hearing_id", "camera", "time"}
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

__all__ = [
    "CLOSE_TOO_SLOW",
    "CourtroomStatus",
    "LiveBroadcaster",
    "LiveSubscriber",
    "StatusBoard",
    "dumps",
]

CLOSE_TOO_SLOW: Final = 4008
"""Close code for a browser that fell ``queue_size`` messages behind."""


def dumps(message: dict[str, Any]) -> str:
    """Encode one browser message (compact, UTF-8 Chinese kept readable)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class LiveSubscriber:
    """One browser's outgoing frames, bounded.

    Args:
        queue_size: frames buffered before the browser counts as too slow.
    """

    def __init__(self, *, queue_size: int) -> None:
        self.courtroom: str | None = None
        self.overflowed = asyncio.Event()
        self._limit = queue_size
        self._frames: deque[str] = deque()
        self._ready = asyncio.Event()

    def offer(self, frame: str) -> None:
        """Queue ``frame``; on a full queue mark the subscriber overflowed instead."""
        if self.overflowed.is_set():
            return
        if len(self._frames) >= self._limit:
            self.overflowed.set()
            return
        self._frames.append(frame)
        self._ready.set()

    def offer_first(self, frame: str) -> None:
        """Put ``frame`` (a snapshot) ahead of everything queued; exempt from the bound."""
        self._frames.appendleft(frame)
        self._ready.set()

    def clear(self) -> None:
        self._frames.clear()

    def pending(self) -> int:
        return len(self._frames)

    async def next_frame(self) -> str:
        """Wait for and return the oldest queued frame."""
        while not self._frames:
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()


class LiveBroadcaster:
    """Courtroom id → the browsers watching it."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[LiveSubscriber]] = {}

    def watch(self, subscriber: LiveSubscriber, courtroom: str) -> None:
        """Move ``subscriber`` to ``courtroom`` (a browser watches one at a time)."""
        self.leave(subscriber)
        subscriber.clear()
        subscriber.courtroom = courtroom
        self._watchers.setdefault(courtroom, set()).add(subscriber)

    def leave(self, subscriber: LiveSubscriber) -> None:
        if subscriber.courtroom is not None:
            watchers = self._watchers.get(subscriber.courtroom, set())
            watchers.discard(subscriber)
            if not watchers:
                self._watchers.pop(subscriber.courtroom, None)
            subscriber.courtroom = None

    def publish(self, courtroom: str, message: dict[str, Any]) -> int:
        """Offer ``message`` to every watcher of ``courtroom``; returns how many."""
        watchers = self._watchers.get(courtroom)
        if not watchers:
            return 0
        frame = dumps(message)
        for subscriber in list(watchers):
            subscriber.offer(frame)
        return len(watchers)

    def watcher_count(self, courtroom: str) -> int:
        return len(self._watchers.get(courtroom, ()))


@dataclass(frozen=True, slots=True)
class CourtroomStatus:
    """What the hub knows about a courtroom's agent right now (not archived)."""

    online: bool = False
    last_seen: datetime | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "last_seen": None if self.last_seen is None else self.last_seen.isoformat(),
            "report": self.report,
        }


class StatusBoard:
    """In-memory status per courtroom, plus the one live agent connection of each.

    The connection handle is opaque here (the endpoint's websocket); the
    board only remembers which one is current so a newer agent can replace
    an older one.
    """

    def __init__(self) -> None:
        self._status: dict[str, CourtroomStatus] = {}
        self._agents: dict[str, object] = {}

    def get(self, courtroom: str) -> CourtroomStatus:
        return self._status.get(courtroom, CourtroomStatus())

    def update(
        self,
        courtroom: str,
        *,
        now: datetime,
        online: bool | None = None,
        report: dict[str, Any] | None = None,
    ) -> CourtroomStatus:
        old = self.get(courtroom)
        new = CourtroomStatus(
            online=old.online if online is None else online,
            last_seen=now,
            report=old.report if report is None else report,
        )
        self._status[courtroom] = new
        return new

    def attach(self, courtroom: str, connection: object) -> object | None:
        """Make ``connection`` the courtroom's agent; returns the one it replaces."""
        previous = self._agents.get(courtroom)
        self._agents[courtroom] = connection
        return previous

    def detach(self, courtroom: str, connection: object) -> bool:
        """Forget ``connection`` if it is still current; True when it was."""
        if self._agents.get(courtroom) is connection:
            del self._agents[courtroom]
            return True
        return False

    def is_current(self, courtroom: str, connection: object) -> bool:
        return self._agents.get(courtroom) is connection
