"""Confirmed device actions for the rule engine: send a verb, then see that it took.

:func:`perform` sends one verb of a kind's table (:data:`devices.kinds.KINDS`)
and waits for the state its :class:`~devices.kinds.Expectation` names::

    outcome = await perform(recorder_link, KINDS["hyperdeck"], "record", ["hearing-7"],
                            within=2.0)
    if outcome.outcome is not Outcome.CONFIRMED:
        raise_alarm(outcome.message)

The outcome is one of four, never an exception for a device problem:

============== ===========================================================
outcome        meaning
============== ===========================================================
confirmed      the device reached the expected state (its reply, or an
               inquiry after it, showed it) within ``within`` seconds
unconfirmed    the device answered the command, but the expected state was
               not seen within ``within`` (a display still warming up, a
               recorder that did not start); ``observed`` is what was seen
unconfirmable  the protocol has no replies (Pelco-D): sent, nothing more is
               knowable — never reported as confirmed
failed         the device refused (its error text in ``message``), did not
               answer in time, or is offline
============== ===========================================================

Timing, all from the injected ``clock``: ``sent_at`` is when the command's
bytes left (a queued command waits behind others first), ``device_ms`` from
then to the device's reply, ``confirm_ms`` from then to the reply or inquiry
answer that showed the state. ``confirm_ms − device_ms`` is what confirming
cost beyond the device's own answer (the inquiries' round trips, our
scheduling). :func:`perform` returns at the latest ``within +
command_timeout`` seconds after it was called (``command_timeout``: the
kind's ``reply_timeout`` unless given), whatever the device does.

Targets: a running :class:`~devices.link.DeviceLink`, or
:class:`MqttTarget` (the room's :class:`~devices.mqtt.link.MqttDeviceLink`
plus a device name); anything with the :class:`ActionTarget` shape works.

:func:`read_state` asks an inquiry verb (``read OUT`` of a matrix,
``status``) and returns the answer in :attr:`ActionOutcome.value`, so a rule
can note an output's tie before changing it and restore it on withdraw.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from devices.errors import DeviceError, DeviceTimeoutError, LocalProtocolError
from devices.kinds import DeviceKindSpec, Expectation
from devices.link import DeviceLink, Exchange

if TYPE_CHECKING:
    from devices.mqtt.link import MqttDeviceLink

__all__ = [
    "ActionOutcome",
    "ActionTarget",
    "LineTarget",
    "MqttTarget",
    "Outcome",
    "perform",
    "read_state",
]


class Outcome(enum.Enum):
    """What became of an action (see the module docstring)."""

    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"
    UNCONFIRMABLE = "unconfirmable"
    FAILED = "failed"


_LABEL = {
    Outcome.CONFIRMED: "已确认 confirmed",
    Outcome.UNCONFIRMED: "未确认 unconfirmed",
    Outcome.UNCONFIRMABLE: "无法确认 unconfirmable",
    Outcome.FAILED: "失败 failed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionOutcome:
    """The result of :func:`perform` or :func:`read_state`.

    Attributes:
        outcome: confirmed, unconfirmed, unconfirmable or failed.
        device: the device's name.
        verb, args: what was asked.
        reply: the device's reply as text ("" if none came).
        value: the decoded reply (an inquiry's answer: the input tied, the power state).
        observed: the last inquiry answer while confirming, as text (None if none was asked).
        sent_at: ``clock()`` time the command left (or was handed over, if it never left).
        device_ms: send → the device's reply; None if it never replied.
        confirm_ms: send → the state seen; None unless confirmed.
        attempts: times the command was sent (retries included).
        message: ``中文 English: detail`` for the clerk and the ledger.
        error: the device error of a failed action, else None.
    """

    outcome: Outcome
    device: str
    verb: str
    args: tuple[str, ...]
    reply: str
    value: Any
    observed: str | None
    sent_at: float
    device_ms: float | None
    confirm_ms: float | None
    attempts: int
    message: str
    error: DeviceError | None = None

    @property
    def ok(self) -> bool:
        """Whether the state is known to have followed (confirmed)."""
        return self.outcome is Outcome.CONFIRMED

    @property
    def overhead_ms(self) -> float | None:
        """``confirm_ms − device_ms``: what confirming took beyond the device's answer."""
        if self.confirm_ms is None or self.device_ms is None:
            return None
        return self.confirm_ms - self.device_ms


class ActionTarget(Protocol):
    """One device that takes protocol commands (a line link or an MQTT device)."""

    @property
    def name(self) -> str: ...

    async def exchange(self, command: Any, *, retries: int, limit: float) -> Exchange:
        """Send ``command``; report its reply or error, never raise for a device problem."""
        ...


class LineTarget:
    """A running :class:`DeviceLink` as an :class:`ActionTarget`."""

    def __init__(self, link: DeviceLink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self._clock = clock

    @property
    def name(self) -> str:
        return self.link.name

    async def exchange(self, command: Any, *, retries: int, limit: float) -> Exchange:
        # The link's session times the command out; ``limit`` only caps retries.
        try:
            async with asyncio.timeout(limit):
                return await self.link.exchange(command, retries=retries)
        except TimeoutError:
            error = DeviceTimeoutError(
                f"no reply within {limit:g} s", device=self.name, code="time-limit"
            )
            return Exchange(command, None, b"", error, retries + 1, None, self._clock())


class MqttTarget:
    """Device ``name`` on the room's MQTT link, as an :class:`ActionTarget`.

    The reply is the retained ``/state`` carrying the command's id; there is
    no separate "accepted" step, so device time and confirmation coincide.
    """

    def __init__(
        self, link: MqttDeviceLink, name: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.link = link
        self._name = name
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    async def exchange(self, command: Any, *, retries: int, limit: float) -> Exchange:
        sent_at = self._clock()
        try:
            state = await self.link.send(self._name, command, confirm_within=limit)
        except LocalProtocolError:
            raise
        except DeviceError as error:
            return Exchange(command, None, error.raw, error, 1, sent_at, self._clock())
        raw = repr(dict(state.values)).encode()
        return Exchange(command, state, raw, None, 1, sent_at, self._clock())


def _target(target: DeviceLink | ActionTarget, clock: Callable[[], float]) -> ActionTarget:
    return LineTarget(target, clock=clock) if isinstance(target, DeviceLink) else target


def _text(thing: Any) -> str:
    if thing is None:
        return ""
    if isinstance(thing, enum.Enum):
        return thing.name
    return str(thing)


async def perform(
    target: DeviceLink | ActionTarget,
    spec: DeviceKindSpec,
    verb: str,
    args: Sequence[str],
    *,
    within: float,
    inputs: Mapping[str, int] | None = None,
    outputs: Mapping[str, int] | None = None,
    clock: Callable[[], float] = time.monotonic,
    command_timeout: float | None = None,
) -> ActionOutcome:
    """Send ``verb args`` and confirm it by the kind's expectation (module docstring).

    Args:
        target: a running DeviceLink, or an :class:`ActionTarget` (:class:`MqttTarget`).
        spec: the device's kind.
        within: seconds after sending by which the expected state must be seen.
        inputs, outputs: a matrix's port names.
        clock: monotonic seconds for every time in the outcome.
        command_timeout: seconds the command itself may take (default: the
            kind's ``reply_timeout``); the call returns within ``within`` + this.

    Raises:
        LocalProtocolError: unknown verb or bad arguments (the message names
            them), or ``within`` not positive: a bug in the rule, not the device.
    """
    if within <= 0:
        raise LocalProtocolError(f"within must be > 0 seconds, not {within!r}")
    command = spec.build(verb, args, inputs=inputs, outputs=outputs)
    expect = spec.verb(verb).expect
    return await _run(
        _target(target, clock),
        spec,
        verb,
        tuple(args),
        command,
        expect,
        within=within,
        clock=clock,
        command_timeout=command_timeout if command_timeout is not None else spec.reply_timeout,
    )


async def read_state(
    target: DeviceLink | ActionTarget,
    spec: DeviceKindSpec,
    verb: str,
    args: Sequence[str],
    *,
    within: float,
    inputs: Mapping[str, int] | None = None,
    outputs: Mapping[str, int] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ActionOutcome:
    """Ask an inquiry verb (``read OUT``, ``status``); the answer is in ``value``.

    ``outcome`` is confirmed (answered) or failed. A matrix's ``read OUT``
    answers the input number tied to the output (0: none), to restore later
    with ``tie IN OUT`` or ``untie OUT``.

    Raises:
        LocalProtocolError: unknown verb, bad arguments, or a verb that
            changes state (use :func:`perform`).
    """
    if spec.verb(verb).expect is not None:
        raise LocalProtocolError(f"{spec.name} {verb!r} changes state; read_state only asks")
    return await perform(
        target, spec, verb, args, within=within, inputs=inputs, outputs=outputs, clock=clock
    )


async def _run(
    target: ActionTarget,
    spec: DeviceKindSpec,
    verb: str,
    args: tuple[str, ...],
    command: Any,
    expect: Expectation | None,
    *,
    within: float,
    clock: Callable[[], float],
    command_timeout: float,
) -> ActionOutcome:
    started = clock()
    deadline = started + within + command_timeout
    what = f"{target.name} {' '.join((verb, *args))}"

    def outcome(kind: Outcome, detail: str, **fields: Any) -> ActionOutcome:
        values: dict[str, Any] = {
            "reply": "",
            "value": None,
            "observed": None,
            "sent_at": started,
            "device_ms": None,
            "confirm_ms": None,
            "attempts": 1,
            "error": None,
        }
        values.update(fields)
        return ActionOutcome(
            outcome=kind,
            device=target.name,
            verb=verb,
            args=args,
            message=f"{_LABEL[kind]}: {what}: {detail}",
            **values,
        )

    sent = await target.exchange(
        command, retries=spec.retries(command), limit=within + command_timeout
    )
    sent_at = sent.sent_at if sent.sent_at is not None else started
    if sent.error is not None:
        return outcome(
            Outcome.FAILED,
            sent.error.message,
            reply=sent.raw.decode("utf-8", "replace").strip(),
            sent_at=sent_at,
            device_ms=(sent.done_at - sent_at) * 1000 if sent.raw else None,
            attempts=sent.attempts,
            error=sent.error,
        )
    device_ms = (sent.done_at - sent_at) * 1000
    common: dict[str, Any] = {
        "reply": _text(sent.reply) or sent.raw.decode("utf-8", "replace").strip(),
        "value": sent.reply,
        "sent_at": sent_at,
        "device_ms": device_ms,
        "attempts": sent.attempts,
    }
    if expect is None:  # an inquiry: the answer is the result
        return outcome(
            Outcome.CONFIRMED, f"应答 answered {common['reply']}", confirm_ms=device_ms, **common
        )
    if expect.unconfirmable:
        return outcome(Outcome.UNCONFIRMABLE, expect.text, **common)
    if expect.reply is not None and expect.reply(command, sent.reply):
        return outcome(
            Outcome.CONFIRMED, f"{expect.text} ({device_ms:.0f} ms)", confirm_ms=device_ms, **common
        )
    if expect.query is None or expect.state is None:
        return outcome(
            Outcome.UNCONFIRMED,
            f"应答未显示预期状态 the reply did not show it: {expect.text}; reply {common['reply']}",
            **common,
        )
    return await _confirm_by_query(
        target, command, expect, sent_at, outcome, common, within=within, deadline=deadline,
        clock=clock,
    )  # fmt: skip


async def _confirm_by_query(
    target: ActionTarget,
    command: Any,
    expect: Expectation,
    sent_at: float,
    outcome: Callable[..., ActionOutcome],
    common: dict[str, Any],
    *,
    within: float,
    deadline: float,
    clock: Callable[[], float],
) -> ActionOutcome:
    """Ask the expectation's inquiry until it shows the state or ``within`` ends."""
    assert expect.query is not None and expect.state is not None
    observed: str | None = None
    last_error: str | None = None
    confirm_by = sent_at + within
    while True:
        left = deadline - clock()
        if left <= 0:
            break
        answer = await target.exchange(expect.query(command), retries=0, limit=left)
        if answer.error is None:
            observed, last_error = _text(answer.reply), None
            if expect.state(command, answer.reply):
                confirm_ms = (answer.done_at - sent_at) * 1000
                return outcome(
                    Outcome.CONFIRMED,
                    f"{expect.text} ({confirm_ms:.0f} ms)",
                    observed=observed,
                    confirm_ms=confirm_ms,
                    **common,
                )
        else:
            last_error = answer.error.message
        now = clock()
        if now >= confirm_by:
            break
        await asyncio.sleep(min(expect.interval, confirm_by - now))
    seen = f"last seen {observed}" if observed is not None else "no answer to the inquiry"
    if last_error is not None:
        seen += f" ({last_error})"
    return outcome(
        Outcome.UNCONFIRMED,
        f"已应答但 {within:g} s 内未见预期状态 answered, but not seen within {within:g} s: "
        f"{expect.text}; {seen}",
        observed=observed,
        **common,
    )
