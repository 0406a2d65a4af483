"""五同步: the hearing's events drive the equipment, the display pages and the ledger.

:class:`FiveSync` watches every event the agent publishes and

* fires the rules (:mod:`courtroom_agent.rules`) on the hearing's transitions,
  on ``speaker.changed`` and on devices going offline or online;
* feeds the courtroom display pages (笔录同步输出展示) with the hearing state
  and every final, and puts their reports into the ledger;
* presents and withdraws exhibits (证据同步展示质证): the event, the rules that
  route the matrix and switch the displays, the display pages, and the
  evidence-display log of which screens confirmed;
* follows the speaker (视频同步摄录播放) from the microphone levels;
* records which sources record (``source.state``: each seat's FLAC, each
  camera; the hardware recorders are the engine's) and, every
  :data:`UPLOAD_EVERY` seconds of an open hearing, how far the hub is behind
  (数据同步载入服务器, ``upload.report``);
* appends every event of a hearing to its local ledger file, so
  ``courtroom hearing report`` works with the hub unreachable.

None of it can stop the recording: every callback here returns at once and
a failure is logged and alarmed, never raised into the agent's capture loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol, Self

from courtroom_agent.rules import ActionResult, RuleEngine
from courtroom_agent.sync_config import SyncConfig
from courtroom_core import wire_bodies as wire
from courtroom_core.errors import CourtroomError

__all__ = ["UPLOAD_EVERY", "EvidenceError", "FiveSync"]

logger = logging.getLogger(__name__)

UPLOAD_EVERY: Final = 5.0
"""Seconds between ``upload.report`` entries while a hearing is open."""
_RECENT_SEQS: Final = 4096
"""Published events remembered for the upload lag (older ones count as the oldest)."""
_HEARING_KINDS: Final = frozenset(
    {"hearing.opened", "hearing.recessed", "hearing.resumed", "hearing.closed"}
)
_NOT_LEDGER: Final = frozenset({"status"})
_DISPLAYED: Final = _HEARING_KINDS | {"transcript.final"}
"""What the courtroom display pages are told."""


class EvidenceError(CourtroomError, ValueError):
    """An exhibit cannot be presented or withdrawn; the message says why (zh · en)."""


class Display(Protocol):
    """The courtroom display pages (``courtroom_agent.display.DisplayServer``)."""

    def publish(self, kind: str, body: Mapping[str, Any]) -> None: ...

    def present(self, exhibit: Any) -> None: ...

    def update_exhibit(self, *, page: int | None = None, zoom: float | None = None) -> None: ...

    def withdraw(self, exhibit_id: str) -> None: ...


def display_id(exhibit: str) -> str:
    """The display pages' id of an exhibit number (证据1 → ``ex-…``: ASCII only there)."""
    if exhibit.isascii() and exhibit.replace("-", "").replace("_", "").replace(".", "").isalnum():
        return exhibit[:64]
    return "ex-" + hashlib.sha256(exhibit.encode()).hexdigest()[:16]


class Follower(Protocol):
    """Decides when the speaker changed (``courtroom_agent.speaker_follow``)."""

    def observe(self, report: Any) -> Sequence[Any]: ...

    def reset(self) -> None: ...


class LinkState(Protocol):
    @property
    def acked_seq(self) -> int: ...
    @property
    def connected(self) -> bool: ...


