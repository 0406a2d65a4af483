"""The live five lights: one fold per courtroom, at most one message per interval."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.compliance_live import ComplianceBoard
from tests.core.test_compliance import H, incident, opened, source, upload


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.due: list[tuple[float, Callable[[], None]]] = []

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        self.due.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for item in [d for d in self.due if d[0] <= self.now]:
            self.due.remove(item)
            item[1]()


def board() -> tuple[ComplianceBoard, Clock, list[tuple[str, dict[str, Any]]]]:
    clock, sent = Clock(), []
    made = ComplianceBoard(
        lambda c, m: sent.append((c, m)),
        interval=1.0,
        clock=lambda: clock.now,
        schedule=clock.schedule,
    )
    return made, clock, sent


def test_board_throttles_to_one_message_per_interval_with_the_newest_state() -> None:
    lights, clock, sent = board()
    lights.add("c1", *opened())
    assert len(sent) == 1  # the first change goes at once
    for i in range(50):
        lights.add("c1", *upload(float(i), 0.1))
    assert len(sent) == 1 and len(clock.due) == 1  # one send pending, not fifty
    lights.add("c1", *incident("inc-1", "recording"))
    clock.advance(1.0)
    assert len(sent) == 2
    assert sent[-1][1]["open_incidents"] == 1  # the newest state
    assert lights.latest("c1") == sent[-1][1]
    clock.advance(5.0)
    assert len(sent) == 2  # nothing changed, nothing sent


def test_board_repeats_and_other_kinds_send_nothing() -> None:
    lights, clock, sent = board()
    lights.add("c1", *opened())
    clock.advance(2.0)
    lights.add("c1", *opened())  # a repeat
    lights.add("c1", "transcript.final", {"hearing_id": H, "segment": {}})
    lights.add("c1", "status", {"hearing_id": H})
    clock.advance(2.0)
    assert len(sent) == 1


def test_board_new_hearing_starts_afresh_and_keeps_courtrooms_apart() -> None:
    lights, clock, sent = board()
    lights.add("c1", *incident("inc-1", "recording"))
    lights.add("c2", *opened())
    assert {c for c, _ in sent} == {"c1", "c2"}
    clock.advance(2.0)
    lights.add("c1", "hearing.opened", {"hearing_id": "h-2"})
    clock.advance(2.0)
    assert sent[-1][1]["hearing_id"] == "h-2" and sent[-1][1]["open_incidents"] == 0
    # A late event of the old hearing does not replace the new hearing's fold.
    lights.add("c1", *source("seat:0", 1.0, True))
    clock.advance(2.0)
    assert lights.latest("c1")["hearing_id"] == "h-2"  # type: ignore[index]
