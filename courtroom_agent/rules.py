"""The five-sync rule engine: the courtroom's equipment follows the hearing.

A rule says: on one of these events (``hearing.opened``, ``evidence.presented``,
``speaker.changed`` … see :data:`courtroom_agent.sync_config.TRIGGERS`), whose
fields match, run these device actions. Each action is a verb of ``courtroom
devices send`` with an expectation (its state confirmed within ``within``) and
a policy when it is not confirmed:

=========== ===================================================================
policy      when an action is not confirmed
=========== ===================================================================
retry       try once more; if that fails too, raise an alarm
alarm       raise a ``device`` alarm (cleared by the next success of the device)
incident    the alarm, and an ``incident`` of the action's part that stays open
            until explained and signed by the presiding judge (SPC rule)
ignore      only the ledger says so
=========== ===================================================================

Every firing (``rule.fired``) and every action with its timing
(``device.action``: the device's own time and ours) goes into the hearing's
ledger. Actions on one device run in order, one at a time, on the device's own
worker; different devices run at once. :meth:`RuleEngine.fire` never waits: a
device whose queue is full (:data:`QUEUE_SIZE`) has the action refused at once,
recorded as failed and alarmed — a stuck device never holds up the hearing.

Two verbs belong to the engine rather than a device protocol:

* a matrix ``tie`` fired by ``evidence.presented`` first reads the output's
  current input, once per presentation, so ``restore OUT`` (fired by
  ``evidence.withdrawn``) ties back what was there before;
* hardware recorders: a confirmed ``record`` marks the recorder's source
  recording (``source.state``), a ``stop`` not; while recording the engine
  checks every :attr:`~SyncConfig.watch_recorders_s` that it still records,
  and a recorder that stopped by itself (disk full) is a gap and an incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol, Self

from courtroom_agent.sync_config import RuleConfig, SyncConfig
from courtroom_core import wire_bodies as wire
from courtroom_core.errors import CourtroomError

__all__ = [
    "QUEUE_SIZE",
    "Action",
    "ActionResult",
    "Outcome",
    "Performer",
    "Rule",
    "RuleEngine",
    "RuleError",
    "merge_rules",
    "standard_rules",
]

logger = logging.getLogger(__name__)

QUEUE_SIZE: Final = 32
"""Actions waiting per device; one more is refused (failed, alarmed) at once."""
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class RuleError(CourtroomError, ValueError):
    """A rule cannot be built or expanded; the message names the rule and field."""


class Outcome(Protocol):
    """What a device action came to (``devices.actions.ActionOutcome``)."""

    @property
    def outcome(self) -> str: ...
    @property
    def device_ms(self) -> float | None: ...
    @property
    def confirm_ms(self) -> float | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def message(self) -> str: ...


class Performer(Protocol):
    """Runs verbs on the courtroom's devices and confirms them."""

    async def perform(
        self, device: str, verb: str, args: Sequence[str], *, within: float
    ) -> Outcome: ...

    async def check(self, device: str, verb: str, args: Sequence[str]) -> Outcome:
        """Whether the state ``verb args`` leads to holds now (nothing sent but a query)."""
        ...

    async def read_tie(self, device: str, output: str) -> str | None:
        """The input a matrix output shows now (``"0"``: none), or None if unknown."""
        ...


@dataclass(frozen=True, slots=True)
class Action:
    """One action of a rule (``do`` split into verb and arguments)."""

    device: str
    verb: str
    args: tuple[str, ...] = ()
    within: float = 2.0
    policy: str = "alarm"
    part: str | None = None

    def expand(self, context: Mapping[str, Any], rule: str) -> Action:
        """The action with ``{field}`` placeholders taken from the event.

        Raises:
            RuleError: a placeholder names a field the event does not carry.
        """

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if context.get(name) is None:
                raise RuleError(f"rule {rule}: the event has no {name!r} for {{{name}}}")
            return str(context[name])

        return Action(
            device=_PLACEHOLDER.sub(value, self.device),
            verb=self.verb,
            args=tuple(_PLACEHOLDER.sub(value, a) for a in self.args),
            within=self.within,
            policy=self.policy,
            part=self.part,
        )


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    on: frozenset[str]
    actions: tuple[Action, ...]
    match: Mapping[str, str] = field(default_factory=dict)

    def matches(self, trigger: str, body: Mapping[str, Any]) -> bool:
        return trigger in self.on and all(
            str(body.get(key)) == value for key, value in self.match.items()
        )


