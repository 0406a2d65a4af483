"""The hearing lifecycle table and the protocol-2 messages that carry it."""

from __future__ import annotations

import itertools
import json

import pytest

from courtroom_core import wire
from courtroom_core.hearing import (
    TRANSITIONS,
    HearingAction,
    HearingState,
    InterruptionReason,
    TransitionRefused,
    next_state,
)

IDLE, OPEN, RECESS = HearingState.IDLE, HearingState.OPEN, HearingState.RECESS


def test_a_day_in_court_walks_the_table() -> None:
    state = IDLE
    for action, reason, expected in [
        (HearingAction.OPEN, None, OPEN),
        (HearingAction.RECESS, InterruptionReason.MEDIATION, RECESS),
        (HearingAction.RESUME, None, OPEN),
        (HearingAction.RECESS, InterruptionReason.CLOSED_EVIDENCE, RECESS),
        (HearingAction.CLOSE, None, IDLE),
    ]:
        state = next_state(state, action, reason)
        assert state is expected


@pytest.mark.parametrize(
    ("state", "action"),
    [pair for pair in itertools.product(HearingState, HearingAction) if pair not in TRANSITIONS],
)
def test_every_pair_not_in_the_table_is_refused_naming_state_and_action(
    state: HearingState, action: HearingAction
) -> None:
    reason = InterruptionReason.RECESS if action is HearingAction.RECESS else None
    with pytest.raises(TransitionRefused) as refused:
        next_state(state, action, reason)
    assert refused.value.state is state and refused.value.action is action
    assert f"cannot {action.value} a hearing that is {state.value}" in str(refused.value)


def test_a_recess_needs_a_reason_and_nothing_else_takes_one() -> None:
    with pytest.raises(TransitionRefused, match="recess needs a reason"):
        next_state(OPEN, HearingAction.RECESS)
    with pytest.raises(TransitionRefused, match="resume takes no reason"):
        next_state(RECESS, HearingAction.RESUME, InterruptionReason.RECESS)


def test_a_command_round_trips_and_its_body_is_typed() -> None:
    body = {
        "action": "open",
        "by": "clerk1",
        "case": {
            "number": "(2026)京0105民初1234号",
            "title": "买卖合同纠纷",
            "parties": [{"role": "原告", "name": "张三", "channel": 2}],
        },
    }
    command = wire.decode(wire.encode(wire.Command(id="c1", name="hearing", body=body)))
    assert isinstance(command, wire.Command)
    assert command.data.case is not None
    assert command.data.case.role_of(2, "声道3") == "原告"
    assert command.data.case.role_of(0, "审判长") == "审判长"
    assert command.data.to_json() == body


@pytest.mark.parametrize(
    ("frame", "named"),
    [
        ({"id": "c1", "name": "hearing", "body": {"action": "adjourn", "by": "x"}}, "action"),
        ({"id": "c1", "name": "hearing", "body": {"action": "recess", "by": "x",
                                                  "reason": "lunch"}}, "reason"),
        ({"id": "c 1", "name": "hearing", "body": {"action": "open", "by": "x"}}, "command.id"),
        ({"id": "c1", "name": "reboot", "body": {}}, "command.name"),
        ({"id": "c1", "name": "hearing", "body": {"action": "open", "by": "x",
                                                  "case": {"number": ""}}}, "case.number"),
        ({"id": "c1", "name": "hearing", "body": {"action": "open", "by": "x", "case": {
            "number": "1", "parties": [{"role": "a", "channel": 5000}]}}}, "channel"),
    ],
)  # fmt: skip
def test_a_hostile_command_is_refused_naming_the_field(
    frame: dict[str, object], named: str
) -> None:
    with pytest.raises(wire.WireError, match=named):
        wire.decode(json.dumps({"type": "command", **frame}))


def test_hello_and_welcome_of_protocol_1_stay_as_they_were() -> None:
    assert json.loads(wire.encode(wire.Welcome(acked_seq=3))) == {"type": "welcome", "acked_seq": 3}
    old = wire.decode('{"type":"hello","courtroom":"c1","token":"t"}')
    assert isinstance(old, wire.Hello) and old.protocol == 1
    new = wire.decode(wire.encode(wire.Hello(courtroom="c1", token="t", version=2)))
    assert isinstance(new, wire.Hello) and new.protocol == 2


def test_a_result_names_a_known_outcome_and_state() -> None:
    result = wire.Result(
        id="c1", outcome="refused", message="cannot resume", state={"state": "open"}
    )
    assert wire.decode(wire.encode(result)) == result
    with pytest.raises(wire.WireError, match=r"result\.outcome"):
        wire.Result(id="c1", outcome="maybe")
    with pytest.raises(wire.WireError, match=r"result\.state\.state"):
        wire.Result(id="c1", outcome="done", state={"state": "asleep"})
