"""The courtroom agent: a courtroom's day, and the hearings the court holds in it.

``CourtroomAgent.run()`` opens the audio source once and runs until the source
ends or the task is cancelled. Between hearings the courtroom is **idle**: the
microphones are metered (the patrol wall sees their levels) and nothing is
recorded or transcribed. The court drives the hearings through
:meth:`CourtroomAgent.order` — from the courtroom PC (``courtroom hearing``,
over the local control socket) or from the hub (a ``hearing`` command) — along
the table of :mod:`courtroom_core.hearing`:

* **open** (开庭): a hearing with its case (案号, 案由, the parties and the seat
  each speaks from); the lossless recording and the live transcript start;
* **recess** with a reason code (休庭, 不公开举证质证, 调解): recording,
  transcription and live output stop; the recording's manifest holds the
  interruption with its reason, who ordered it and when;
* **resume** (继续开庭), **close** (闭庭).

Every order and its outcome is archived as a ``command`` event; every
transition as a ``hearing.*`` event with who ordered it, the UTC time and the
hearing-clock time.

The hearing clock counts from 开庭 (hearing second 0), on the capture clock:
the hearing frame of a captured block is its source frame minus the source
frame at which the hearing started in this process, plus the hearing frame
there (0 for a new hearing, the time since 开庭 for a continued one).

The hearing is remembered (``open-hearing.json``) from 开庭 to 闭庭, with the
recess under way: an agent killed in a hearing continues it when restarted,
in recess if it was killed in one.

The legal recording depends on nothing else: the transcription worker never
makes the recording wait (see :mod:`transcription.worker`), and a failing hub
link, camera or device only raises alarms.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from av.alarms import MicrophoneWatch, WatchConfig
from av.audio import AudioBlock, AudioSource, AudioSourceError, CaptureClock
from av.camera import Thumbnail
from av.levels import LevelMeter
from av.multi_source import MultiSource
from av.recording import AudioRecorder
from courtroom_agent.alarms import AgentAlarm, agent_alarm
from courtroom_agent.config import CameraConfig, RecordingConfig
from courtroom_agent.hearing_cameras import HearingCameras
from courtroom_agent.hearing_recording import HearingRecording
from courtroom_agent.idle_cameras import IdleCameras
from courtroom_agent.link import HubLink
from courtroom_agent.open_hearing import OpenHearing, forget_open_hearing, take_over
from courtroom_core import wire
from courtroom_core.errors import CourtroomError
from courtroom_core.hearing import (
    HearingAction,
    HearingState,
    InterruptionReason,
    TransitionRefused,
    next_state,
)
from transcription.engine import TranscriptionEngine
from transcription.gate import GateConfig
from transcription.model import LoadedModel
from transcription.segments import Final, Partial
from transcription.worker import TranscriptionWorker

__all__ = ["AgentNotReadyError", "CourtroomAgent", "new_hearing_id"]

logger = logging.getLogger(__name__)

STATUS_NAMES: Mapping[HearingState, str] = {
    HearingState.IDLE: "idle",
    HearingState.OPEN: "recording",
    HearingState.RECESS: "recess",
}
"""The ``state`` of the agent's status report in each hearing state."""

TRANSCRIPTION_STALL_SECONDS = 1.5
"""A recogniser call running longer than this is taken as hung: alarmed and
replaced (detected within 2 s, see :class:`transcription.worker.TranscriptionWorker`)."""

SOURCE_OPEN_WAIT = 5.0
"""How long an order that arrives while the agent starts waits for the microphones."""

CLOSE_FLUSH_SECONDS = 10.0
"""At 闭庭, how long the transcript's last utterances may take to come out of
the recogniser before the hearing is closed without them (logged); a source
faster than real time (a file) adds the hearing's audio length, since its
blocks wait for the recogniser and up to a minute of them may still be queued."""


