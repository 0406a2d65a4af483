"""The agent's own alarms are built in the wire's one alarm shape."""

from __future__ import annotations

import pytest

from courtroom_agent.alarms import AgentAlarm, agent_alarm
from courtroom_core.wire import Event, WireError, decode, encode


def test_agent_alarm_hearing_interrupted_raise_and_clear() -> None:
    raised = agent_alarm(
        AgentAlarm.HEARING_INTERRUPTED,
        active=True,
        hearing_id="h-1",
        time=12.34567,
        error=OSError("disk gone"),
    )
    assert raised.to_json() == {
        "kind": "hearing_interrupted",
        "active": True,
        "severity": "critical",
        "source": "hearing",
        "hearing_id": "h-1",
        "time": 12.346,
        "message": "庭审录制中断 · hearing recording interrupted",
        "detail": "OSError: disk gone",
    }
    cleared = agent_alarm("hearing_interrupted", active=False, hearing_id="h-1", time=20.0)
    assert cleared.key == raised.key and "恢复" in cleared.message and cleared.detail is None


def test_agent_alarm_transcription_failed_travels_unchanged() -> None:
    alarm = agent_alarm(
        AgentAlarm.TRANSCRIPTION_FAILED, active=True, hearing_id="h-1", error="x" * 2000
    )
    assert (alarm.source, alarm.severity) == ("transcription", "warning")
    assert alarm.detail == "x" * 500  # cut to the wire's bound
    event = decode(encode(Event(seq=1, kind="av.alarm", body=alarm.to_json())))
    assert isinstance(event, Event) and event.data == alarm


def test_agent_alarm_refuses_unknown_kind_and_bad_hearing_id() -> None:
    with pytest.raises(ValueError, match="not_an_alarm"):
        agent_alarm("not_an_alarm", active=True)
    with pytest.raises(WireError, match=r"event\.body\.hearing_id exceeds 128"):
        agent_alarm(AgentAlarm.HUB_UNTRUSTED, active=True, hearing_id="h" * 129)
