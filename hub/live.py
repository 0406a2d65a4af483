"""Fan-out of live messages to browsers (clerk page, patrol wall), and courtroom status.

Each browser websocket owns a :class:`LiveSubscriber` with a bounded queue of
already-encoded JSON text frames. A subscriber is in one of two modes at a
time (a later request switches it, dropping what was queued for the old one):

- a *courtroom subscriber* (the clerk page) receives every live message of
  one courtroom;
- a *patroller* (the patrol wall 庭审巡查) receives, from every courtroom,
  only the :data:`PATROL_TYPES` messages: no transcript traffic.

:meth:`LiveBroadcaster.publish` never waits: it encodes the message once and
offers the frame to every subscriber of that courtroom and, for a patrol
type, to every patroller.

Overflow policy: a subscriber whose queue is full has fallen behind (its
network or tab cannot keep up). It is marked ``overflowed`` and its endpoint
closes the websocket with :data:`CLOSE_TOO_SLOW` and a reason; the page
reconnects and receives a fresh snapshot, so nothing is lost from the
archive's point of view and nobody else is slowed down. Dropping single
messages instead would silently leave gaps in a clerk's transcript. The
snapshot itself is exempt from the bound (it is one frame).

Browser requests (browser → hub), decoded by :func:`decode_request`; any
other frame is a :class:`courtroom_core.wire.WireError`::

    {"type": "subscribe", "courtroom": ID}      one courtroom, everything
    {"type": "patrol"}                          every courtroom, PATROL_TYPES only

Browser messages (hub → browser)::

    {"type": "snapshot", "courtroom", "hearing": {...} | null, "segments": [...],
     "more_before": bool, "status": {...}, "hearing_state": {...},
     "compliance": {...the last compliance message} | null}
    {"type": "patrol-snapshot", "courtrooms": [{"id", "name", "hearing": {...} | null,
                                                "status": {...}, "hearing_state": {...},
                                                "compliance": {...} | null}, ...]}
    {"type": "final",    "courtroom", "hearing_id", "segment": {..., "seq", "site", "site_name"}}
    {"type": "partial",  "courtroom", "hearing_id", "channel", "role", "start", "text"[, "end"]}
    {"type": "hearing",  "courtroom", "hearing": {"id", "courtroom" (its owner), "title",
                         "opened_at", "closed_at", "duration", "sites": [{"courtroom", "name",
                         "joined_at", "left_at"}, ...]}}
    {"type": "hearing_state", "courtroom", "hearing_state": {"state": "idle" | "open" |
                         "recess", "reason": "recess" | "closed-evidence" | "mediation" |
                         null, "hearing_id": ID | null}}
    {"type": "status",   "courtroom", "status": {"online", "last_seen", "report"}}
    {"type": "alarm",    "courtroom", "kind": "av.alarm" | "camera" | "hub.quarantine",
                         "seq", "body": {...}}   # av.alarm, camera: body is a wire.Alarm
    {"type": "thumbnail", "courtroom", "hearing_id", "camera", "time"}
    {"type": "marker",   "courtroom", "hearing_id", "kind": "evidence.presented" |
                         "evidence.withdrawn", "seq", "time", "exhibit", "label", "by"}
    {"type": "compliance", "courtroom", "hearing_id", "final", "session", "lights":
                         {PART: {"status", "label", "summary"}}, "open_incidents",
                         "incidents": [...]}   # 五同步, at most 1/s (hub.compliance_live)

A courtroom subscriber first gets ``snapshot`` (the current hearing, the
last segments of its transcript — at most :data:`hub.live_ws.SNAPSHOT_SEGMENTS`
and about 1 MiB; ``more_before`` is true when older segments exist, which the
page reads from ``GET /api/hearings/{id}/transcript?before_seq=S&limit=N`` — and
the status), then every other message of its courtroom.
A patroller first gets ``patrol-snapshot`` (every configured courtroom, by
id, with its current hearing and status but no transcript), then
``hearing``, ``hearing_state``, ``status``, ``alarm``, ``thumbnail`` and ``compliance``
of every courtroom —
never ``final`` or ``partial``. Past alarms are not in either snapshot:
pages read them from ``GET /api/courtrooms/{id}/events?kind=…&order=desc``.
Both give an alarm (``av.alarm``; ``camera`` only from agents before protocol
2) in the one shape of :class:`courtroom_core.wire.Alarm`, older shapes mapped
by the hub; a ``camera`` event that is no alarm (a gap) is never sent live.
Live messages published while a snapshot is being read may follow it even
though the snapshot already reflects them; applying them again is harmless
(``hearing`` and ``status`` carry whole states, ``alarm`` carries its seq).

Joined sites (see :mod:`hub.store`): a hearing's owner courtroom page sees
every site's lines. The broadcaster keeps a route (site, hearing id) → owner
for each site taking part, learnt from every ``hearing`` message it publishes
(``hearing.sites``, ``left_at`` null while a site takes part) and from each
owner snapshot (:meth:`LiveBroadcaster.learn`). A joined site's ``final`` and
``partial`` of that hearing then also go to the owner's watchers, as::

    {"type": "final",   "courtroom": OWNER, "hearing_id", "site": SITE,
     "segment": {..., "seq", "site": SITE, "site_name"}}
    {"type": "partial", "courtroom": OWNER, "hearing_id", "site": SITE,
     "site_name", "channel", "role", "start", "text"[, "end"]}

and its ``hearing`` message (it joined or left) also goes to them with
``"courtroom": OWNER``. The site's own watchers keep receiving its messages
as before, and nothing of the owner's goes to them: seen from a joined site,
a hearing holds that site's lines only. At most :data:`MAX_ROUTES` routes are
kept; beyond that the oldest is forgotten (its owner page relearns it at its
next snapshot, a reconnect) — a bound no real court comes near.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from courtroom_core.wire import WireError
from hub.hearing_state import HearingStatus

__all__ = [
    "CLOSE_TOO_SLOW",
    "MAX_ROUTES",
    "PATROL_TYPES",
    "CourtroomStatus",
    "LiveBroadcaster",
    "LiveSubscriber",
    "Patrol",
    "StatusBoard",
    "Subscribe",
    "decode_request",
    "dumps",
    "dumps_safe",
]

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW: Final = 4008
"""Close code for a browser that fell ``queue_size`` messages behind."""

PATROL_TYPES: Final = frozenset(
    {"hearing", "hearing_state", "status", "alarm", "thumbnail", "compliance"}
)
"""Message types a patroller receives, from every courtroom."""

MAX_ROUTES: Final = 1024
"""Most (site, hearing) routes a broadcaster keeps (oldest forgotten first)."""
SITE_TYPES: Final = frozenset({"final", "partial"})
"""A joined site's message types that also go to the hearing owner's watchers."""


def dumps(message: dict[str, Any]) -> str:
    """Encode one browser message (compact, UTF-8 Chinese kept readable).

    Raises:
        ValueError: a non-finite number (browsers' ``JSON.parse`` refuses it).
        TypeError: a value JSON cannot encode.
    """
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps_safe(message: dict[str, Any]) -> str | None:
    """:func:`dumps`, or None (logged at ERROR) for a message that cannot be encoded.

    The wire refuses non-finite numbers at decode, so this is defence in
    depth: one bad value must cost one message, never an endpoint.
    """
    try:
        return dumps(message)
    except (ValueError, TypeError, RecursionError) as exc:
        log.error(
            "live %s message for %s dropped, cannot encode: %s",
            message.get("type"),
            message.get("courtroom", "?"),
            exc,
        )
        return None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``{"type": "subscribe", "courtroom": ID}``: watch one courtroom."""

    courtroom: str

    def __post_init__(self) -> None:
        if not isinstance(self.courtroom, str):
            raise WireError("subscribe needs exactly a string 'courtroom'")


@dataclass(frozen=True, slots=True)
class Patrol:
    """``{"type": "patrol"}``: watch every courtroom's patrol messages."""


def decode_request(frame: str | bytes) -> Subscribe | Patrol:
    """Decode one browser → hub frame; nothing but the two documented shapes passes.

    Raises:
        WireError: binary frame, invalid JSON, unknown type, a missing, extra
            or mistyped key. ``str(err)`` is the close reason; the endpoint
            closes with ``CLOSE_INVALID``.
    """
    if isinstance(frame, bytes):
        raise WireError("binary frames are not accepted")
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError) as exc:  # deep nesting: RecursionError
        raise WireError("frame is not valid JSON") from exc
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "subscribe":
        if set(message) != {"type", "courtroom"}:
            raise WireError("subscribe needs exactly a string 'courtroom'")
        return Subscribe(courtroom=message["courtroom"])
    if kind == "patrol":
        if set(message) != {"type"}:
            raise WireError('patrol takes no other key: {"type": "patrol"}')
        return Patrol()
    raise WireError('expected {"type": "subscribe", "courtroom": ID} or {"type": "patrol"}')


