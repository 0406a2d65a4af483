"""The courtroom agent: microphones → live transcript → hub, for one hearing.

``CourtroomAgent.run()`` opens a hearing, streams the audio source through the
transcription worker, sends partials (live preview, best effort) and finals
(durable, through the spool) to the hub, reports status, and closes the
hearing when the source ends or the task is cancelled.

The hearing clock starts at the source's frame 0, which is when the hearing
opens (宣布开庭); every timestamp is derived from frame counts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from av.alarms import MicrophoneWatch, WatchConfig
from av.audio import AudioSource, AudioSourceError, CaptureClock
from av.camera import Thumbnail
from av.levels import LevelMeter
from av.multi_source import MultiSource
from av.recording import AudioRecorder
from courtroom_agent.config import CameraConfig, RecordingConfig
from courtroom_agent.hearing_cameras import HearingCameras
from courtroom_agent.hearing_recording import HearingRecording
from courtroom_agent.link import HubLink
from courtroom_agent.open_hearing import OpenHearing, forget_open_hearing, take_over
from courtroom_core import wire
from transcription.engine import TranscriptionEngine
from transcription.gate import GateConfig
from transcription.model import LoadedModel
from transcription.segments import Final, Partial
from transcription.worker import TranscriptionWorker

__all__ = ["CourtroomAgent", "new_hearing_id"]

logger = logging.getLogger(__name__)


def new_hearing_id(courtroom: str, now: datetime | None = None) -> str:
    """A hearing id unique across restarts: ``<courtroom>-<UTC time>-<random>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{courtroom}-{stamp}-{secrets.token_hex(3)}"


