"""Building a running agent from its configuration (the app layer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import platformdirs

from av.alarms import WatchConfig
from av.audio import AudioSource
from av.looped import LoopedSource
from av.multi_source import MultiSource
from av.pyaudio_source import PyAudioSource
from av.wav_source import WavFileSource
from courtroom_agent.agent import CourtroomAgent
from courtroom_agent.alarms import AgentAlarm, agent_alarm
from courtroom_agent.config import AgentConfig, spool_path
from courtroom_agent.control import SOCKET_NAME, ControlServer
from courtroom_agent.display import DisplayError, DisplayServer
from courtroom_agent.equipment_runner import Equipment
from courtroom_agent.five_sync import FiveSync
from courtroom_agent.ledger_file import LedgerError, LedgerFile, ledger_directory
from courtroom_agent.link import HubLink
from courtroom_agent.open_hearing import OPEN_HEARING_NAME
from courtroom_agent.performer import EquipmentPerformer
from courtroom_agent.rules import RuleEngine, merge_rules
from courtroom_agent.speaker_follow import FollowConfig, SpeakerFollower
from courtroom_agent.spool import EventSpool
from courtroom_core import wire
from transcription.engine import TranscriptionEngine
from transcription.gate import GateConfig
from transcription.model import load_model
from transcription.models_cli import resolve_model_arg

__all__ = ["build_source", "control_socket", "default_data_dir", "run_agent", "spool_file"]

logger = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """Per-user data directory: spools, recordings, hub database."""
    return Path(platformdirs.user_data_dir("courtroom"))


def spool_file(config: AgentConfig, *, data_dir: Path) -> Path:
    """The courtroom's event spool: ``spool`` from the config, else under ``data_dir``."""
    return spool_path(config, data_dir=data_dir)


def control_socket(config: AgentConfig, *, data_dir: Path) -> Path:
    """The agent's local control socket, beside its spool (see :mod:`courtroom_agent.control`)."""
    return spool_file(config, data_dir=data_dir).parent / SOCKET_NAME


def build_source(config: AgentConfig) -> AudioSource:
    """The audio source described by ``config.audio``.

    Several ``audio.devices`` become one :class:`~av.multi_source.MultiSource`
    (its ``stats`` say how the devices keep in step).
    """
    audio = config.audio
    if audio.source == "wav":
        path = audio.file
        assert path is not None  # validated by AudioConfig

        def wav() -> AudioSource:
            return WavFileSource(path, realtime=audio.realtime, block_ms=audio.block_ms)

        return LoopedSource(wav, times=None if audio.loop else 1)
    if audio.devices is not None:
        return MultiSource(
            [
                PyAudioSource(
                    d.device, rate=audio.rate, channels=d.channels, block_ms=audio.block_ms
                )
                for d in audio.devices
            ],
            names=[str(d.device) for d in audio.devices],
        )
    return PyAudioSource(
        audio.device, rate=audio.rate, channels=len(audio.roles), block_ms=audio.block_ms
    )


