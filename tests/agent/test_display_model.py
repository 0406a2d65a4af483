"""The display's values and its sans-I/O core: exhibits, the screens' state, the page protocol.

No sockets here: the state machine and the acknowledgement ledger are driven
directly, with a clock the test moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courtroom_agent.display import DisplayError, Exhibit, ExhibitError, ExhibitKind, ViewSpec
from courtroom_agent.display.model import PageError
from courtroom_agent.display.pages import Ack, PageLedger, ViewFigures, parse_ack, percentile
from courtroom_agent.display.server import _Page
from courtroom_agent.display.state import DisplayState, Outgoing
from tests.agent.test_display_server import HEARING, final, interruption, opened


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(recent: int = 3) -> tuple[DisplayState, Clock]:
    clock = Clock()
    return DisplayState(recent=recent, clock=clock), clock


def messages(out: list[Outgoing]) -> list[dict[str, Any]]:
    return [o.message for o in out]


PDF: dict[str, Any] = {"id": "P-1", "kind": ExhibitKind.PDF, "path": "a.pdf"}
LIVE: dict[str, Any] = {"id": "P-1", "kind": ExhibitKind.LIVE}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"id": ""}, "exhibit.id must be 1-64"),
        ({"id": "P 1"}, "exhibit.id must be 1-64"),
        ({"id": "P-1", "label": "x" * 501}, "exhibit.label"),
        ({"id": "P-1", "kind": "video", "path": "a.png"}, "exhibit.kind must be one of"),
        ({"id": "P-1"}, "exhibit.path must be a file"),
        ({"id": "P-1", "path": "../a.png"}, "without '..'"),
        ({"id": "P-1", "path": "a/./b.png"}, "without '..'"),
        ({"id": "P-1", "path": "a\x00.png"}, "without '..'"),
        ({"id": "P-1", "path": "a.png", "source": "展台"}, "exhibit.source is only for a live"),
        (LIVE, "exhibit.source must name"),
        (LIVE | {"source": "展台", "path": "a"}, "path must be absent"),
        ({"id": "P-1", "path": "a.png", "page": 2}, "page is only for a PDF"),
        (PDF | {"page": 0}, "exhibit.page must be within"),
        (PDF | {"page": True}, "exhibit.page must be an integer"),
        ({"id": "P-1", "path": "a.png", "zoom": 0.1}, "exhibit.zoom must be"),
        ({"id": "P-1", "path": "a.png", "zoom": float("nan")}, "exhibit.zoom must be"),
    ],
)  # fmt: skip
def test_exhibit_invalid_field_is_named(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ExhibitError, match=None) as info:
        Exhibit(**fields)
    assert error in str(info.value)


def test_state_follows_the_hearing_and_ignores_other_kinds_and_hearings() -> None:
    screens, _ = state()
    assert screens.apply("status", {"state": "ok"}) == []
    (message,) = messages(screens.apply("hearing.opened", opened()))
    assert message["state"] == "open" and message["hearing"]["case"] == "(2026)京0105民初1234号"
    assert messages(screens.apply("hearing.recessed", interruption("mediation")))[0] | {
        "id": 0
    } == {"type": "state", "id": 0, "state": "recess", "reason": "mediation", **_hearing()}
    other = interruption() | {"hearing_id": "another"}
    assert screens.apply("hearing.resumed", other) == [] and screens.ignored == 2
    assert messages(screens.apply("hearing.resumed", interruption()))[0]["state"] == "open"
    screens.apply("transcript.final", final("休庭。"))
    assert messages(screens.apply("hearing.closed", {"hearing_id": HEARING}))[0] == {
        "type": "state",
        "id": screens.last_id,
        "state": "idle",
    }
    assert screens.snapshot(transcript=True, exhibits=True)["finals"] == []


def _hearing() -> dict[str, Any]:
    return {"hearing": {"id": HEARING, "title": "买卖合同纠纷", "case": "(2026)京0105民初1234号"}}


def test_state_a_restarted_agent_continuing_in_recess_shows_the_recess() -> None:
    screens, _ = state()
    body = opened() | {"state": "recess", "reason": "closed-evidence"}
    (message,) = messages(screens.apply("hearing.opened", body))
    assert (message["state"], message["reason"]) == ("recess", "closed-evidence")


def test_state_bad_body_is_refused_naming_the_field() -> None:
    screens, _ = state()
    screens.apply("hearing.opened", opened())
    with pytest.raises(DisplayError, match=r"transcript\.final: body\.segment\.channel"):
        screens.apply("transcript.final", final("x", channel=5000))
    with pytest.raises(DisplayError, match=r"body\.reason must be one of"):
        screens.apply("hearing.recessed", interruption("lunch"))


def test_state_keeps_the_last_finals_stamped_with_the_clock() -> None:
    screens, clock = state(recent=3)
    screens.apply("hearing.opened", opened())
    for i in range(5):
        clock.now = 200.0 + i
        screens.apply("transcript.final", final(f"第{i}句"))
    snapshot = screens.snapshot(transcript=True, exhibits=True)
    assert [f["text"] for f in snapshot["finals"]] == ["第2句", "第3句", "第4句"]
    assert screens.published_at(snapshot["finals"][0]["id"]) == 202.0
    assert screens.snapshot(transcript=False, exhibits=True)["finals"] == []


def test_state_new_hearing_clears_transcript_and_exhibit_but_a_continued_one_keeps_them() -> None:
    screens, _ = state()
    screens.apply("hearing.opened", opened())
    screens.apply("transcript.final", final("一"))
    screens.present(Exhibit(id="P-1", path="a.png"))
    assert [m["type"] for m in messages(screens.apply("hearing.opened", opened()))] == ["state"]
    assert len(screens.finals) == 1 and screens.exhibit is not None
    kinds = [m["type"] for m in messages(screens.apply("hearing.opened", opened("next")))]
    assert kinds == ["state", "exhibit"] and len(screens.finals) == 0 and screens.exhibit is None


def test_state_exhibit_page_and_zoom_follow_and_withdraw_of_a_stale_id_changes_nothing() -> None:
    screens, _ = state()
    with pytest.raises(ExhibitError, match="no exhibit is presented"):
        screens.update(page=2, zoom=None)
    screens.present(Exhibit(id="P-1", kind=ExhibitKind.PDF, path="a.pdf"))
    (message,) = messages(screens.update(page=3, zoom=2.0))
    assert (message["exhibit"]["page"], message["exhibit"]["zoom"]) == (3, 2.0)
    assert screens.update(page=3, zoom=None) == []  # nothing changed, nothing sent
    with pytest.raises(ExhibitError, match=r"exhibit\.zoom"):
        screens.update(page=None, zoom=100.0)
    assert screens.withdraw("P-9") == [] and screens.exhibit is not None
    assert messages(screens.withdraw("P-1"))[0]["exhibit"] is None
    screens.present(Exhibit(id="P-2", path="b.png"))
    with pytest.raises(ExhibitError, match="page is only for a PDF"):
        screens.update(page=2, zoom=None)


def test_state_partial_is_shown_only_while_the_hearing_is_open() -> None:
    screens, _ = state()
    partial = {"channel": 1, "role": "原告", "text": "我方认为"}
    assert screens.apply("transcript.partial", partial) == []
    screens.apply("hearing.opened", opened())
    (out,) = screens.apply("transcript.partial", partial)
    assert out.audience == "transcript" and out.message["text"] == "我方认为"
    with pytest.raises(DisplayError, match=r"body\.channel"):
        screens.apply("transcript.partial", {"channel": -1})


async def test_page_outbox_overflow_is_replaced_by_one_snapshot() -> None:
    spec = ViewSpec(title_zh="旁听席", title_en="gallery", exhibits=False)
    page = _Page("gallery", spec, ViewFigures(samples=deque()), outbox=4)
    page.resync = False
    exhibit = Outgoing({"type": "exhibit", "id": 1, "exhibit": None}, "exhibits")
    page.offer(exhibit)
    assert not page.outbox  # the gallery here shows no exhibits
    for i in range(4):
        page.offer(Outgoing({"type": "final", "id": i}, "transcript"))
    assert len(page.outbox) == 4 and not page.resync
    page.offer(Outgoing({"type": "final", "id": 9}, "transcript"))
    assert not page.outbox and page.resync and page.overflows == 1
    page.offer(Outgoing({"type": "final", "id": 10}, "transcript"))
    assert not page.outbox  # the snapshot to come includes it
    await asyncio.wait_for(page.wake.wait(), 1)


def test_ledger_measures_latency_from_publish_and_refuses_forged_acks() -> None:
    figures = ViewFigures(samples=deque(maxlen=10))
    ledger = PageLedger(figures)
    ledger.sent({"type": "final", "id": 5}, published_at=10.0)
    ledger.sent({"type": "partial", "id": 6}, published_at=None)
    ledger.sent({"type": "state", "id": 7, "state": "recess", "reason": "mediation"}, None)
    with pytest.raises(PageError, match="id 6: no final"):
        ledger.acknowledge(Ack("final", 6), 10.5)  # partials are never acknowledged
    with pytest.raises(PageError, match="id 5: no state"):
        ledger.acknowledge(Ack("state", 5), 10.5)
    ledger.acknowledge(Ack("final", 5), 10.25)
    ledger.acknowledge(Ack("state", 7), 10.3)
    report = figures.report("gallery", pages=1, refused=0)
    assert (report.finals_shown, report.latency_p50_ms, report.state) == (
        1,
        250.0,
        "recess:mediation",
    )
    with pytest.raises(PageError, match="id 5"):
        ledger.acknowledge(Ack("final", 5), 11.0)


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([3.0], 0.95)) == (
        50.0,
        95.0,
        3.0,
    )


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), st.none()))
def test_parse_ack_raises_only_page_error(data: str | bytes | None) -> None:
    try:
        ack = parse_ack(data, max_message=256)
    except PageError:
        return
    assert ack.shown in {"final", "state", "exhibit", "snapshot"} and ack.id > 0


@given(
    st.dictionaries(
        st.sampled_from(["shown", "id", "x"]),
        st.one_of(st.integers(), st.text(max_size=10), st.floats(), st.booleans(), st.none()),
    )
)
def test_parse_ack_of_any_object_raises_only_page_error(data: dict[str, Any]) -> None:
    with contextlib.suppress(PageError):
        parse_ack(json.dumps(data), max_message=256)
