"""The rule engine's hands: verbs on the courtroom's devices, confirmed.

:class:`EquipmentPerformer` adapts the running :class:`~courtroom_agent.
equipment_runner.Equipment` (:func:`devices.actions.perform`) to the
:class:`courtroom_agent.rules.Performer` the engine calls. A verb the device
cannot take (a rule that does not fit it: ``courtroom agent --check`` says so
before the agent starts) becomes a ``failed`` outcome naming it, never an
exception in the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from courtroom_agent.config import AgentConfig
from courtroom_agent.equipment_runner import Equipment
from devices.actions import ActionOutcome
from devices.errors import DeviceError
from devices.kinds import kind_spec

__all__ = ["EquipmentPerformer", "Result"]

READ_WITHIN = 1.0
"""Seconds an inquiry (a matrix's current tie, a recorder's status) may take."""


@dataclass(frozen=True, slots=True)
class Result:
    """An action's outcome as the engine reads it."""

    outcome: str
    device_ms: float | None = None
    confirm_ms: float | None = None
    attempts: int = 0
    message: str = ""
    value: object = None


def _result(outcome: ActionOutcome) -> Result:
    return Result(
        outcome=outcome.outcome.value,
        device_ms=outcome.device_ms,
        confirm_ms=outcome.confirm_ms,
        attempts=outcome.attempts,
        message=outcome.message,
        value=outcome.value,
    )


class EquipmentPerformer:
    """Runs and confirms verbs on the agent's running equipment."""

    def __init__(self, equipment: Equipment, config: AgentConfig) -> None:
        self._equipment = equipment
        self._kinds = {d.name: d.kind for d in config.devices}

    async def perform(
        self, device: str, verb: str, args: Sequence[str], *, within: float
    ) -> Result:
        try:
            return _result(await self._equipment.perform(device, verb, args, within=within))
        except DeviceError as exc:
            return Result("failed", attempts=0, message=f"{device} {verb}: {exc}")

    async def check(self, device: str, verb: str, args: Sequence[str]) -> Result:
        """Whether the state ``verb args`` leads to still holds (asked, nothing changed).

        Asks the kind's ``status`` inquiry and applies the verb's own
        expectation to the answer; a kind with no such inquiry answers
        ``unconfirmable`` (nothing to watch).
        """
        kind = self._kinds.get(device)
        if kind is None:
            return Result("failed", message=f"no device named {device!r}")
        spec = kind_spec(kind)
        expect = spec.verb(verb).expect if verb in spec.verbs else None
        if expect is None or expect.state is None or "status" not in spec.verbs:
            return Result("unconfirmable")
        try:
            command = spec.build(verb, args)
            answer = await self._equipment.read_state(device, "status", (), within=READ_WITHIN)
        except DeviceError as exc:
            return Result("failed", message=f"{device} status: {exc}")
        if answer.outcome.value != "confirmed":
            return _result(answer)
        held = expect.state(command, answer.value)
        return Result(
            "confirmed" if held else "unconfirmed",
            device_ms=answer.device_ms,
            message="" if held else f"{device}: {answer.reply or answer.value}",
            value=answer.value,
        )

    async def read_tie(self, device: str, output: str) -> str | None:
        try:
            answer = await self._equipment.read_state(device, "read", (output,), within=READ_WITHIN)
        except DeviceError:
            return None
        if answer.outcome.value != "confirmed" or answer.value is None:
            return None
        return str(answer.value)