async def run_agent(
    config: AgentConfig,
    *,
    data_dir: Path,
    title: str = "",
    source: AudioSource | None = None,
    stop: asyncio.Event | None = None,
    drain_timeout: float = 10.0,
    open_at_start: bool = True,
    control: bool = True,
    engine_factory: Callable[..., TranscriptionEngine] = TranscriptionEngine,
) -> CourtroomAgent:
    """Run the agent until the source ends, ``stop`` is set or the task is cancelled.

    The court drives the hearings through the control socket (``control``)
    and hub commands; ``open_at_start`` opens one at once (titled ``title``)
    that closes when the run ends. Then keep delivering until the hub has
    acknowledged every event, for at most ``drain_timeout`` seconds, and
    return the agent.

    Raises:
        ValueError: the hub token is not available.
        ModelLoadError, ModelNotFoundError: the model cannot be found or loaded.
        SpoolError: the spool cannot be opened.
        AudioSourceError: the audio source failed.
        ControlError: another agent of this courtroom is running.
    """
    token = config.hub.resolve_token()
    model_dir = resolve_model_arg(config.transcription.model)
    model = await asyncio.to_thread(load_model, model_dir)
    spool_path = spool_file(config, data_dir=data_dir)
    spool_path.parent.mkdir(parents=True, exist_ok=True)
    gate = GateConfig(
        detector=config.transcription.detector,
        speech_threshold=config.transcription.speech_threshold,
        endpoint_ms=config.transcription.endpoint_ms,
        dominance_db=config.transcription.dominance_db,
        min_level_dbfs=config.transcription.min_level_dbfs,
    )
    with EventSpool.open(spool_path, courtroom=config.courtroom.id) as spool:
        made: list[CourtroomAgent] = []  # the agent, once made: its alarms name its hearing
        syncs: list[FiveSync] = []  # the five-sync engine, once running
        async with HubLink(
            url=config.hub.url,
            token=token,
            spool=spool,
            ssl=config.hub.ssl_context(),
            pin_sha256=config.hub.pin_sha256,
            alarm_hearing_id=lambda: made[0].hearing_id if made else "",
            on_command=lambda command: _hub_order(made, syncs, command),
        ) as link:
            equipment = Equipment(
                config, publish=lambda kind, body: _publish(made, link, kind, body)
            )
            agent = CourtroomAgent(
                courtroom=config.courtroom.id,
                source=source or build_source(config),
                roles=list(config.audio.roles),
                model=model,
                link=link,
                title=title or config.courtroom.name,
                status_interval=config.status_interval_s,
                recording=config.recording,
                gate=gate,
                extra_status=equipment.status,
                watch=WatchConfig(
                    dead_after_s=config.microphones.dead_after_s,
                    all_silent_after_s=config.microphones.all_silent_after_s,
                    silent_below_dbfs=config.microphones.silent_below_dbfs,
                    speech_above_dbfs=config.microphones.speech_above_dbfs,
                ),
                recordings=data_dir / "recordings",
                cameras=list(config.cameras),
                courtroom_name=config.courtroom.name,
                open_hearing=spool_path.parent / OPEN_HEARING_NAME,
                overlay_font=config.courtroom.overlay_font,
                open_at_start=open_at_start,
                engine_factory=engine_factory,
                faster_than_real_time=(
                    source is None and config.audio.source == "wav" and not config.audio.realtime
                ),
            )
            equipment.agent = agent
            made.append(agent)
            served: contextlib.AbstractAsyncContextManager[Any] = (
                ControlServer(
                    control_socket(config, data_dir=data_dir),
                    order=lambda order: agent.order(order, source="local"),
                    state=agent.hearing_state,
                    evidence=lambda order: _local_evidence(syncs, order),
                )
                if control
                else contextlib.nullcontext()
            )
            async with (
                served,
                equipment,
                _five_sync(config, agent, equipment, link, data_dir) as sync,
            ):
                syncs.append(sync)
                link_task = asyncio.create_task(link.run(), name="hub-link")
                try:
                    try:
                        await _until_stopped(agent.run(), stop)
                    except Exception:
                        # The hearing failed (recorder, audio source): still deliver
                        # its alarms and its closing before raising.
                        await _drain(link, drain_timeout, spool_path)
                        raise
                    await _drain(link, drain_timeout, spool_path)
                finally:
                    link_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await link_task
    return agent


def _publish(made: list[CourtroomAgent], link: HubLink, kind: str, body: dict[str, Any]) -> None:
    """A device event: through the agent once made (the five-sync engine hears it)."""
    if made:
        made[0].publish(kind, body)
    else:
        link.publish(kind, body)


async def _local_evidence(syncs: list[FiveSync], order: wire.EvidenceOrder) -> dict[str, Any]:
    if not syncs:
        return {"outcome": "failed", "message": "agent starting"}
    return await syncs[0].command(order, source="local")


