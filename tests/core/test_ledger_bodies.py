"""The five-sync ledger bodies on the wire: each round-trips, and each field out of
range is refused with an error naming it — when received and when built in code."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from courtroom_core.wire import Event, decode, encode
from courtroom_core.wire_bodies import BODY_TYPES, WireError, parse_body

AT = "2026-12-05T09:00:00+00:00"
WHEN = {"hearing_id": "h-1", "time": 12.5, "at": AT}

BODIES: dict[str, dict[str, Any]] = {
    "rule.fired": {"rule": "open-records", "trigger": "hearing.opened", "actions": 2, **WHEN},
    "device.action": {
        "rule": "open-records",
        "trigger": "hearing.opened",
        "device": "deck",
        "verb": "record",
        "outcome": "confirmed",
        "policy": "incident",
        "within_ms": 2000.0,
        "args": ["hearing"],
        "part": "recording",
        "subject": "recorder:deck",
        "expect": "transport record",
        "device_ms": 310.0,
        "confirm_ms": 342.5,
        "attempts": 1,
        "message": "",
        **WHEN,
    },
    "incident": {
        "id": "inc-1",
        "kind": "recorder_failed",
        "state": "explained",
        "part": "recording",
        "source": "recorder:deck",
        "message": "录像机硬盘已满 · disk full",
        "detail": "ENOSPC",
        "explanation": "已更换硬盘",
        "by": "clerk1",
        **WHEN,
    },
    "evidence.presented": {
        "exhibit": "E1",
        "label": "证据一：合同",
        "source": "file",
        "by": "clerk1",
        "input": "doc-cam",
        "file": "contract.pdf",
        "page": 3,
        "zoom": 1.5,
        **WHEN,
    },
    "evidence.withdrawn": {"exhibit": "E1", "by": "clerk1", **WHEN},
    "evidence.log": {
        "exhibit": "E1",
        "label": "证据一",
        "source": "live",
        "since": 10.0,
        "until": 30.0,
        "input": "doc-cam",
        "screens": [
            {
                "screen": "gallery",
                "outcome": "confirmed",
                "device": "tv-1",
                "ms": 140.0,
                "message": "",
            }
        ],
        **WHEN,
    },
    "speaker.changed": {"channel": 2, "role": "原告", "held_s": 2.5, "previous": 0, **WHEN},
    "display.report": {
        "screen": "judge",
        "pages": 1,
        "shown": 40,
        "latency_p50_ms": 180.0,
        "latency_p95_ms": 420.0,
        "latency_max_ms": 900.0,
        "exhibit": "E1",
        "state": "open",
        **WHEN,
    },
    "source.state": {
        "source": "seat:0",
        "recording": False,
        "reason": "recess",
        "message": "",
        **WHEN,
    },
    "upload.report": {"unacked": 3, "lag_s": 0.8, "connected": True, **WHEN},
}

# kind → (dotted path of the field, a value out of its range)
HOSTILE: list[tuple[str, str, Any]] = [
    ("rule.fired", "actions", -1),
    ("rule.fired", "rule", "r" * 65),
    ("rule.fired", "at", "yesterday"),
    ("rule.fired", "time", float("inf")),
    ("device.action", "outcome", "exploded"),
    ("device.action", "policy", "panic"),
    ("device.action", "part", "coffee"),
    ("device.action", "within_ms", -5.0),
    ("device.action", "confirm_ms", 1e12),
    ("device.action", "attempts", 101),
    ("device.action", "args", ["a"] * 9),
    ("incident", "id", "has space"),
    ("incident", "state", "closed"),
    ("incident", "part", "everything"),
    ("incident", "explanation", "长" * 4001),
    ("incident", "message", "m" * 501),
    ("evidence.presented", "source", "usb"),
    ("evidence.presented", "page", 0),
    ("evidence.presented", "zoom", 50.0),
    ("evidence.withdrawn", "exhibit", 7),
    ("evidence.log", "since", "ten"),
    ("evidence.log", "screens", [{"screen": "s", "outcome": "shown"}]),
    ("evidence.log", "screens", [{"screen": "s", "outcome": "confirmed"}] * 65),
    ("speaker.changed", "channel", 1024),
    ("speaker.changed", "previous", -1),
    ("display.report", "pages", -2),
    ("display.report", "latency_p95_ms", -1.0),
    ("source.state", "recording", "yes"),
    ("source.state", "source", "s" * 65),
    ("upload.report", "unacked", -1),
    ("upload.report", "connected", 1),
    ("upload.report", "hearing_id", ""),
]


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_ledger_body_round_trips(kind: str) -> None:
    body = BODIES[kind]
    parsed = parse_body(kind, copy.deepcopy(body), "event.body")
    assert isinstance(parsed, BODY_TYPES[kind])
    assert parsed.to_json() == body
    again = parse_body(kind, parsed.to_json(), "event.body")
    assert again == parsed
    frame = encode(Event(seq=7, kind=kind, body=body))
    event = decode(frame)
    assert isinstance(event, Event) and event.kind == kind and event.body == body
    assert event.data == parsed


@pytest.mark.parametrize(("kind", "name", "value"), HOSTILE)
def test_ledger_body_field_out_of_range_refused_naming_it(kind: str, name: str, value: Any) -> None:
    body = copy.deepcopy(BODIES[kind]) | {name: value}
    with pytest.raises(WireError, match=rf"event\.body\.{name}"):
        parse_body(kind, body, "event.body")
    if name in ("time",):
        return  # not JSON at all: the frame encoder refuses it first
    frame = json.dumps({"type": "event", "seq": 3, "kind": kind, "body": body}, ensure_ascii=False)
    with pytest.raises(WireError, match=name):
        decode(frame)


@pytest.mark.parametrize(("kind", "name", "value"), HOSTILE)
def test_ledger_body_built_in_code_checked(kind: str, name: str, value: Any) -> None:
    cls = BODY_TYPES[kind]
    fields = copy.deepcopy(BODIES[kind])
    parsed = parse_body(kind, fields, "event.body")
    values = {f: getattr(parsed, f) for f in cls.SPEC}
    values[name] = value
    with pytest.raises(WireError, match=name):
        cls(**values)


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_ledger_body_missing_required_and_unknown_field_refused(kind: str) -> None:
    cls = BODY_TYPES[kind]
    for name, (_check, required) in cls.SPEC.items():
        if not required:
            continue
        body = {k: v for k, v in BODIES[kind].items() if k != name}
        with pytest.raises(WireError, match=rf"event\.body\.{name} is missing"):
            parse_body(kind, body, "event.body")
    with pytest.raises(WireError, match="unexpected fields"):
        parse_body(kind, BODIES[kind] | {"surprise": 1}, "event.body")
    for junk in (None, [], "text", 3):
        with pytest.raises(WireError, match=r"event\.body must be an object"):
            parse_body(kind, junk, "event.body")