class LiveSubscriber:
    """One browser's outgoing frames, bounded.

    Args:
        queue_size: frames buffered before the browser counts as too slow.

    Attributes:
        courtroom: the watched courtroom, None when not a courtroom subscriber.
        patrolling: True while a patroller.
        generation: incremented by every (re)subscription, so an endpoint can
            tell whether the snapshot it just read still belongs.
    """

    def __init__(self, *, queue_size: int) -> None:
        self.courtroom: str | None = None
        self.patrolling = False
        self.generation = 0
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
    """Courtroom id → the browsers watching it, plus the patrollers of all courtrooms."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[LiveSubscriber]] = {}
        self._patrollers: set[LiveSubscriber] = set()
        self._routes: dict[tuple[str, str], tuple[str, str]] = {}
        """(site, hearing id) → (owner courtroom, site display name)."""

    def learn(self, hearing: dict[str, Any] | None) -> None:
        """Route the joined sites of ``hearing`` (a hearing's JSON) to its owner.

        A site with ``left_at`` null takes part (its lines go to the owner's
        watchers too); one that left is forgotten. A malformed hearing is
        ignored: it comes from our own archive.
        """
        if not isinstance(hearing, dict):
            return
        hearing_id, owner = hearing.get("id"), hearing.get("courtroom")
        if not isinstance(hearing_id, str) or not isinstance(owner, str):
            return
        for site in hearing.get("sites") or ():
            courtroom = site.get("courtroom")
            if not isinstance(courtroom, str) or courtroom == owner:
                continue
            key = (courtroom, hearing_id)
            self._routes.pop(key, None)
            if site.get("left_at") is None:
                self._routes[key] = (owner, str(site.get("name") or courtroom))
                while len(self._routes) > MAX_ROUTES:
                    del self._routes[next(iter(self._routes))]

    def route(self, site: str, hearing_id: str) -> str | None:
        """The owner courtroom the site's lines of ``hearing_id`` also go to, if joined."""
        found = self._routes.get((site, hearing_id))
        return None if found is None else found[0]

    def watch(self, subscriber: LiveSubscriber, courtroom: str) -> int:
        """Make ``subscriber`` watch ``courtroom`` only; returns its new generation."""
        self.leave(subscriber)
        subscriber.courtroom = courtroom
        self._watchers.setdefault(courtroom, set()).add(subscriber)
        return subscriber.generation

    def patrol(self, subscriber: LiveSubscriber) -> int:
        """Make ``subscriber`` a patroller of every courtroom; returns its new generation."""
        self.leave(subscriber)
        subscriber.patrolling = True
        self._patrollers.add(subscriber)
        return subscriber.generation

    def leave(self, subscriber: LiveSubscriber) -> None:
        """Unsubscribe ``subscriber`` from everything and drop its queued frames."""
        if subscriber.courtroom is not None:
            watchers = self._watchers.get(subscriber.courtroom, set())
            watchers.discard(subscriber)
            if not watchers:
                self._watchers.pop(subscriber.courtroom, None)
            subscriber.courtroom = None
        self._patrollers.discard(subscriber)
        subscriber.patrolling = False
        subscriber.generation += 1
        subscriber.clear()

    def publish(self, courtroom: str, message: dict[str, Any]) -> int:
        """Offer ``message`` to its courtroom's watchers and, for a patrol type, to
        every patroller; returns to how many subscribers.

        A joined site's ``final``/``partial``/``hearing`` is also offered to
        the hearing owner's watchers (see the module docstring).
        """
        return self._publish(courtroom, message) + self._forward(courtroom, message)

    def _forward(self, courtroom: str, message: dict[str, Any]) -> int:
        """Offer a joined site's message to the hearing owner's watchers too."""
        kind = message.get("type")
        if kind == "hearing":
            hearing = message.get("hearing")
            self.learn(hearing)
            owner = hearing.get("courtroom") if isinstance(hearing, dict) else None
            if not isinstance(owner, str) or owner == courtroom:
                return 0
            return self._offer(owner, {**message, "courtroom": owner})
        if kind not in SITE_TYPES:
            return 0
        found = self._routes.get((courtroom, str(message.get("hearing_id"))))
        if found is None:
            return 0
        owner, name = found
        copy = {**message, "courtroom": owner, "site": courtroom}
        if kind == "partial":
            copy["site_name"] = name
        return self._offer(owner, copy)

    def _offer(self, courtroom: str, message: dict[str, Any]) -> int:
        """Offer ``message`` to ``courtroom``'s watchers only."""
        watchers = self._watchers.get(courtroom)
        if not watchers:
            return 0
        frame = dumps_safe(message)
        if frame is None:
            return 0
        for subscriber in watchers:
            subscriber.offer(frame)
        return len(watchers)

    def _publish(self, courtroom: str, message: dict[str, Any]) -> int:
        watchers = self._watchers.get(courtroom, set())
        patrollers = self._patrollers if message.get("type") in PATROL_TYPES else set()
        if not watchers and not patrollers:
            return 0
        frame = dumps_safe(message)
        if frame is None:
            return 0
        for subscriber in [*watchers, *patrollers]:
            subscriber.offer(frame)
        return len(watchers) + len(patrollers)

    def watcher_count(self, courtroom: str) -> int:
        return len(self._watchers.get(courtroom, ()))

    def patroller_count(self) -> int:
        return len(self._patrollers)


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
    """In-memory status and hearing state per courtroom, plus the one live agent
    connection of each.

    The connection handle is opaque here (the endpoint's
    :class:`hub.commands.AgentLink`); the board only remembers which one is
    current so a newer agent can replace an older one and a command finds it.
    """

    def __init__(self) -> None:
        self._status: dict[str, CourtroomStatus] = {}
        self._agents: dict[str, object] = {}
        self._hearing: dict[str, HearingStatus] = {}

    def get(self, courtroom: str) -> CourtroomStatus:
        return self._status.get(courtroom, CourtroomStatus())

    def hearing(self, courtroom: str) -> HearingStatus:
        """The courtroom's hearing state as last reported (idle when never)."""
        return self._hearing.get(courtroom, HearingStatus())

    def set_hearing(self, courtroom: str, hearing: HearingStatus) -> bool:
        """Record the courtroom's hearing state; True when it changed."""
        if self._hearing.get(courtroom, HearingStatus()) == hearing:
            self._hearing[courtroom] = hearing
            return False
        self._hearing[courtroom] = hearing
        return True

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

    def agent(self, courtroom: str) -> object | None:
        """The courtroom's current agent connection, if any."""
        return self._agents.get(courtroom)

    def is_current(self, courtroom: str, connection: object) -> bool:
        return self._agents.get(courtroom) is connection