@contextlib.asynccontextmanager
async def _five_sync(
    config: AgentConfig,
    agent: CourtroomAgent,
    equipment: Equipment,
    link: HubLink,
    data_dir: Path,
) -> AsyncIterator[FiveSync]:
    """The five synchronisations around the running agent (:mod:`courtroom_agent.five_sync`):
    the rule engine on the equipment, the display pages, speaker follow, the local ledger."""
    ledger = LedgerFile(ledger_directory(config, data_dir=data_dir))
    sync = config.sync

    def append(hearing_id: str, kind: str, body: Mapping[str, Any]) -> None:
        try:
            ledger.append(hearing_id, kind, body)
        except LedgerError as exc:
            logger.error("ledger: %s", exc)

    follower = None
    if sync is not None and sync.seats:
        roles = list(config.audio.roles)
        follower = SpeakerFollower(
            roles=roles,
            config=FollowConfig(
                hold_s=sync.follow_hold_s,
                priority_hold_s=min(0.5, sync.follow_hold_s),
                priority=tuple(c for c in sync.priority_seats if c < len(roles)),
            ),
        )
    hearing_id = lambda: agent.hearing_id if agent.in_hearing else None  # noqa: E731
    engine = RuleEngine(
        merge_rules(sync, config.rules),
        EquipmentPerformer(equipment, config),
        publish=agent.publish,
        hearing_time=lambda: agent.hearing_time if agent.in_hearing else 0.0,
        hearing_id=hearing_id,
        watch_recorders=sync.watch_recorders_s if sync is not None else 1.0,
    )
    display: DisplayServer | None = None
    async with contextlib.AsyncExitStack() as stack:
        if config.display.enabled:
            evidence_dir = config.display.evidence_dir
            try:
                display = await stack.enter_async_context(
                    DisplayServer(
                        courtroom=config.courtroom.name,
                        evidence=lambda: evidence_dir,
                        host=config.display.host,
                        port=config.display.port,
                        on_report=lambda report: five.display_report(report),
                    )
                )
                logger.info("courtroom display pages on %s/display", display.url)
            except DisplayError as exc:
                # The screens are not the record: the hearing goes on, the hub is told.
                logger.error("courtroom display pages not served: %s", exc)
                alarm = agent_alarm(AgentAlarm.DISPLAY_UNAVAILABLE, active=True, error=exc)
                agent.publish("av.alarm", alarm.to_json())
        await stack.enter_async_context(engine)
        five = FiveSync(
            sync=sync,
            engine=engine,
            publish=agent.publish,
            hearing_time=lambda: agent.hearing_time if agent.in_hearing else 0.0,
            hearing_id=hearing_id,
            state=lambda: agent.state.value,
            roles=lambda channel: agent.role_of(channel),
            display=display,
            ledger=append,
            link=link,
            follower=follower,
            marker=agent.mark,
        )
        five.configure_sources(
            seats=range(len(config.audio.roles)), cameras=[c.id for c in config.cameras]
        )
        await stack.enter_async_context(five)
        agent.display_url = None if display is None else f"{display.url}/display"
        agent.observers.append(five.observe)
        agent.on_levels = five.levels
        stack.callback(ledger.close)
        try:
            yield five
        finally:
            agent.observers.remove(five.observe)
            agent.on_levels = None


async def _hub_order(
    made: list[CourtroomAgent], syncs: list[FiveSync], command: wire.Command
) -> wire.Result:
    if not made:
        return wire.Result(id=command.id, outcome="failed", message="agent starting")
    order = command.data
    if isinstance(order, wire.EvidenceOrder):
        if not syncs:
            return wire.Result(id=command.id, outcome="failed", message="agent starting")
        answer = await syncs[0].command(order, source="hub", command_id=command.id)
        return wire.Result(
            id=command.id,
            outcome=answer["outcome"],
            message=answer["message"],
            state=made[0].hearing_state(),
        )
    return await made[0].order(order, source="hub", command_id=command.id)


async def _drain(link: HubLink, seconds: float, spool_path: Path) -> None:
    """Wait until the hub has acknowledged every event, for at most ``seconds``.

    What the hub has not acknowledged by then stays spooled for the next start.
    """
    try:
        async with asyncio.timeout(seconds):
            await link.wait_delivered()
    except TimeoutError:
        logger.warning(
            "hub has not acknowledged %d events; they stay spooled in %s",
            link.pending,
            spool_path,
        )


async def _until_stopped(hearing: Coroutine[Any, Any, None], stop: asyncio.Event | None) -> None:
    """Run ``hearing``; if ``stop`` is set first, cancel it (it closes the hearing)."""
    if stop is None:
        await hearing
        return
    task = asyncio.create_task(hearing, name="hearing")
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        stopped = not task.done()
        if stopped:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not stopped:
        task.result()