@dataclass(frozen=True, slots=True)
class ActionResult:
    """An action as run, and its outcome (what the evidence log is built from)."""

    rule: str
    action: Action
    outcome: str
    device_ms: float | None
    confirm_ms: float | None
    message: str


# -- building rules ------------------------------------------------------------


def _action(device: str, do: str, within_ms: int, policy: str, part: str | None) -> Action:
    verb, *args = do.split()
    return Action(device, verb, tuple(args), within_ms / 1000.0, policy, part)


def standard_rules(sync: SyncConfig) -> list[Rule]:
    """The rules of a standard courtroom, from which device plays which part.

    ``recorders-record`` / ``recorders-stop``: every recorder records from
    开庭 and 继续开庭 and stops at 休庭 and 闭庭 (an incident when it does not
    confirm). ``displays-on``: every screen's display on and on its input at
    开庭. ``evidence-present`` / ``evidence-withdraw``: the exhibit's matrix
    input tied to every party screen, displays on and switched, then the
    previous routing restored. ``follow-seat-N``: the seat's camera preset
    when the speaker changes to seat N.
    """
    rules: list[Rule] = []
    record = tuple(
        _action(name, "record", sync.recorder_within_ms, "incident", "recording")
        for name in sync.recorders
    )
    stop = tuple(
        _action(name, "stop", sync.recorder_within_ms, "incident", "recording")
        for name in sync.recorders
    )
    if record:
        rules.append(
            Rule("recorders-record", frozenset({"hearing.opened", "hearing.resumed"}), record)
        )
        rules.append(
            Rule("recorders-stop", frozenset({"hearing.recessed", "hearing.closed"}), stop)
        )
    displays: list[Action] = []
    for screen in sync.screens:
        if screen.display is None:
            continue
        displays.append(
            _action(
                screen.display, "power on", sync.display_within_ms, "alarm", "transcript_display"
            )
        )
        if screen.display_input is not None:
            displays.append(
                _action(
                    screen.display,
                    f"input {screen.display_input}",
                    sync.display_within_ms,
                    "alarm",
                    "transcript_display",
                )
            )
    if displays:
        rules.append(Rule("displays-on", frozenset({"hearing.opened"}), tuple(displays)))
    present: list[Action] = []
    withdraw: list[Action] = []
    for screen in sync.screens:
        if not screen.party:
            continue
        if sync.matrix is not None and screen.output is not None:
            present.append(
                _action(
                    sync.matrix,
                    f"tie {{input}} {screen.output}",
                    sync.matrix_within_ms,
                    "incident",
                    "evidence_display",
                )
            )
            withdraw.append(
                _action(
                    sync.matrix,
                    f"restore {screen.output}",
                    sync.matrix_within_ms,
                    "alarm",
                    "evidence_display",
                )
            )
        if screen.display is not None:
            present.append(
                _action(
                    screen.display,
                    "power on",
                    sync.display_within_ms,
                    "incident",
                    "evidence_display",
                )
            )
            if screen.display_input is not None:
                present.append(
                    _action(
                        screen.display,
                        f"input {screen.display_input}",
                        sync.display_within_ms,
                        "incident",
                        "evidence_display",
                    )
                )
    if present:
        rules.append(Rule("evidence-present", frozenset({"evidence.presented"}), tuple(present)))
    if withdraw:
        rules.append(Rule("evidence-withdraw", frozenset({"evidence.withdrawn"}), tuple(withdraw)))
    for seat in sync.seats:
        rules.append(
            Rule(
                f"follow-seat-{seat.channel}",
                frozenset({"speaker.changed"}),
                (
                    _action(
                        seat.camera,
                        f"preset-recall {seat.preset}",
                        sync.camera_within_ms,
                        "alarm",
                        "video",
                    ),
                ),
                match={"channel": str(seat.channel)},
            )
        )
    return rules


def merge_rules(sync: SyncConfig | None, configured: Sequence[RuleConfig]) -> list[Rule]:
    """The standard rules with the configured ones added (same ``id``: replaced).

    A configured rule with ``enabled = false`` removes the rule of that id.
    """
    rules = {rule.id: rule for rule in (standard_rules(sync) if sync is not None else [])}
    for config in configured:
        rules.pop(config.id, None)
        if not config.enabled:
            continue
        rules[config.id] = Rule(
            config.id,
            frozenset(config.on),
            tuple(
                _action(a.device, a.do, a.within_ms, a.on_failure, a.part) for a in config.actions
            ),
            match={key: str(value) for key, value in config.match.items()},
        )
    return list(rules.values())


