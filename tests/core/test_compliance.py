"""The compliance report (五同步) from hand-built ledgers: each light green, amber, red."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courtroom_core.compliance import (
    MAX_EVENTS,
    ComplianceLedger,
    compliance_report,
)
from courtroom_core.wire_bodies import FIVE_SYNC_PARTS

H = "h-1"
AT = "2026-12-05T09:00:00+00:00"
Event = tuple[str, dict[str, Any]]


def opened(**extra: Any) -> Event:
    return ("hearing.opened", {"hearing_id": H, "opened_at": AT, "ordered_by": "clerk"} | extra)


def recessed(t: float, reason: str = "recess") -> Event:
    return (
        "hearing.recessed",
        {"hearing_id": H, "reason": reason, "time": t, "at": AT, "ordered_by": "judge"},
    )


def resumed(t: float, reason: str = "recess") -> Event:
    return (
        "hearing.resumed",
        {"hearing_id": H, "reason": reason, "time": t, "at": AT, "ordered_by": "judge"},
    )


def closed(t: float, **extra: Any) -> Event:
    return ("hearing.closed", {"hearing_id": H, "closed_at": AT, "duration": t} | extra)


def source(name: str, t: float, recording: bool, reason: str | None = None) -> Event:
    body: dict[str, Any] = {
        "hearing_id": H,
        "source": name,
        "recording": recording,
        "time": t,
        "at": AT,
    }
    if reason is not None:
        body["reason"] = reason
    return ("source.state", body)


def action(part: str, outcome: str, t: float = 1.0, **extra: Any) -> Event:
    body = {
        "hearing_id": H,
        "rule": "r",
        "trigger": "hearing.opened",
        "device": "dev",
        "verb": "record",
        "outcome": outcome,
        "policy": "incident",
        "within_ms": 2000,
        "time": t,
        "at": AT,
        "part": part,
    } | extra
    return ("device.action", body)


def display(
    screen: str,
    t: float,
    *,
    pages: int = 1,
    p95: float = 200.0,
    worst: float = 400.0,
    shown: int = 10,
) -> Event:
    return (
        "display.report",
        {
            "hearing_id": H,
            "screen": screen,
            "pages": pages,
            "shown": shown,
            "time": t,
            "at": AT,
            "latency_p50_ms": 100.0,
            "latency_p95_ms": p95,
            "latency_max_ms": worst,
        },
    )


def upload(t: float, lag: float, unacked: int = 0, connected: bool = True) -> Event:
    return (
        "upload.report",
        {
            "hearing_id": H,
            "unacked": unacked,
            "lag_s": lag,
            "connected": connected,
            "time": t,
            "at": AT,
        },
    )


def incident(iid: str, part: str, state: str = "open", t: float = 5.0, **extra: Any) -> Event:
    return (
        "incident",
        {
            "hearing_id": H,
            "id": iid,
            "kind": "recorder_failed",
            "state": state,
            "part": part,
            "source": "recorder:deck",
            "message": "录像机故障",
            "time": t,
            "at": AT,
        }
        | extra,
    )


def presented(exhibit: str, t: float) -> Event:
    return (
        "evidence.presented",
        {
            "hearing_id": H,
            "exhibit": exhibit,
            "label": "证据一",
            "source": "file",
            "time": t,
            "at": AT,
        },
    )


def logged(exhibit: str, since: float, *outcomes: str, until: float | None = None) -> Event:
    body: dict[str, Any] = {
        "hearing_id": H,
        "exhibit": exhibit,
        "label": "证据一",
        "source": "file",
        "since": since,
        "time": since + 0.3,
        "at": AT,
        "screens": [{"screen": f"s{i}", "outcome": o, "ms": 120.0} for i, o in enumerate(outcomes)],
    }
    if until is not None:
        body["until"] = until
    return ("evidence.log", body)


def good_hearing() -> list[Event]:
    """A full, compliant hearing: open, a recess, resume, close at 100 s."""
    events: list[Event] = [opened()]
    for name in ("seat:0", "seat:1", "camera:cam1", "recorder:deck"):
        events.append(source(name, 0.5, True))
    events += [
        action("recording", "confirmed", 0.5, device_ms=300.0, confirm_ms=340.0),
        display("judge", 5.0),
        upload(5.0, 0.4),
        (
            "speaker.changed",
            {"hearing_id": H, "channel": 1, "role": "原告", "time": 12.0, "at": AT, "held_s": 2.0},
        ),
        action("video", "unconfirmable", 12.0),
        presented("E1", 20.0),
        logged("E1", 20.0, "confirmed", "confirmed"),
        ("evidence.withdrawn", {"hearing_id": H, "exhibit": "E1", "time": 30.0, "at": AT}),
        recessed(40.0),
    ]
    for name in ("seat:0", "seat:1", "camera:cam1", "recorder:deck"):
        events += [source(name, 39.8, False, "recess"), source(name, 60.5, True)]
    events += [resumed(60.0), display("judge", 90.0, shown=40), upload(95.0, 0.8)]
    for name in ("seat:0", "seat:1", "camera:cam1", "recorder:deck"):
        events.append(source(name, 100.0, False, "closed"))
    events.append(closed(100.0))
    return events


def lights(report: dict[str, Any]) -> dict[str, str]:
    return {part: report["lights"][part]["status"] for part in FIVE_SYNC_PARTS}


def test_report_good_hearing_all_green_and_final() -> None:
    report = compliance_report(good_hearing())
    assert lights(report) == dict.fromkeys(FIVE_SYNC_PARTS, "green"), report["lights"]
    assert report["final"] is True
    assert report["hearing_id"] == H
    assert report["session"] == {
        "state": "closed",
        "open_s": 80.0,
        "recess_s": 20.0,
        "opened_at": AT,
        "closed_at": AT,
    }
    [pause] = report["interruptions"]
    assert pause["reason"] == "recess" and pause["lawful"] is True
    assert (pause["from"], pause["to"], pause["ordered_by"]) == (40.0, 60.0, "judge")
    assert pause["label"].startswith("休庭")
    seat = report["lights"]["recording"]["sources"][0]
    assert seat["source"] == "camera:cam1" or seat["coverage"] > 0.98
    assert all(g["lawful"] for s in report["lights"]["recording"]["sources"] for g in s["gaps"])
    assert report["actions"]["total"] == 2
    assert report["actions"]["overhead_ms_p95"] == 40.0
    assert report["lights"]["video"]["unconfirmable"] == 1
    entry = report["lights"]["evidence_display"]["log"][0]
    assert (entry["exhibit"], entry["since"], entry["until"]) == ("E1", 20.0, 30.0)
    assert [s["outcome"] for s in entry["screens"]] == ["confirmed", "confirmed"]
    for part in FIVE_SYNC_PARTS:
        assert " · " in report["lights"][part]["summary"]


def test_report_any_order_and_repeats_same_answer() -> None:
    events = good_hearing()
    expected = compliance_report(events)
    shuffled = events * 2
    random.Random(7).shuffle(shuffled)
    again = compliance_report(shuffled)
    assert lights(again) == lights(expected)
    assert again["session"] == expected["session"]
    assert again["interruptions"] == expected["interruptions"]
    assert again["actions"] == expected["actions"]
    assert again["events"]["duplicates"] == len(events)


def test_report_provisional_without_close() -> None:
    events = [e for e in good_hearing() if e[0] != "hearing.closed"][:10]
    report = compliance_report(events)
    assert report["final"] is False
    assert report["session"]["state"] == "open"
    assert compliance_report(events, final=True)["final"] is True
    assert compliance_report(events, now=33.0)["now"] == 33.0


# -- recording ----------------------------------------------------------------


def _recording(*extra: Event) -> dict[str, Any]:
    events = [opened(), source("seat:0", 0.2, True), *extra, closed(50.0)]
    return compliance_report(events)["lights"]["recording"]


def test_recording_green_with_startup_inside_grace() -> None:
    light = _recording()
    assert light["status"] == "green"
    assert light["sources"][0]["gaps"] == []
    assert light["coverage_min"] == pytest.approx(49.8 / 50, abs=1e-3)


def test_recording_red_unlawful_seat_gap() -> None:
    light = _recording(source("seat:0", 10.0, False, "disk-full"), source("seat:0", 13.0, True))
    assert light["status"] == "red"
    [gap] = light["sources"][0]["gaps"]
    assert gap == {
        "from": 10.0,
        "to": 13.0,
        "s": 3.0,
        "reason": "disk-full",
        "lawful": False,
        "incident": None,
    }
    assert "seat:0" in light["summary"]


def test_recording_gap_names_incident() -> None:
    events = [
        opened(),
        source("recorder:deck", 0.1, True),
        source("recorder:deck", 10.0, False),
        incident("inc-1", "recording", t=10.2),
        source("recorder:deck", 20.0, True),
        closed(30.0),
    ]
    light = compliance_report(events)["lights"]["recording"]
    assert light["status"] == "red"
    assert light["sources"][0]["gaps"][0]["incident"] == "inc-1"


def test_recording_amber_short_gap_and_camera_gap() -> None:
    short = _recording(source("seat:0", 10.0, False), source("seat:0", 10.5, True))
    assert short["status"] == "amber"
    camera = _recording(
        source("camera:c1", 0.1, True),
        source("camera:c1", 20.0, False),
        source("camera:c1", 25.0, True),
    )
    assert camera["status"] == "amber"
    assert "camera:c1" in camera["summary"]


def test_recording_red_failed_recorder_amber_unconfirmed() -> None:
    assert _recording(action("recording", "failed"))["status"] == "red"
    assert _recording(action("recording", "unconfirmed"))["status"] == "amber"
    assert _recording(action("recording", "unconfirmable"))["status"] == "amber"


def test_recording_amber_when_open_with_no_source() -> None:
    report = compliance_report([opened(), closed(30.0)])
    assert report["lights"]["recording"]["status"] == "amber"
    assert compliance_report([])["lights"]["recording"]["status"] == "green"


def test_recording_lawful_stop_just_before_recess_is_no_gap() -> None:
    light = _recording(
        source("seat:0", 19.5, False, "recess"),
        recessed(20.0),
        resumed(30.0),
        source("seat:0", 30.4, True),
    )
    assert light["status"] == "green"
    [gap] = light["sources"][0]["gaps"]
    assert gap["lawful"] and gap["reason"] == "recess" and (gap["from"], gap["to"]) == (20.0, 30.0)


# -- transcript display -------------------------------------------------------------


def _transcript(*extra: Event) -> dict[str, Any]:
    return compliance_report([opened(), *extra, closed(60.0)])["lights"]["transcript_display"]


def test_transcript_display_green() -> None:
    light = _transcript(display("judge", 10.0), display("gallery", 11.0, shown=12))
    assert light["status"] == "green"
    assert light["shown"] == 22 and light["latency_p95_ms"] == 200.0


def test_transcript_display_red_blank_screen_or_slow() -> None:
    blank = _transcript(display("judge", 10.0), display("gallery", 11.0, pages=0))
    assert blank["status"] == "red" and "gallery" in blank["summary"]
    assert _transcript(display("judge", 10.0, p95=1500.0))["status"] == "red"
    assert _transcript(action("transcript_display", "failed"))["status"] == "red"


def test_transcript_display_blank_in_recess_is_fine() -> None:
    light = _transcript(
        display("judge", 5.0),
        recessed(20.0),
        display("judge", 25.0, pages=0),
        resumed(30.0),
        display("judge", 35.0),
    )
    assert light["status"] == "green"


def test_transcript_display_amber() -> None:
    assert _transcript(display("judge", 10.0, worst=1800.0))["status"] == "amber"
    assert _transcript()["status"] == "amber"  # 60 s open, no screen reported
    assert (
        _transcript(display("j", 5.0), action("transcript_display", "unconfirmed"))["status"]
        == "amber"
    )


# -- evidence display ----------------------------------------------------------------


def _evidence(*extra: Event, final: bool | None = None) -> dict[str, Any]:
    report = compliance_report([opened(), *extra, upload(60.0, 0.1)], final=final)
    return report["lights"]["evidence_display"]


def test_evidence_display_green_and_none() -> None:
    light = _evidence(presented("E1", 5.0), logged("E1", 5.0, "confirmed", "unconfirmable"))
    assert light["status"] == "green" and light["presentations"] == 1
    nothing = _evidence()
    assert nothing["status"] == "green" and nothing["summary"] == "无举证 · no exhibits"


def test_evidence_display_red_failed_screen() -> None:
    light = _evidence(
        presented("E1", 5.0),
        logged("E1", 5.0, "confirmed", "failed"),
        incident("inc-2", "evidence_display", t=5.5),
    )
    assert light["status"] == "red"
    assert light["log"][0]["screens"][1]["outcome"] == "failed"


def test_evidence_display_amber_unconfirmed_or_unlogged() -> None:
    assert _evidence(logged("E1", 5.0, "unconfirmed"))["status"] == "amber"
    assert _evidence(presented("E1", 5.0))["status"] == "amber"  # never logged, 55 s later
    fresh = compliance_report([opened(), presented("E1", 5.0)])["lights"]["evidence_display"]
    assert fresh["status"] == "green"  # still within the time to log it


# -- video ----------------------------------------------------------------------------


def _video(*extra: Event) -> dict[str, Any]:
    return compliance_report([opened(), source("camera:c1", 0.1, True), *extra, closed(60.0)])[
        "lights"
    ]["video"]


def test_video_green_with_pelco_unconfirmable() -> None:
    light = _video(action("video", "unconfirmable"), action("video", "confirmed"))
    assert light["status"] == "green" and light["unconfirmable"] == 1 and light["moves"] == 2


def test_video_red_failed_or_long_camera_gap() -> None:
    assert _video(action("video", "failed"))["status"] == "red"
    gap = _video(source("camera:c1", 10.0, False), source("camera:c1", 25.0, True))
    assert gap["status"] == "red"


def test_video_amber_unconfirmed_or_short_gap() -> None:
    assert _video(action("video", "unconfirmed"))["status"] == "amber"
    gap = _video(source("camera:c1", 10.0, False), source("camera:c1", 13.0, True))
    assert gap["status"] == "amber"


# -- data upload ------------------------------------------------------------------------


def _upload(*extra: Event, close: bool = True) -> dict[str, Any]:
    events = [opened(), *extra] + ([closed(100.0)] if close else [])
    return compliance_report(events)["lights"]["data_upload"]


def test_data_upload_green() -> None:
    light = _upload(upload(10.0, 1.0), upload(20.0, 5.0, unacked=3))
    assert light["status"] == "green" and light["max_lag_s"] == 5.0
    assert _upload()["summary"] == "无上传报告 · nothing reported"


def test_data_upload_amber_lag_or_disconnected_now() -> None:
    assert _upload(upload(10.0, 12.0))["status"] == "amber"
    assert _upload(upload(10.0, 1.0, 4, connected=False), close=False)["status"] == "amber"


def test_data_upload_red_long_lag_or_disconnected_at_close() -> None:
    assert _upload(upload(10.0, 75.0))["status"] == "red"
    light = _upload(upload(99.0, 2.0, 7, connected=False))
    assert light["status"] == "red" and "闭庭" in light["summary"]


# -- incidents and interruptions -----------------------------------------------------


def test_incident_latest_state_whatever_the_order() -> None:
    raised = incident("inc-1", "recording")
    explained = incident(
        "inc-1", "recording", "explained", t=90.0, explanation="录像机硬盘已满, 已更换", by="clerk"
    )
    signed = incident("inc-1", "recording", "signed", t=95.0, by="judge")
    for events in ([raised, explained, signed], [signed, explained, raised]):
        report = compliance_report([opened(), *events, closed(100.0)])
        [entry] = report["incidents"]
        assert entry["state"] == "signed"
        assert entry["explanation"] == "录像机硬盘已满, 已更换"
        assert (entry["explained_by"], entry["signed_by"]) == ("clerk", "judge")
        assert entry["time"] == 5.0 and entry["message"] == "录像机故障"
        assert report["open_incidents"] == 0
    report = compliance_report([opened(), raised, explained])
    assert report["open_incidents"] == 1
    assert report["lights"]["recording"]["status"] == "red"


def test_interrupted_run_is_an_unlawful_interruption() -> None:
    events = [
        opened(),
        source("seat:0", 0.1, True),
        closed(30.0, interrupted=True, error="disk"),
        opened(resumed_from=45.0, resumed_at=AT),
        source("seat:0", 45.2, True),
        closed(60.0),
    ]
    report = compliance_report(events)
    [down] = report["interruptions"]
    assert down["lawful"] is False and down["reason"] is None
    assert (down["from"], down["to"], down["error"]) == (30.0, 45.0, "disk")
    assert report["session"]["open_s"] == 60.0
    assert report["lights"]["recording"]["status"] == "red"  # seat:0 silent 30 → 45
    assert report["final"] is True


# -- hostile input -------------------------------------------------------------------


def test_hostile_events_counted_and_skipped() -> None:
    events: list[Any] = [
        opened(),
        ("source.state", {"source": "seat:0", "recording": "yes", "time": 1, "at": AT}),
        ("device.action", {"outcome": "exploded"}),
        ("incident", "not an object"),
        (
            "source.state",
            {"hearing_id": "other", "source": "seat:0", "recording": True, "time": 1.0, "at": AT},
        ),
        ("transcript.final", {"anything": 1}),
        ("upload.report", {"unacked": -1, "lag_s": 1, "time": 1, "at": AT}),
        (
            "display.report",
            {"screen": "x", "pages": 1, "shown": 1, "time": float("nan"), "at": AT},
        ),
        closed(10.0),
    ]
    report = compliance_report(events)
    assert report["events"]["rejected"] == 5
    assert report["events"]["other_hearing"] == 1
    assert report["events"]["read"] == 2
    assert report["final"] is True


def test_ledger_bounded() -> None:
    ledger = ComplianceLedger(H)
    ledger.add(*opened())
    for i in range(MAX_EVENTS + 10):
        ledger.add(*upload(float(i), 0.1, i % 7))
    report = ledger.report()
    assert report["events"]["read"] == MAX_EVENTS
    assert report["events"]["dropped"] == 11


# -- fuzz -------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _mutated(draw: st.DrawFn) -> Event:
    kind, body = draw(st.sampled_from([*good_hearing(), incident("i", "video")]))
    body = dict(body)
    if body and draw(st.booleans()):
        body[draw(st.sampled_from(sorted(body)))] = draw(_JSON)
    if draw(st.booleans()):
        body.pop(draw(st.sampled_from(sorted(body))), None)
    return kind, body


@settings(max_examples=150, deadline=None)
@given(st.lists(_mutated(), max_size=40))
def test_report_any_hostile_ledger_gives_a_report(events: list[Event]) -> None:
    report = compliance_report(events)
    assert set(report["lights"]) == set(FIVE_SYNC_PARTS)
    for light in report["lights"].values():
        assert light["status"] in {"green", "amber", "red"}
        assert " · " in light["summary"]
    assert report["open_incidents"] <= len(report["incidents"])
    assert report["session"]["open_s"] >= 0 and report["session"]["recess_s"] >= 0
    json.dumps(report, allow_nan=False)  # the report is always valid JSON