class FiveSync:
    """The five synchronisations around one agent; see the module docstring.

    Args:
        sync: which device plays which part (None: no rules of its own).
        engine: the rule engine (entered by the caller).
        publish: the agent's publish (events go to the hub, the ledger and back here).
        hearing_time, hearing_id: the agent's hearing clock and open hearing.
        screens: screen names by device, to name the screens in the evidence log.
        display: the display pages (optional).
        ledger: appends (hearing_id, kind, body) to the local ledger (optional).
        link: the hub link (acked seq, connected) for the upload lag.
    """

    def __init__(
        self,
        *,
        sync: SyncConfig | None,
        engine: RuleEngine,
        publish: Callable[[str, dict[str, Any]], Any],
        hearing_time: Callable[[], float],
        hearing_id: Callable[[], str | None],
        state: Callable[[], str],
        roles: Callable[[int], str],
        display: Display | None = None,
        ledger: Callable[[str, str, Mapping[str, Any]], None] | None = None,
        link: LinkState | None = None,
        follower: Follower | None = None,
        marker: Callable[..., Awaitable[bool]] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sync = sync
        self.engine = engine
        self._publish = publish
        self._hearing_time = hearing_time
        self._hearing_id = hearing_id
        self._state = state
        self._roles = roles
        self._display = display
        self._ledger = ledger
        self._link = link
        self._follower = follower
        self._marker = marker
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._seqs: collections.deque[tuple[int, float]] = collections.deque(maxlen=_RECENT_SEQS)
        self._presented: dict[str, tuple[wire.EvidencePresented, tuple[wire.ScreenShown, ...]]] = {}
        self._seats: list[int] = []
        self._cameras: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._evidence_lock = asyncio.Lock()
        self._views_seen: set[str] = set()
        self._exhibit_names: dict[str, str] = {}
        """Display exhibit id → the court's exhibit number (证据1)."""

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._uploads(), name="five-sync uploads")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def configure_sources(self, *, seats: Sequence[int], cameras: Sequence[str]) -> None:
        """The seats (microphone channels) and cameras a hearing records."""
        self._seats = list(seats)
        self._cameras = list(cameras)

    # -- the agent's events --------------------------------------------------

    def observe(self, kind: str, body: dict[str, Any], seq: int | None = None) -> None:
        """Every event the agent published (already spooled); never raises."""
        try:
            self._observe(kind, body, seq)
        except Exception:
            logger.exception("five-sync: %s", kind)

    def _observe(self, kind: str, body: dict[str, Any], seq: int | None) -> None:
        if seq is not None:
            self._seqs.append((seq, self._monotonic()))
        hearing_id = body.get("hearing_id")
        if self._ledger is not None and hearing_id and kind not in _NOT_LEDGER:
            self._ledger(str(hearing_id), kind, body)
        if self._display is not None and kind in _DISPLAYED:
            try:
                self._display.publish(kind, body)
            except CourtroomError as exc:
                logger.warning("display pages refused %s: %s", kind, exc)
        if kind in _HEARING_KINDS:
            self._hearing(kind, body)
            self.engine.fire(kind, body)
            if kind in ("hearing.recessed", "hearing.closed") and self._presented:
                # Nothing stays on the screens through a recess (closed-evidence
                # included) or after 闭庭; the routing goes back as it was.
                task = asyncio.get_running_loop().create_task(self.withdraw_all("agent"))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        elif kind == "speaker.changed":
            self.engine.fire(kind, body)
        elif kind == "device":
            self._device(body)
        elif kind == "av.alarm":
            self._alarm(body)

    def _hearing(self, kind: str, body: Mapping[str, Any]) -> None:
        recording = kind in ("hearing.opened", "hearing.resumed") and body.get("state") != "recess"
        reason = body.get("reason") if kind == "hearing.recessed" else None
        if kind == "hearing.closed":
            reason = "closed"
        if kind == "hearing.opened" and body.get("state") == "recess":
            return  # a restarted agent continuing in recess: nothing records
        if self._follower is not None and not recording:
            self._follower.reset()
        # Stamped with the transition's own hearing time: the seats' FLAC stops
        # and starts exactly there (the recorder cuts its segment at that frame).
        at = body.get("duration") if kind == "hearing.closed" else body.get("time")
        if kind == "hearing.opened":
            at = body.get("resumed_from", 0.0)
        for source in [f"seat:{c}" for c in self._seats] + [f"camera:{c}" for c in self._cameras]:
            self._source(source, recording, reason=None if recording else reason, at=at)

    def _source(
        self,
        source: str,
        recording: bool,
        *,
        reason: Any = None,
        message: str = "",
        at: Any = None,
    ) -> None:
        when = self._when()
        if isinstance(at, (int, float)) and 0 <= at <= when["time"] + 1.0:
            when["time"] = round(float(at), 3)
        self._publish(
            "source.state",
            wire.SourceState(
                source=source,
                recording=recording,
                reason=None if reason is None else str(reason)[: wire.MAX_NAME],
                message=message[: wire.MAX_TITLE],
                **when,
            ).to_json(),
        )

    def _device(self, body: Mapping[str, Any]) -> None:
        if body.get("direction") != "state":
            return
        meaning = str(body.get("meaning", ""))
        trigger = {"online": "device.online", "offline": "device.offline"}.get(
            meaning.split()[0] if meaning else ""
        )
        if trigger is not None:
            self.engine.fire(trigger, {"device": body.get("device")} | self._ids())

    def _alarm(self, body: Mapping[str, Any]) -> None:
        """A seat's recorder or a camera failing (or recovering) is a gap in its source."""
        if self._state() != "open":
            return
        source, kind, active = body.get("source"), body.get("kind"), body.get("active")
        message = str(body.get("message", ""))
        if source == "recorder" and kind == "writer_failed":
            for channel in self._seats:
                self._source(f"seat:{channel}", not active, message=message)
        elif source == "camera" and kind in ("offline", "no_frames", "recording_stalled"):
            camera = body.get("subject")
            if camera in self._cameras:
                self._source(f"camera:{camera}", not active, message=message)

    def levels(self, report: Any) -> None:
        """A microphone level report of an open hearing: the camera follows the speaker."""
        if self._follower is None or self._state() != "open":
            return
        try:
            for change in self._follower.observe(report):
                body = wire.SpeakerChanged(
                    channel=change.channel,
                    role=self._roles(change.channel)[: wire.MAX_NAME] or "-",
                    held_s=round(change.held_s, 3),
                    previous=change.previous,
                    **self._when(),
                ).to_json()
                self._publish("speaker.changed", body)
        except Exception:
            logger.exception("five-sync: speaker follow")

    def display_report(self, report: Any) -> None:
        """A display page server report into the ledger (``display.report``).

        Only for the courtroom's screens (``[sync].screens``) and views a page
        has shown: a view nobody put on a screen is not a screen gone dark.
        """
        try:
            screens = {s.name for s in self._sync.screens} if self._sync else set()
            unseen = report.view not in screens and report.view not in self._views_seen
            if unseen and report.pages == 0:
                return
            if report.pages:
                self._views_seen.add(report.view)
            exhibit = getattr(report.exhibit, "id", None)
            fields = {
                "screen": report.view,
                "pages": report.pages,
                "shown": report.finals_shown,
                "latency_p50_ms": report.latency_p50_ms,
                "latency_p95_ms": report.latency_p95_ms,
                "latency_max_ms": report.latency_max_ms,
                "exhibit": None if exhibit is None else self._exhibit_names.get(exhibit, exhibit),
                "state": None if report.state is None else str(report.state)[: wire.MAX_NAME],
            }
            body = wire.DisplayReport(
                **{k: v for k, v in fields.items() if v is not None}, **self._when()
            ).to_json()
            self._publish("display.report", body)
        except Exception:
            logger.exception("five-sync: display report")

    # -- evidence --------------------------------------------------------------

    async def command(
        self, order: wire.EvidenceOrder, *, source: str, command_id: str | None = None
    ) -> dict[str, Any]:
        """Carry out an ``evidence`` order (hub command or control socket).

        Returns:
            ``{"outcome": done|refused|failed, "message", "log"?}``; the order
            and its outcome are archived as a ``command`` event.
        """
        command_id = command_id or secrets.token_hex(8)
        log: wire.EvidenceLog | None = None
        try:
            log = await self.evidence(order)
            failed = [s for s in log.screens if s.outcome not in ("confirmed", "unconfirmable")]
            outcome = "failed" if failed else "done"
            message = (
                "；".join(f"{s.screen}: {s.message or s.outcome}" for s in failed)[: wire.MAX_TITLE]
                if failed
                else ""
            )
        except EvidenceError as exc:
            outcome, message = "refused", str(exc)[: wire.MAX_TITLE]
        report = wire.CommandReport(
            id=command_id,
            action=order.action,
            by=order.by,
            source=source,
            outcome=outcome,
            at=self._wall_clock().isoformat(),
            state=self._state(),
            hearing_id=self._hearing_id() or None,
            message=message,
        )
        self._publish("command", report.to_json())
        answer: dict[str, Any] = {"id": command_id, "outcome": outcome, "message": message}
        if log is not None:
            answer["log"] = log.to_json()
        return answer

    async def evidence(self, order: wire.EvidenceOrder) -> wire.EvidenceLog:
        """Present or withdraw an exhibit; the evidence-display log entry.

        Raises:
            EvidenceError: no hearing open, an unknown exhibit to withdraw, a
                live exhibit without a matrix input, or nothing to show it on.
        """
        if self._state() != "open":
            raise EvidenceError(
                "庭审未进行，不能举证 · no hearing in session to present evidence in"
            )
        async with self._evidence_lock:
            # order.action was checked against EVIDENCE_ACTIONS when the order was made
            return await _EVIDENCE_ACTIONS[order.action](self, order)

    async def _present(self, order: wire.EvidenceOrder) -> wire.EvidenceLog:
        sync = self._sync
        source = "live" if order.input is not None and order.file is None else "file"
        matrix_input = order.input if source == "live" else (sync.evidence_input if sync else None)
        if order.exhibit in self._presented:
            await self._withdraw(
                wire.EvidenceOrder(action="withdraw", exhibit=order.exhibit, by=order.by)
            )
        event = wire.EvidencePresented(
            exhibit=order.exhibit,
            label=order.label or order.exhibit,
            source=source,
            by=order.by,
            input=matrix_input,
            file=order.file,
            page=order.page,
            zoom=order.zoom,
            **self._when(),
        )
        body = event.to_json()
        self._publish("evidence.presented", body)
        await self._mark("evidence.presented", event.time, event.label, event.by, event.exhibit)
        results = await self.engine.fire_and_wait(
            "evidence.presented", body | ({"input": matrix_input} if matrix_input else {})
        )
        screens = self._screens(results)
        self._presented[order.exhibit] = (event, screens)
        self._show(event)
        log = wire.EvidenceLog(
            exhibit=event.exhibit,
            label=event.label,
            source=source,
            since=event.time,
            screens=screens,
            input=matrix_input,
            **self._when(),
        )
        self._publish("evidence.log", log.to_json())
        return log

    def _shown(self, exhibit: str) -> tuple[wire.EvidencePresented, tuple[wire.ScreenShown, ...]]:
        """The exhibit on the screens and where it is shown.

        Raises:
            EvidenceError: it is not being shown (the message lists what is).
        """
        presented = self._presented.get(exhibit)
        if presented is None:
            shown = ", ".join(sorted(self._presented)) or "无 · none"
            raise EvidenceError(
                f"exhibit: {exhibit!r} 未在展示 · is not being shown (shown: {shown})"
            )
        return presented

    async def _turn(self, order: wire.EvidenceOrder) -> wire.EvidenceLog:
        """翻页: the presenter's page or zoom, followed by every display page."""
        event, screens = self._shown(order.exhibit)
        if self._display is not None:
            try:
                self._display.update_exhibit(page=order.page, zoom=order.zoom)
            except CourtroomError as exc:
                raise EvidenceError(f"page: {exc}") from exc
        event = dataclasses.replace(
            event, page=order.page or event.page, zoom=order.zoom or event.zoom
        )
        self._presented[order.exhibit] = (event, screens)
        return wire.EvidenceLog(
            exhibit=event.exhibit,
            label=event.label,
            source=event.source,
            since=event.time,
            screens=screens,
            input=event.input,
            **self._when(),
        )

    async def _withdraw(self, order: wire.EvidenceOrder) -> wire.EvidenceLog:
        event, screens = self._shown(order.exhibit)
        del self._presented[order.exhibit]
        body = wire.EvidenceWithdrawn(exhibit=order.exhibit, by=order.by, **self._when()).to_json()
        self._publish("evidence.withdrawn", body)
        await self._mark("evidence.withdrawn", body["time"], event.label, order.by, order.exhibit)
        if self._display is not None:
            self._display.withdraw(display_id(order.exhibit))
        await self.engine.fire_and_wait("evidence.withdrawn", body)
        log = wire.EvidenceLog(
            exhibit=event.exhibit,
            label=event.label,
            source=event.source,
            since=event.time,
            until=round(self._hearing_time(), 3),
            screens=screens,
            input=event.input,
            **self._when(),
        )
        self._publish("evidence.log", log.to_json())
        return log

    async def _mark(self, kind: str, at: float, label: str, by: str, ref: str) -> None:
        """The marker in the recording manifest (the record shows when it was shown)."""
        if self._marker is not None:
            await self._marker(kind=kind, at=at, label=label[:500], by=by[:200], ref=ref[:200])

    def _show(self, event: wire.EvidencePresented) -> None:
        """The exhibit on the display pages (a live one as a panel: the matrix shows it)."""
        if self._display is None:
            return
        exhibit_id = display_id(event.exhibit)
        self._exhibit_names[exhibit_id] = event.exhibit
        label = f"{event.exhibit} · {event.label}" if event.label != event.exhibit else event.label
        try:
            self._display.present(self._display_exhibit(exhibit_id, label[: wire.MAX_TITLE], event))
        except CourtroomError as exc:
            logger.warning("exhibit %s not shown on the display pages: %s", event.exhibit, exc)

    def _display_exhibit(self, exhibit_id: str, label: str, event: wire.EvidencePresented) -> Any:
        from courtroom_agent.display import Exhibit, ExhibitKind

        if event.source == "live":
            return Exhibit(
                id=exhibit_id, label=label, kind=ExhibitKind.LIVE, source=event.input or "live"
            )
        path = event.file or ""
        kind = ExhibitKind.PDF if path.lower().endswith(".pdf") else ExhibitKind.IMAGE
        return Exhibit(
            id=exhibit_id,
            label=label,
            kind=kind,
            path=path,
            page=event.page or 1,
            zoom=event.zoom or 1.0,
        )

    async def withdraw_all(self, by: str) -> None:
        """Take every exhibit off the screens (休庭 and 闭庭: nothing stays shown)."""
        async with self._evidence_lock:
            for exhibit in list(self._presented):
                await self._withdraw(wire.EvidenceOrder(action="withdraw", exhibit=exhibit, by=by))

    def _screens(self, results: Sequence[ActionResult]) -> tuple[wire.ScreenShown, ...]:
        """One entry per screen: confirmed only if every action for it was."""
        by_device: dict[str, str] = {}
        by_output: dict[str, str] = {}
        for screen in self._sync.screens if self._sync else []:
            if screen.display:
                by_device[screen.display] = screen.name
            if screen.output:
                by_output[screen.output] = screen.name
        shown: dict[str, wire.ScreenShown] = {}
        for result in results:
            action = result.action
            if action.verb == "tie" and len(action.args) >= 2:
                name = by_output.get(action.args[1], f"output {action.args[1]}")
            else:
                name = by_device.get(action.device, action.device)
            ok = result.outcome in ("confirmed", "unconfirmable")
            before = shown.get(name)
            ms = result.confirm_ms
            if before is not None and before.ms is not None and ms is not None:
                ms = max(ms, before.ms)
            if before is None or (before.outcome in ("confirmed", "unconfirmable") and not ok):
                outcome, message = result.outcome, result.message
            else:
                outcome, message = before.outcome, before.message
            shown[name] = wire.ScreenShown(
                screen=name[: wire.MAX_NAME],
                outcome=outcome,
                device=action.device,
                ms=None if ms is None else round(ms, 1),
                message=message[: wire.MAX_TITLE],
            )
        return tuple(shown.values())[: wire.MAX_SCREENS]

    # -- 数据同步 ----------------------------------------------------------------

    async def _uploads(self) -> None:
        while True:
            await asyncio.sleep(UPLOAD_EVERY)
            if self._link is None or self._state() == "idle":
                continue
            self.upload_report()

    def upload_report(self) -> None:
        """Publish ``upload.report``: events the hub has not acknowledged, and the oldest's age."""
        if self._link is None:
            return
        acked = self._link.acked_seq
        while self._seqs and self._seqs[0][0] <= acked:
            self._seqs.popleft()
        lag = self._monotonic() - self._seqs[0][1] if self._seqs else 0.0
        unacked = len(self._seqs)
        self._publish(
            "upload.report",
            wire.UploadReport(
                unacked=unacked,
                lag_s=round(max(0.0, lag), 3),
                connected=self._link.connected,
                **self._when(),
            ).to_json(),
        )

    def _ids(self) -> dict[str, Any]:
        hearing_id = self._hearing_id()
        return {"hearing_id": hearing_id} if hearing_id else {}

    def _when(self) -> dict[str, Any]:
        return {
            "time": round(max(0.0, self._hearing_time()), 3),
            "at": self._wall_clock().isoformat(timespec="milliseconds"),
        } | self._ids()


_EVIDENCE_ACTIONS: Final[
    Mapping[str, Callable[[FiveSync, wire.EvidenceOrder], Awaitable[wire.EvidenceLog]]]
] = {
    "present": FiveSync._present,
    "page": FiveSync._turn,
    "withdraw": FiveSync._withdraw,
}
"""举证 / 翻页 / 撤回: each evidence action (``wire.EVIDENCE_ACTIONS``) and what carries it out."""