class CourtroomAgent:
    """One hearing of one courtroom, from 开庭 to 闭庭.

    Args:
        courtroom: courtroom id.
        source: the audio source; its channels are the microphones.
        roles: role of each channel, in channel order.
        model: the shared loaded Vosk model.
        link: connection to the hub (already entered).
        title: hearing title shown at the hub.
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
            the agent did not close is continued under its id.
        resume_within: seconds after which a hearing left open is not
            continued but closed as interrupted, and a new one opened.
        recording: the recording's disk headroom thresholds.
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
        self.hearing_id = new_hearing_id(courtroom, wall_clock())
        self.finals = 0
        self._worker: TranscriptionWorker | None = None
        self._engine: TranscriptionEngine | None = None
        self._extra_status = extra_status
        self._open = False
        self._watch = MicrophoneWatch(config=watch or WatchConfig())
        self._recordings = recordings
        self._clock: CaptureClock | None = None
        self._cameras = cameras or []
        self._courtroom_name = courtroom_name
        self._overlay_font = overlay_font
        self._open_hearing = open_hearing
        self._resume_within = resume_within
        self._recording_config = recording
        self.resumed = False
        self.recording: HearingRecording | None = None
        self._monotonic = monotonic

    @property
    def hearing_time(self) -> float:
        """Hearing-clock seconds now, on the capture clock (0 before the audio starts).

        The last captured block's end frame gives the time exactly when it was
        captured; since then the clock runs on monotonic time. Device events and
        camera frames are stamped with this, so they line up with the audio
        however far behind recognition is.
        """
        return self._clock.now() if self._clock is not None else 0.0

    @property
    def captured_time(self) -> float:
        """Hearing-clock seconds of audio captured so far (exact, frame-counted)."""
        return self._clock.captured if self._clock is not None else 0.0

    @property
    def in_hearing(self) -> bool:
        """Whether the hearing is open (between 开庭 and 闭庭)."""
        return self._open

    async def run(self) -> None:
        """Record and transcribe until the source ends or the task is cancelled.

        The hearing is closed (a ``hearing.closed`` event is spooled) in every
        case, including cancellation.

        Raises:
            AudioSourceError: the source cannot be opened or failed.
        """
        async with self._source:
            fmt = self._source.format
            if fmt.channels != len(self._roles):
                raise ValueError(
                    f"the audio source has {fmt.channels} channels but "
                    f"{len(self._roles)} roles are configured"
                )
            now = self._wall_clock()
            opened_at = self._take_over(now)
            failure: Exception | None = None
            try:
                if self._recordings is not None:
                    self.recording = HearingRecording(
                        root=self._recordings,
                        courtroom=self._courtroom,
                        hearing_id=self.hearing_id,
                        sample_rate=fmt.rate,
                        roles=self._roles,
                        cameras=self._cameras,
                        title=self._courtroom_name,
                        font=self._overlay_font,
                        publish=self._publish,
                        send_thumbnail=self._send_thumbnail,
                        recording=self._recording_config,
                    )
                    await self.recording.open()
                # Hearing frame of the source's frame 0: on resume, the time
                # since 开庭 — never inside what was already recorded.
                elapsed = (now - opened_at).total_seconds() if self.resumed else 0.0
                origin = max(round(elapsed * fmt.rate), 0)
                if self.recording is not None:
                    origin = max(origin, self.recording.resume_frame)
                self._clock = CaptureClock(fmt.rate, origin_frame=origin, monotonic=self._monotonic)
                self._engine = TranscriptionEngine(
                    self._model,
                    input_rate=fmt.rate,
                    roles=self._roles,
                    gate=self._gate,
                    hearing_offset=origin / fmt.rate,
                )
                self._announce(opened_at, now, origin / fmt.rate)
                self._open = True
                if self.recording is not None:
                    await self.recording.start(
                        origin_frame=origin,
                        epoch=opened_at,
                        hearing_clock=lambda: self.hearing_time,
                    )
                async with TranscriptionWorker(self._engine) as worker:
                    self._worker = worker
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(self._feed(worker), name="agent-feed")
                        status = tasks.create_task(self._report(), name="agent-status")
                        # results() ends once the worker has flushed everything.
                        await tasks.create_task(self._deliver(worker), name="agent-deliver")
                        status.cancel()
            except Exception as exc:
                failure = exc
                self._publish_interruption(active=True, error=exc)
                raise
            finally:
                try:
                    if self.recording is not None:
                        try:
                            await self.recording.close(end=self.captured_time)
                        except Exception as exc:
                            # The recorder failed although the run itself ended
                            # normally (e.g. stopped right after the disk filled).
                            if failure is None:
                                failure = exc
                                self._publish_interruption(active=True, error=exc)
                            raise
                        finally:
                            self._publish_recorder_alarms()
                finally:
                    if self._open:
                        self._close_hearing(failure)

    def _take_over(self, now: datetime) -> datetime:
        """Continue the hearing this agent left open, or open a new one; its 开庭 time."""
        if self._open_hearing is None:
            return now
        new = OpenHearing(self.hearing_id, now, self._title, tuple(self._roles))
        hearing, abandoned = take_over(
            self._open_hearing, new, now=now, resume_within=self._resume_within
        )
        if abandoned is not None:
            body = {"hearing_id": abandoned.hearing_id, "closed_at": now.isoformat()}
            self._publish("hearing.closed", body | {"interrupted": True})
        self.resumed = hearing is not new
        self.hearing_id, self._title = hearing.hearing_id, hearing.title
        return hearing.opened_at

    def _announce(self, opened_at: datetime, now: datetime, at: float) -> None:
        body: dict[str, Any] = {
            "hearing_id": self.hearing_id,
            "title": self._title,
            "opened_at": opened_at.isoformat(),
            "roles": self._roles,
        }
        if self.resumed:
            body |= {"resumed_at": now.isoformat(), "resumed_from": round(at, 3)}
        self._publish("hearing.opened", body)
        if self.resumed:
            self._publish_interruption(active=False, error=None)

    def _publish_interruption(self, *, active: bool, error: Exception | None) -> None:
        """Raise (the run failed) or clear (a restarted agent continues) the
        ``hearing_interrupted`` alarm, so the patrol wall shows a courtroom
        whose hearing is not being recorded until it is again."""
        body: dict[str, Any] = {
            "kind": "hearing_interrupted",
            "active": active,
            "severity": "critical",
            "hearing_id": self.hearing_id,
            "time": round(self.hearing_time, 3),
            "message": "庭审录制中断 / hearing recording interrupted"
            if active
            else "庭审录制已恢复 / hearing recording resumed",
        }
        if error is not None:
            body["error"] = f"{type(error).__name__}: {error}"[:500]
        self._publish("av.alarm", body)

    def status(self) -> dict[str, Any]:
        """Health of this agent for the hub's patrol view."""
        body: dict[str, Any] = {
            "state": "recording",
            "hearing_id": self.hearing_id,
            "hearing_time": round(self.captured_time, 3),
            "finals": self.finals,
            "unsent_events": self._link.pending,
        }
        if self._worker is not None:
            stats = self._worker.stats
            body |= {
                "lag": round(stats.lag, 3),
                "max_lag": round(stats.max_lag, 3),
                "behind": stats.behind,
                "gap_frames": stats.gap_frames,
                "error": stats.error,
            }
        body["microphones"] = self._watch.status()
        if isinstance(self._source, MultiSource):
            # Several capture devices: how they keep in step (skew, drift corrections).
            with contextlib.suppress(AudioSourceError):
                body["audio_devices"] = self._source.stats.as_status()
        if self.recorder is not None:
            body["recording"] = self.recorder.state().to_json()
        if self._extra_status is not None:
            body |= self._extra_status()
        return body

    async def _feed(self, worker: TranscriptionWorker) -> None:
        fmt = self._source.format
        meter = LevelMeter(rate=fmt.rate, roles=self._roles)
        clock = self._clock
        assert clock is not None  # set when the source opened
        self._watch.open_session()
        try:
            async for block in self._source.blocks():
                clock.advance(block)
                if self.recording is not None:
                    try:
                        await self.recording.put(block)  # the record first: it is the law's
                    finally:
                        # A failed write raises: its writer_failed alarm must still go out.
                        self._publish_recorder_alarms()
                await worker.put(block)
                on_hearing_clock = (
                    dataclasses.replace(block, start_frame=block.start_frame + clock.origin_frame)
                    if clock.origin_frame
                    else block
                )
                for report in meter.feed(on_hearing_clock):
                    for alarm in self._watch.observe(report):
                        self._publish("av.alarm", alarm.to_json() | {"hearing_id": self.hearing_id})
        finally:
            self._watch.close_session()
            await worker.close()

    def _send_thumbnail(self, thumbnail: Thumbnail) -> None:
        self._link.send_thumbnail(
            wire.Thumbnail(
                hearing_id=self.hearing_id,
                camera=thumbnail.camera,
                time=round(thumbnail.hearing_time, 3),
                jpeg=base64.b64encode(thumbnail.jpeg).decode("ascii"),
            )
        )

    @property
    def recorder(self) -> AudioRecorder | None:
        """The hearing's audio recorder (None before the hearing opens or without recording)."""
        return self.recording.recorder if self.recording is not None else None

    @property
    def cameras(self) -> HearingCameras | None:
        return self.recording.cameras if self.recording is not None else None

    def _publish_recorder_alarms(self) -> None:
        assert self.recording is not None
        for alarm in self.recording.recorder.take_alarms():
            self._publish("av.alarm", alarm.to_json())

    async def _deliver(self, worker: TranscriptionWorker) -> None:
        async for result in worker.results():
            if isinstance(result, Final):
                self.finals += 1
                self._publish(
                    "transcript.final",
                    {"hearing_id": self.hearing_id, "segment": result.to_json()},
                )
            elif isinstance(result, Partial):
                self._link.send_partial(
                    wire.Partial(
                        hearing_id=self.hearing_id,
                        channel=result.channel,
                        role=result.role,
                        start=round(result.start, 3),
                        text=result.text,
                        end=round(result.end, 3),
                    )
                )

    async def _report(self) -> None:
        while True:
            self._publish("status", self.status())
            await asyncio.sleep(self._status_interval)

    def _close_hearing(self, failure: Exception | None = None) -> None:
        """闭庭 — or, after a failure, the end of this run of the hearing.

        A failed run (recorder or audio source error) is reported closed as
        ``interrupted`` with the error, and stays remembered: the restarted
        agent continues the hearing, and the hub reopens it.
        """
        self._open = False
        if self._open_hearing is not None and failure is None:
            forget_open_hearing(self._open_hearing)
        duration = self.captured_time
        self._publish("status", self.status() | {"state": "closed"})
        body: dict[str, Any] = {
            "hearing_id": self.hearing_id,
            "closed_at": self._wall_clock().isoformat(),
            "duration": round(duration, 3),
        }
        if failure is not None:
            body |= {"interrupted": True, "error": str(failure)[:500]}
        self._publish("hearing.closed", body)

    def _publish(self, kind: str, body: dict[str, Any]) -> None:
        self._link.publish(kind, body)