def new_hearing_id(courtroom: str, now: datetime | None = None) -> str:
    """A hearing id unique across restarts: ``<courtroom>-<UTC time>-<random>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{courtroom}-{stamp}-{secrets.token_hex(3)}"


class AgentNotReadyError(CourtroomError):
    """An order arrived before the audio source opened (or after it ended)."""


@dataclass(slots=True)
class _Span:
    """The live transcript of one stretch of a hearing: 开庭/继续开庭 to 休庭/闭庭."""

    worker: TranscriptionWorker
    deliver: asyncio.Task[None]


@dataclass(slots=True)
class _Hearing:
    """The hearing open in this process."""

    record: OpenHearing
    roles: list[str]
    """Role of each channel in this hearing (the case's seating over the room's)."""
    case: wire.Case | None
    origin: int
    """Hearing frame of source frame ``source_start``."""
    source_start: int
    state: HearingState = HearingState.OPEN
    reason: InterruptionReason | None = None
    recording: HearingRecording | None = None
    span: _Span | None = None
    finishing: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def hearing_id(self) -> str:
        return self.record.hearing_id

    def on_hearing_clock(self, block: AudioBlock) -> AudioBlock:
        """``block`` renumbered so that hearing frame = origin + its start_frame."""
        return dataclasses.replace(block, start_frame=block.start_frame - self.source_start)


class CourtroomAgent:
    """One courtroom's agent for the day: idle, and the hearings the court holds.

    Args:
        courtroom: courtroom id.
        source: the audio source; its channels are the microphones.
        roles: role of each channel, in channel order (a hearing's case may
            seat other parties on some channels).
        model: the shared loaded Vosk model.
        link: connection to the hub (already entered).
        title: the title of a hearing opened without a case title.
        gate: speech gate tuning.
        status_interval: seconds between status reports.
        extra_status: more fields for each status report (device states).
        watch: microphone alarm thresholds (dead mic, clipping, all silent).
        recordings: root of the lossless recording archive
            (``<root>/<courtroom>/<hearing>/``); None records nothing.
        monotonic: the monotonic clock the hearing clock runs on between blocks.
        cameras: cameras recorded beside the audio (needs ``recordings``).
        courtroom_name: the courtroom's name, burned into the video with the time.
        overlay_font: font for that name (default: a CJK font found on the system).
        open_hearing: where the open hearing is remembered (see
            :mod:`courtroom_agent.open_hearing`); a hearing found there that
            the agent did not close is continued under its id, in recess if it
            was left in one.
        resume_within: seconds after which a hearing left open is not
            continued but closed as interrupted.
        recording: the recording's disk headroom thresholds.
        open_at_start: open a hearing (titled ``title``) as soon as the audio
            source opens, and close it when the source ends or the run is
            cancelled — unattended recording, as before hearing control.
        engine_factory: builds a recogniser (``TranscriptionEngine``'s
            arguments); a test injects one that fails.
        faster_than_real_time: the source is a file read as fast as it goes:
            the feed waits for the recogniser (nothing is lost by waiting for a
            file). A live source never waits: a recogniser that falls 60 s
            behind loses transcript, never the record.
    """

    def __init__(
        self,
        *,
        courtroom: str,
        source: AudioSource,
        roles: list[str],
        model: LoadedModel,
        link: HubLink,
        title: str = "",
        gate: GateConfig | None = None,
        status_interval: float = 30.0,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        extra_status: Callable[[], dict[str, Any]] | None = None,
        watch: WatchConfig | None = None,
        recordings: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        cameras: list[CameraConfig] | None = None,
        courtroom_name: str | None = None,
        overlay_font: Path | None = None,
        open_hearing: Path | None = None,
        resume_within: float = 4 * 3600.0,
        recording: RecordingConfig | None = None,
        open_at_start: bool = True,
        engine_factory: Callable[..., TranscriptionEngine] = TranscriptionEngine,
        faster_than_real_time: bool = False,
    ) -> None:
        self._courtroom = courtroom
        self._source = source
        self._roles = roles
        self._model = model
        self._link = link
        self._title = title
        self._gate = gate
        self._status_interval = status_interval
        self._wall_clock = wall_clock
        self._extra_status = extra_status
        self._watch = MicrophoneWatch(config=watch or WatchConfig())
        self._recordings = recordings
        self._cameras = cameras or []
        self._courtroom_name = courtroom_name
        self._overlay_font = overlay_font
        self._open_hearing = open_hearing
        self._resume_within = resume_within
        self._recording_config = recording
        self._monotonic = monotonic
        self._open_at_start = open_at_start
        self._engine_factory = engine_factory
        self._idle_cameras = IdleCameras(
            self._cameras,
            clock=lambda: self._clock.now() if self._clock is not None else 0.0,
            publish=self._publish,
            send_thumbnail=lambda thumbnail: self._send_thumbnail(thumbnail, hearing_id=None),
        )
        self._wait_for_recogniser = faster_than_real_time
        self._clock: CaptureClock | None = None
        self._frames = 0
        """Source frames captured so far (the end frame of the last block)."""
        self._hearing: _Hearing | None = None
        self._lock = asyncio.Lock()
        self._source_open = asyncio.Event()
        self._ended = False
        self._last_duration = 0.0
        self.hearing_id = ""
        """The hearing open now, else the last one ("" before the first)."""
        self.finals = 0
        self.resumed = False
        self.recording: HearingRecording | None = None
        """The recording of the hearing open now, else of the last one."""
        self.on_state: Callable[[dict[str, Any]], None] | None = None
        """Told the hearing state (as :meth:`hearing_state`) after every transition."""
        self.observers: list[Callable[[str, dict[str, Any], int | None], None]] = []
        """Told every event published (kind, body, spool seq), once it is spooled;
        they must return at once and never raise (the five-sync engine)."""
        self.display_url: str | None = None
        """Where the courtroom display pages are served (set by the runner)."""
        self.on_levels: Callable[[Any], None] | None = None
        """Told each microphone level report while a hearing is open (speaker follow)."""

    # -- what the outside reads -------------------------------------------

    @property
    def state(self) -> HearingState:
        hearing = self._hearing
        return HearingState.IDLE if hearing is None else hearing.state

    @property
    def in_hearing(self) -> bool:
        """Whether a hearing is open (between 开庭 and 闭庭, recess included)."""
        return self._hearing is not None

    @property
    def hearing_time(self) -> float:
        """Hearing-clock seconds now (0 when idle).

        The last captured block's end frame gives the time exactly when it was
        captured; since then the clock runs on monotonic time. Device events
        and camera frames are stamped with this, so they line up with the
        audio however far behind recognition is.
        """
        hearing, clock = self._hearing, self._clock
        if hearing is None or clock is None:
            return 0.0
        return clock.now() + (hearing.origin - hearing.source_start) / clock.rate

    @property
    def captured_time(self) -> float:
        """Hearing-clock seconds of audio captured so far (exact, frame-counted);
        after 闭庭, the hearing's length."""
        hearing, clock = self._hearing, self._clock
        if hearing is None or clock is None:
            return self._last_duration
        return (hearing.origin + self._frames - hearing.source_start) / clock.rate

    @property
    def recorder(self) -> AudioRecorder | None:
        """The hearing's audio recorder (None when idle or without recording)."""
        return self.recording.recorder if self.recording is not None else None

    @property
    def cameras(self) -> HearingCameras | None:
        return self.recording.cameras if self.recording is not None else None

    def hearing_state(self) -> dict[str, Any]:
        """``{"state", "reason"?, "hearing_id"?, "time"?, "title"?, "case"?}`` for
        results and status; ``time`` is the hearing clock (seconds captured)."""
        hearing = self._hearing
        body: dict[str, Any] = {"state": self.state.value}
        if hearing is not None:
            body["hearing_id"] = hearing.hearing_id
            body["time"] = round(self.captured_time, 3)
            body["title"] = hearing.record.title
            if hearing.reason is not None:
                body["reason"] = hearing.reason.value
            if hearing.case is not None:
                body["case"] = hearing.case.to_json()
        return body

    def status(self) -> dict[str, Any]:
        """Health of this agent for the hub's patrol view."""
        hearing = self._hearing
        body: dict[str, Any] = {
            "state": STATUS_NAMES[self.state],
            "hearing_state": self.hearing_state(),
            "finals": self.finals,
            "unsent_events": self._link.pending,
        }
        if hearing is not None:
            body["hearing_id"] = hearing.hearing_id
            body["hearing_time"] = round(self.captured_time, 3)
        if hearing is not None and hearing.span is not None:
            stats = hearing.span.worker.stats
            body |= {
                "lag": round(stats.lag, 3),
                "max_lag": round(stats.max_lag, 3),
                "behind": stats.behind,
                "gap_frames": stats.gap_frames,
                "dropped_frames": stats.dropped_frames,
                "lost_frames": stats.lost_frames,
                "restarts": stats.restarts,
                "failing": stats.failing,
                "error": stats.error,
            }
        body["microphones"] = self._watch.status()
        if isinstance(self._source, MultiSource):
            # Several capture devices: how they keep in step (skew, drift corrections).
            with contextlib.suppress(AudioSourceError):
                body["audio_devices"] = self._source.stats.as_status()
        if hearing is not None and self.recorder is not None:
            body["recording"] = self.recorder.state().to_json()
        if self._extra_status is not None:
            body |= self._extra_status()
        return body

    # -- the day -----------------------------------------------------------

    async def run(self) -> None:
        """Meter, and record and transcribe the hearings, until the source ends
        or the task is cancelled.

        A hearing open when the source ends, or when the run is cancelled, is
        closed (``hearing.closed``). When the run fails (the recorder or the
        audio source), the open hearing is reported closed as ``interrupted``
        with the error and stays remembered, so the restarted agent continues it.

        Raises:
            AudioSourceError: the source cannot be opened or failed.
            RecordingError: the recording failed (disk full …).
        """
        async with self._source:
            fmt = self._source.format
            if fmt.channels != len(self._roles):
                raise ValueError(
                    f"the audio source has {fmt.channels} channels but "
                    f"{len(self._roles)} roles are configured"
                )
            self._clock = CaptureClock(fmt.rate, monotonic=self._monotonic)
            self._source_open.set()
            failure: Exception | None = None
            try:
                await self._continue_left_open()
                if self._hearing is None and self._open_at_start:
                    order = wire.HearingOrder(action="open", by="agent")
                    result = await self.order(order, source="local")
                    if result.outcome != "done":
                        raise AgentNotReadyError(f"cannot open the hearing: {result.message}")
                if self._hearing is None:
                    await self._idle_cameras.start()
                async with asyncio.TaskGroup() as tasks:
                    # The feed first: the first status report carries levels.
                    feed = tasks.create_task(self._feed(), name="agent-feed")
                    status = tasks.create_task(self._report(), name="agent-status")
                    await feed
                    status.cancel()
            except Exception as exc:
                failure = exc
                if self._hearing is not None:
                    self._publish_interruption(active=True, error=exc)
                raise
            finally:
                self._ended = True
                await self._idle_cameras.stop()
                async with self._lock:
                    if self._hearing is not None:
                        await self._end_hearing(failure=failure, ordered_by="agent")

    async def _continue_left_open(self) -> None:
        """Continue the hearing this agent left open (in recess if it was), or
        close a stale one as interrupted."""
        if self._open_hearing is None:
            return
        now = self._wall_clock()
        # take_over() remembers ``new`` when nothing may be continued: forget it then.
        new = OpenHearing(new_hearing_id(self._courtroom, now), now, "", tuple(self._roles))
        hearing, abandoned = take_over(
            self._open_hearing, new, now=now, resume_within=self._resume_within
        )
        if abandoned is not None:
            body = {"hearing_id": abandoned.hearing_id, "closed_at": now.isoformat()}
            self._publish("hearing.closed", body | {"interrupted": True})
        if hearing is new:
            forget_open_hearing(self._open_hearing)
            return
        async with self._lock:
            await self._start_hearing(hearing, continued=True, ordered_by="agent")

    # -- orders --------------------------------------------------------------

    async def order(
        self, order: wire.HearingOrder, *, source: str, command_id: str | None = None
    ) -> wire.Result:
        """Carry out the court's order; archive it and its outcome (a ``command`` event).

        Args:
            order: the action, who ordered it, and its reason / case / join.
            source: ``hub`` (a hub user) or ``local`` (the courtroom PC).
            command_id: the hub command's id (a new one for a local order).

        Returns:
            ``done`` with the new state; ``refused`` (the state does not allow
            it, the message names both); ``failed`` (the recorder or a device
            said no; the message has its error).
        """
        command_id = command_id or secrets.token_hex(8)
        if self._clock is None and not self._ended:
            # Starting (the microphones are opening): the order waits a moment.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._source_open.wait(), SOURCE_OPEN_WAIT)
        action = HearingAction(order.action)
        reason = None if order.reason is None else InterruptionReason(order.reason)
        async with self._lock:
            try:
                if self._clock is None or self._ended:
                    raise AgentNotReadyError("the audio source is not open 音频未就绪")
                next_state(self.state, action, reason)
                await _ACTIONS[action](self, order)
                outcome, message = "done", ""
            except TransitionRefused as exc:
                outcome, message = "refused", str(exc)
            except (CourtroomError, OSError) as exc:
                logger.error("%s %s failed: %s", action.value, self.hearing_id, exc)
                outcome, message = "failed", f"{type(exc).__name__}: {exc}"[:500]
            state = self.hearing_state()
        report = wire.CommandReport(
            id=command_id,
            action=action.value,
            by=order.by,
            source=source,
            outcome=outcome,
            at=self._wall_clock().isoformat(),
            state=state["state"],
            hearing_id=self.hearing_id or None,
            reason=order.reason,
            message=message,
        )
        self._publish("command", report.to_json())
        if outcome == "done" and self.on_state is not None:
            self.on_state(state)
        return wire.Result(id=command_id, outcome=outcome, message=message, state=state)

    async def _open(self, order: wire.HearingOrder) -> None:
        now = self._wall_clock()
        case, join = order.case, order.join
        if join is not None:
            record = OpenHearing(
                join.hearing_id,
                datetime.fromisoformat(join.opened_at),
                case.title if case is not None and case.title else self._title,
                tuple(self._roles),
                case=None if case is None else case.to_json(),
                joined=True,
            )
        else:
            record = OpenHearing(
                new_hearing_id(self._courtroom, now),
                now,
                case.title if case is not None and case.title else self._title,
                tuple(self._roles),
                case=None if case is None else case.to_json(),
            )
        self._remember(record)
        await self._start_hearing(record, continued=False, ordered_by=order.by)

    async def _recess(self, order: wire.HearingOrder) -> None:
        hearing = self._current()
        assert order.reason is not None  # next_state() checked it
        reason = InterruptionReason(order.reason)
        at = self.captured_time
        now = self._wall_clock()
        self._stop_span(hearing)
        if hearing.recording is not None:
            await hearing.recording.interrupt(
                reason=reason.value, ordered_by=order.by, at=at, utc=now
            )
        hearing.state, hearing.reason = HearingState.RECESS, reason
        self._watch.close_session()
        self._remember(dataclasses.replace(hearing.record, recess=reason.value))
        self._publish(
            "hearing.recessed",
            wire.HearingRecessed(
                hearing_id=hearing.hearing_id,
                reason=reason.value,
                time=round(at, 3),
                at=now.isoformat(),
                ordered_by=order.by,
            ).to_json(),
        )

    async def _resume(self, order: wire.HearingOrder) -> None:
        hearing = self._current()
        reason = hearing.reason
        assert reason is not None
        at = self.captured_time
        now = self._wall_clock()
        if hearing.recording is not None:
            await hearing.recording.resume(at=at, ordered_by=order.by, utc=now)
        hearing.state, hearing.reason = HearingState.OPEN, None
        self._remember(dataclasses.replace(hearing.record, recess=None))
        await self._start_span(hearing, at)
        self._watch.open_session()
        self._publish(
            "hearing.resumed",
            wire.HearingResumed(
                hearing_id=hearing.hearing_id,
                reason=reason.value,
                time=round(at, 3),
                at=now.isoformat(),
                ordered_by=order.by,
            ).to_json(),
        )

    async def _close(self, order: wire.HearingOrder) -> None:
        await self._end_hearing(failure=None, ordered_by=order.by)

    # -- a hearing's start and end ------------------------------------------

    async def _start_hearing(
        self, record: OpenHearing, *, continued: bool, ordered_by: str
    ) -> None:
        """Start recording and transcribing ``record`` (a new, joined or continued hearing)."""
        await self._idle_cameras.stop()  # the hearing's cameras take the devices
        clock = self._clock
        assert clock is not None
        rate = clock.rate
        now = self._wall_clock()
        case = None if record.case is None else wire.Case.from_json(record.case, "case")
        roles = [
            case.role_of(i, role) if case is not None else role
            for i, role in enumerate(self._roles)
        ]
        # Hearing frame at this moment: since 开庭 for a hearing under way.
        elapsed = (now - record.opened_at).total_seconds() if continued or record.joined else 0.0
        origin = max(round(elapsed * rate), 0)
        recess = None
        if record.recess is not None:
            try:
                recess = InterruptionReason(record.recess)
            except ValueError:
                logger.error(
                    "hearing %s: unknown recess %r; resumed", record.hearing_id, record.recess
                )
        hearing = _Hearing(record=record, roles=roles, case=case, origin=origin,
                           source_start=self._frames)  # fmt: skip
        if self._recordings is not None:
            recording = HearingRecording(
                root=self._recordings,
                courtroom=self._courtroom,
                hearing_id=record.hearing_id,
                sample_rate=rate,
                roles=roles,
                cameras=self._cameras,
                title=self._courtroom_name,
                font=self._overlay_font,
                publish=self._publish,
                send_thumbnail=self._send_thumbnail,
                recording=self._recording_config,
            )
            await recording.open()
            hearing.origin = origin = max(origin, recording.resume_frame)
            await recording.start(
                origin_frame=origin,
                epoch=record.opened_at,
                hearing_clock=lambda: self.hearing_time,
            )
            hearing.recording = self.recording = recording
            if recess is None and recording.interrupted is not None:
                # The manifest knows of a recess the open-hearing record missed.
                recess = InterruptionReason(recording.interrupted.reason)
        self._hearing = hearing
        self.hearing_id = record.hearing_id
        self.resumed = continued
        self._announce(record, case, now, continued=continued, ordered_by=ordered_by, recess=recess)
        if recess is not None:
            hearing.state, hearing.reason = HearingState.RECESS, recess
            return
        await self._start_span(hearing, origin / rate)
        self._watch.open_session()

    async def _end_hearing(self, *, failure: Exception | None, ordered_by: str) -> None:
        """闭庭 — or, after a failure, the end of this run of the hearing.

        A failed run (recorder or audio source error) is reported closed as
        ``interrupted`` with the error, and stays remembered: the restarted
        agent continues the hearing, and the hub reopens it.
        """
        hearing = self._current()
        duration = self.captured_time
        self._stop_span(hearing)
        self._watch.close_session()
        try:
            if hearing.finishing:
                # A source faster than real time (a file) waits for the recogniser,
                # so up to its whole backlog is still queued: allow the audio's length.
                flush = CLOSE_FLUSH_SECONDS + (duration if self._wait_for_recogniser else 0.0)
                done, _ = await asyncio.wait(hearing.finishing, timeout=flush)
                if len(done) < len(hearing.finishing):
                    logger.error(
                        "hearing %s: the last utterances still in the recogniser after %.0f s",
                        hearing.hearing_id,
                        flush,
                    )
            if hearing.recording is not None:
                try:
                    await hearing.recording.close(end=duration)
                except Exception as exc:
                    # The recorder failed although the run itself ended
                    # normally (e.g. stopped right after the disk filled).
                    if failure is None:
                        failure = exc
                        self._publish_interruption(active=True, error=exc)
                    raise
                finally:
                    self._publish_recorder_alarms(hearing.recording)
        finally:
            self._hearing = None
            self._last_duration = duration
            if self._open_hearing is not None and failure is None:
                forget_open_hearing(self._open_hearing)
            self._publish("status", self.status() | {"state": "closed"})
            body: dict[str, Any] = {
                "hearing_id": hearing.hearing_id,
                "closed_at": self._wall_clock().isoformat(),
                "duration": round(duration, 3),
                "ordered_by": ordered_by,
            }
            if failure is not None:
                body |= {"interrupted": True, "error": str(failure)[:500]}
            self._publish("hearing.closed", body)
            if not self._ended:
                await self._idle_cameras.start()

    def _announce(
        self,
        record: OpenHearing,
        case: wire.Case | None,
        now: datetime,
        *,
        continued: bool,
        ordered_by: str,
        recess: InterruptionReason | None,
    ) -> None:
        hearing = self._current()
        body: dict[str, Any] = {
            "hearing_id": record.hearing_id,
            "title": record.title,
            "opened_at": record.opened_at.isoformat(),
            "roles": hearing.roles,
            "ordered_by": ordered_by,
        }
        if case is not None:
            body["case"] = case.to_json()
        if record.joined:
            body["joined"] = True
        if continued:
            body |= {"resumed_at": now.isoformat(), "resumed_from": round(self.captured_time, 3)}
        if recess is not None:
            body |= {"state": HearingState.RECESS.value, "reason": recess.value}
        self._publish("hearing.opened", body)
        if continued:
            self._publish_interruption(active=False, error=None)

    def _current(self) -> _Hearing:
        hearing = self._hearing
        assert hearing is not None, "no hearing is open"  # next_state() said one is
        return hearing

    def _remember(self, record: OpenHearing) -> None:
        hearing = self._hearing
        if hearing is not None:
            hearing.record = record
        if self._open_hearing is None:
            return
        try:
            record.save(self._open_hearing)
        except OSError as exc:
            logger.error("%s: cannot remember the hearing (%s); a crash would lose its state",
                         self._open_hearing, exc)  # fmt: skip

    # -- the live transcript ---------------------------------------------------

    async def _start_span(self, hearing: _Hearing, at: float) -> None:
        clock = self._clock
        assert clock is not None
        hearing_id = hearing.hearing_id

        def make(offset: float) -> TranscriptionEngine:
            return self._engine_factory(
                self._model,
                input_rate=clock.rate,
                roles=hearing.roles,
                gate=self._gate,
                hearing_offset=offset,
            )

        worker = TranscriptionWorker(
            make(at),
            engine_factory=make,
            on_failure=lambda error, _restarts: self._transcription_alarm(
                hearing_id, active=True, error=error
            ),
            on_recovered=lambda: self._transcription_alarm(hearing_id, active=False),
            stall_timeout=TRANSCRIPTION_STALL_SECONDS,
        )
        await worker.__aenter__()
        deliver = asyncio.create_task(
            self._deliver(worker, hearing_id), name=f"deliver-{hearing_id}"
        )
        hearing.span = _Span(worker=worker, deliver=deliver)

    def _stop_span(self, hearing: _Hearing) -> None:
        """No more audio for this stretch: its last utterances come out in the background."""
        span, hearing.span = hearing.span, None
        if span is None:
            return
        task = asyncio.create_task(_finish_span(span), name=f"finish-{hearing.hearing_id}")
        hearing.finishing.add(task)
        task.add_done_callback(hearing.finishing.discard)

    async def _deliver(self, worker: TranscriptionWorker, hearing_id: str) -> None:
        async for result in worker.results():
            if isinstance(result, Final):
                self.finals += 1
                self._publish(
                    "transcript.final",
                    {"hearing_id": hearing_id, "segment": result.to_json()},
                )
            elif isinstance(result, Partial):
                self._link.send_partial(
                    wire.Partial(
                        hearing_id=hearing_id,
                        channel=result.channel,
                        role=result.role,
                        start=round(result.start, 3),
                        text=result.text,
                        end=round(result.end, 3),
                    )
                )

    # -- capture ---------------------------------------------------------------

    async def _feed(self) -> None:
        fmt = self._source.format
        meter = LevelMeter(rate=fmt.rate, roles=self._roles)
        clock = self._clock
        assert clock is not None
        async for block in self._source.blocks():
            # Under the lock: an order sees every block counted taken too,
            # so a hearing starts and stops exactly between two blocks.
            async with self._lock:
                clock.advance(block)
                self._frames = block.end_frame
                hearing = self._hearing
                if hearing is not None and hearing.state is HearingState.OPEN:
                    await self._take(hearing, hearing.on_hearing_clock(block))
            shift = 0.0 if hearing is None else (hearing.origin - hearing.source_start) / fmt.rate
            for report in meter.feed(block):
                if self.on_levels is not None and hearing is not None:
                    self.on_levels(report)
                for alarm in self._watch.observe(report):
                    if hearing is None:
                        continue  # idle: levels only, no session, no alarm
                    on_clock = dataclasses.replace(alarm, hearing_time=alarm.hearing_time + shift)
                    self._publish("av.alarm", on_clock.to_alarm(hearing.hearing_id).to_json())

    async def _take(self, hearing: _Hearing, block: AudioBlock) -> None:
        """One captured block of an open hearing: the record first, it is the law's."""
        if hearing.recording is not None:
            try:
                await hearing.recording.put(block)
            finally:
                # A failed write raises: its writer_failed alarm must still go out.
                self._publish_recorder_alarms(hearing.recording)
        if hearing.span is None:
            return
        if self._wait_for_recogniser:
            await hearing.span.worker.put(block)
        else:
            # Never waits: a recogniser behind or broken loses transcript, not record.
            hearing.span.worker.put_nowait(block)

    # -- out -------------------------------------------------------------------

    def _send_thumbnail(self, thumbnail: Thumbnail, *, hearing_id: str | None = "") -> None:
        """A camera's picture to the patrol wall: the hearing's, or (None) an idle one."""
        self._link.send_thumbnail(
            wire.Thumbnail(
                hearing_id=self.hearing_id if hearing_id == "" else hearing_id,
                camera=thumbnail.camera,
                time=round(thumbnail.hearing_time, 3),
                jpeg=base64.b64encode(thumbnail.jpeg).decode("ascii"),
            )
        )

    def _publish_recorder_alarms(self, recording: HearingRecording) -> None:
        for alarm in recording.recorder.take_alarms():
            self._publish("av.alarm", alarm.to_json())

    def _publish_interruption(self, *, active: bool, error: Exception | None) -> None:
        """Raise (the run failed) or clear (a restarted agent continues) the
        ``hearing_interrupted`` alarm, so the patrol wall shows a courtroom
        whose hearing is not being recorded until it is again."""
        alarm = agent_alarm(
            AgentAlarm.HEARING_INTERRUPTED,
            active=active,
            hearing_id=self.hearing_id or None,
            time=round(self.hearing_time, 3),
            error=error,
        )
        self._publish("av.alarm", alarm.to_json())

    def _transcription_alarm(
        self, hearing_id: str, *, active: bool, error: BaseException | None = None
    ) -> None:
        """The recogniser failed (restarted, or given up) or runs again; the
        recording never noticed either way."""
        alarm = agent_alarm(
            AgentAlarm.TRANSCRIPTION_FAILED,
            active=active,
            hearing_id=hearing_id,
            time=round(self.hearing_time, 3),
            error=error,
        )
        self._publish("av.alarm", alarm.to_json())

    async def _report(self) -> None:
        while True:
            self._publish("status", self.status())
            await asyncio.sleep(self._status_interval)

    def role_of(self, channel: int) -> str:
        """The role seated at microphone ``channel`` in the open hearing (else as configured)."""
        hearing = self._hearing
        roles = hearing.roles if hearing is not None else self._roles
        return roles[channel] if 0 <= channel < len(roles) else f"声道{channel + 1}"

    def publish(self, kind: str, body: dict[str, Any]) -> None:
        """Publish one event of this courtroom (spooled for the hub, told to the observers)."""
        self._publish(kind, body)

    async def mark(self, *, kind: str, at: float, label: str, by: str, ref: str) -> bool:
        """Put a marker (an exhibit presented or withdrawn) into the open hearing's
        recording manifest; False (logged) when there is none or it cannot be written.
        The recording itself is never affected."""
        hearing = self._hearing
        if hearing is None or hearing.recording is None:
            return False
        try:
            await hearing.recording.mark(
                kind=kind, at=max(0.0, at), utc=self._wall_clock(), label=label, by=by, ref=ref
            )
        except (CourtroomError, ValueError, OSError) as exc:
            logger.warning("marker %s %s not written: %s", kind, ref, exc)
            return False
        return True

    def _publish(self, kind: str, body: dict[str, Any]) -> None:
        event = self._link.publish(kind, body)
        seq = getattr(event, "seq", None)
        for observer in self.observers:
            observer(kind, body, seq)


async def _finish_span(span: _Span) -> None:
    """Let the recogniser flush a stretch's last utterances, then stop its thread."""
    try:
        await span.worker.close()
        await span.deliver
    finally:
        await span.worker.__aexit__(None, None, None)


_ACTIONS: Mapping[HearingAction, Callable[[CourtroomAgent, wire.HearingOrder], Awaitable[None]]] = {
    HearingAction.OPEN: CourtroomAgent._open,
    HearingAction.RECESS: CourtroomAgent._recess,
    HearingAction.RESUME: CourtroomAgent._resume,
    HearingAction.CLOSE: CourtroomAgent._close,
}
"""What the agent does for each action (the state table has already allowed it)."""