# -- running them -------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    rule: str
    trigger: str
    action: Action
    context: Mapping[str, Any]
    done: asyncio.Future[ActionResult]


@dataclass(slots=True)
class _Recording:
    """A hardware recorder the engine started, and its watch."""

    watch: asyncio.Task[None] | None = None
    recording: bool = False


class RuleEngine:
    """Fires rules on the hearing's events and runs their actions on the devices.

    Use as ``async with RuleEngine(...)``; :meth:`fire` from the agent's loop.

    Args:
        rules: the rules (:func:`merge_rules`).
        performer: runs and confirms verbs on devices.
        publish: sends one ledger event (kind, body) towards the hub.
        hearing_time: the hearing clock (seconds; 0 while idle).
        hearing_id: the open hearing's id, or None while idle.
        watch_recorders: seconds between checks that a recorder still records.
        wall_clock: UTC now.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        performer: Performer,
        *,
        publish: Callable[[str, dict[str, Any]], object],
        hearing_time: Callable[[], float],
        hearing_id: Callable[[], str | None],
        watch_recorders: float = 1.0,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = list(rules)
        self._performer = performer
        self._publish = publish
        self._hearing_time = hearing_time
        self._hearing_id = hearing_id
        self._watch_every = watch_recorders
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._queues: dict[str, asyncio.Queue[_Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._remembered: dict[tuple[str, str], str] = {}
        """(matrix, output) → the input it showed before the exhibit."""
        self._recorders: dict[str, _Recording] = {}
        self._alarmed: set[tuple[str, str]] = set()
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closed = True
        tasks = list(self._workers.values()) + [
            r.watch for r in self._recorders.values() if r.watch is not None
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in self._queues.values():
            while not queue.empty():
                job = queue.get_nowait()
                if not job.done.done():
                    job.done.cancel()

    # -- firing --------------------------------------------------------------

    def fire(self, trigger: str, body: Mapping[str, Any]) -> list[asyncio.Future[ActionResult]]:
        """Fire every rule matching ``trigger``; never waits.

        Returns:
            one future per action queued, resolved with its result (never
            raising for a device problem).
        """
        futures: list[asyncio.Future[ActionResult]] = []
        if self._closed:
            return futures
        loop = asyncio.get_running_loop()
        for rule in self.rules:
            if not rule.matches(trigger, body):
                continue
            actions: list[Action] = []
            try:
                actions = [a.expand(body, rule.id) for a in rule.actions]
            except RuleError as exc:
                logger.error("%s", exc)
            self._publish(
                "rule.fired",
                wire.RuleFired(
                    rule=rule.id,
                    trigger=trigger,
                    actions=len(actions),
                    **self._when(),
                ).to_json(),
            )
            for action in actions:
                job = _Job(rule.id, trigger, action, body, loop.create_future())
                self._enqueue(job)
                futures.append(job.done)
        return futures

    async def fire_and_wait(self, trigger: str, body: Mapping[str, Any]) -> list[ActionResult]:
        """:meth:`fire`, then the results of its actions (in rule order)."""
        return list(await asyncio.gather(*self.fire(trigger, body)))

    def _enqueue(self, job: _Job) -> None:
        device = job.action.device
        queue = self._queues.get(device)
        if queue is None:
            queue = self._queues[device] = asyncio.Queue(QUEUE_SIZE)
            self._workers[device] = asyncio.create_task(self._work(queue), name=f"rules {device}")
        try:
            queue.put_nowait(job)
        except asyncio.QueueFull:
            self._finish(job, "failed", None, None, 0, f"{device}: 队列已满 · queue full")

    async def _work(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            job = await queue.get()
            try:
                await self._run(job)
            except asyncio.CancelledError:
                if not job.done.done():
                    job.done.cancel()
                raise
            except Exception as exc:  # a bug must not stop the device's worker
                logger.exception("rule %s on %s", job.rule, job.action.device)
                if not job.done.done():
                    self._finish(job, "failed", None, None, 0, f"{type(exc).__name__}: {exc}")

    async def _run(self, job: _Job) -> None:
        action = job.action
        if action.verb == "restore":
            await self._restore(job)
            return
        if action.verb == "tie" and job.trigger == "evidence.presented" and len(action.args) >= 2:
            key = (action.device, action.args[1])
            if key not in self._remembered:
                previous = await self._performer.read_tie(action.device, action.args[1])
                self._remembered[key] = previous if previous is not None else "0"
        attempts = 2 if action.policy == "retry" else 1
        result: Outcome | None = None
        tries = 0
        for _ in range(attempts):
            tries += 1
            result = await self._performer.perform(
                action.device, action.verb, action.args, within=action.within
            )
            if result.outcome in ("confirmed", "unconfirmable"):
                break
        assert result is not None
        self._finish(
            job,
            result.outcome,
            result.device_ms,
            result.confirm_ms,
            tries if action.policy == "retry" else result.attempts,
            result.message,
        )

    async def _restore(self, job: _Job) -> None:
        action = job.action
        output = action.args[0] if action.args else ""
        previous = self._remembered.pop((action.device, output), None)
        if previous is None:
            self._finish(job, "confirmed", None, 0.0, 0, "未改动 · routing was not changed")
            return
        verb, args = ("untie", (output,)) if previous == "0" else ("tie", (previous, output))
        result = await self._performer.perform(action.device, verb, args, within=action.within)
        self._finish(
            job,
            result.outcome,
            result.device_ms,
            result.confirm_ms,
            result.attempts,
            result.message,
        )

    def _finish(
        self,
        job: _Job,
        outcome: str,
        device_ms: float | None,
        confirm_ms: float | None,
        attempts: int,
        message: str,
    ) -> None:
        action = job.action
        ok = outcome in ("confirmed", "unconfirmable")
        subject = job.context.get("exhibit")
        if subject is None and job.trigger == "speaker.changed":
            subject = f"seat:{job.context.get('channel')}"
        policy = "alarm" if action.policy == "retry" else action.policy
        self._publish(
            "device.action",
            wire.DeviceAction(
                rule=job.rule,
                trigger=job.trigger,
                device=action.device,
                verb=action.verb,
                args=action.args,
                outcome=outcome,
                policy=action.policy,
                within_ms=round(action.within * 1000.0, 1),
                part=action.part,
                subject=None if subject is None else str(subject)[: wire.MAX_NAME],
                expect=f"{action.verb} {' '.join(action.args)}".strip()[: wire.MAX_TITLE],
                device_ms=None if device_ms is None else round(device_ms, 1),
                confirm_ms=None if confirm_ms is None else round(confirm_ms, 1),
                attempts=min(attempts, 100),
                message=message[: wire.MAX_TITLE],
                **self._when(),
            ).to_json(),
        )
        if ok:
            self._clear_alarm(action.device, action.verb)
        elif policy in ("alarm", "incident"):
            fresh = self._raise_alarm(action, message)
            # One incident per outage: while the device's alarm stands, a further
            # failure of the same verb is in the ledger but opens no new incident.
            if policy == "incident" and fresh:
                self.incident(
                    kind=f"{action.verb}_failed",
                    part=action.part or "recording",
                    source=action.device,
                    message=f"{action.device} {action.verb} 未确认 · not confirmed",
                    detail=message,
                )
        if action.part == "recording" and action.verb in _SOURCE_VERBS:
            self._recorder_result(job, ok)
        if not job.done.done():
            job.done.set_result(
                ActionResult(job.rule, action, outcome, device_ms, confirm_ms, message)
            )

    # -- hardware recorders --------------------------------------------------

    def _recorder_result(self, job: _Job, ok: bool) -> None:
        device = job.action.device
        state = self._recorders.setdefault(device, _Recording())
        starting = _SOURCE_VERBS[job.action.verb]
        if starting and ok:
            self._recorder_state(device, True)
            if state.watch is None or state.watch.done():
                state.watch = asyncio.create_task(self._watch(device), name=f"watch {device}")
        elif not starting:
            if state.watch is not None:
                state.watch.cancel()
                state.watch = None
            reason = job.context.get("reason") or (
                "closed" if job.trigger == "hearing.closed" else None
            )
            # A lawful stop counts from the order (休庭's hearing time), not from when
            # the deck confirmed it: the recording's gap is the court's interruption.
            at = job.context.get("time") if job.trigger == "hearing.recessed" else None
            if job.trigger == "hearing.closed":
                at = job.context.get("duration")
            if state.recording:
                self._recorder_state(device, False, reason=reason, at=at)

    def _recorder_state(
        self,
        device: str,
        recording: bool,
        *,
        reason: str | None = None,
        message: str = "",
        at: Any = None,
    ) -> None:
        state = self._recorders.setdefault(device, _Recording())
        state.recording = recording
        when = self._when()
        if isinstance(at, (int, float)) and 0 <= at <= when["time"]:
            when["time"] = round(float(at), 3)
        self._publish(
            "source.state",
            wire.SourceState(
                source=f"recorder:{device}",
                recording=recording,
                reason=reason,
                message=message[: wire.MAX_TITLE],
                **when,
            ).to_json(),
        )

    async def _watch(self, device: str) -> None:
        """Check the recorder keeps recording; one that stops by itself is an incident."""
        state = self._recorders[device]
        while True:
            await asyncio.sleep(self._watch_every)
            result = await self._performer.check(device, "record", ())
            if result.outcome == "confirmed" and not state.recording:
                self._recorder_state(device, True, message="恢复录制 · recording again")
                self._clear_alarm(device, "record")
            elif result.outcome in ("unconfirmed", "failed") and state.recording:
                self._recorder_state(device, False, message=result.message)
                action = Action(device, "record", (), 0.0, "incident", "recording")
                self._raise_alarm(action, result.message, kind="recording_stopped")
                self.incident(
                    kind="recorder_stopped",
                    part="recording",
                    source=device,
                    message=f"录像机 {device} 停止录制 · recorder stopped recording",
                    detail=result.message,
                )

    # -- alarms and incidents ------------------------------------------------

    def incident(
        self, *, kind: str, part: str, source: str, message: str, detail: str | None = None
    ) -> str:
        """Open an incident (the presiding judge must sign its explanation); returns its id."""
        incident_id = f"inc-{secrets.token_hex(6)}"
        self._publish(
            "incident",
            wire.Incident(
                id=incident_id,
                kind=kind[: wire.MAX_NAME],
                state="open",
                part=part,
                source=source[: wire.MAX_NAME],
                message=message[: wire.MAX_TITLE],
                detail=None if not detail else detail[: wire.MAX_DETAIL],
                **self._when(),
            ).to_json(),
        )
        return incident_id

    def _raise_alarm(self, action: Action, message: str, *, kind: str | None = None) -> bool:
        """Raise the device's alarm; whether it was not raised already."""
        kind = kind or f"{action.verb}_failed"
        if (action.device, kind) in self._alarmed:
            return False
        self._alarmed.add((action.device, kind))
        self._publish(
            "av.alarm",
            wire.Alarm(
                kind=kind[: wire.MAX_NAME],
                active=True,
                severity="critical" if action.part == "recording" else "warning",
                source="device",
                subject=action.device,
                hearing_id=self._hearing_id(),
                time=round(self._hearing_time(), 3),
                message=f"{action.device}: {action.verb} 未确认 · not confirmed"[: wire.MAX_TITLE],
                detail=message[: wire.MAX_DETAIL] or None,
            ).to_json(),
        )
        return True

    def _clear_alarm(self, device: str, verb: str) -> None:
        kinds = {f"{verb}_failed"} | ({"recording_stopped"} if verb == "record" else set())
        for kind in sorted(kinds):
            if (device, kind) not in self._alarmed:
                continue
            self._alarmed.discard((device, kind))
            self._publish(
                "av.alarm",
                wire.Alarm(
                    kind=kind,
                    active=False,
                    severity="warning",
                    source="device",
                    subject=device,
                    hearing_id=self._hearing_id(),
                    time=round(self._hearing_time(), 3),
                    message=f"{device}: 已恢复 · working again",
                ).to_json(),
            )

    def _when(self) -> dict[str, Any]:
        hearing_id = self._hearing_id()
        out: dict[str, Any] = {
            "time": round(max(0.0, self._hearing_time()), 3),
            "at": self._wall_clock().isoformat(timespec="milliseconds"),
        }
        if hearing_id:
            out["hearing_id"] = hearing_id
        return out


_SOURCE_VERBS: Final[Mapping[str, bool]] = {"record": True, "stop": False}
"""A recorder verb → whether its recorder records afterwards."""
