"""DeviceEvent: the audit-trail record DeviceLink emits."""

from __future__ import annotations

import json
import math

import pytest

from devices.events import MAX_MEANING, MAX_RAW, DeviceEvent, Direction


def test_device_event_json_round_trip() -> None:
    event = DeviceEvent.of(
        time=61.25,
        device="doc-camera",
        direction=Direction.TX,
        meaning="PresetRecall(preset=3)",
        raw=b"\x81\x01\x04\x3f\x02\x03\xff",
    )
    data = event.to_json()
    assert data == {
        "time": 61.25,
        "device": "doc-camera",
        "direction": "tx",
        "meaning": "PresetRecall(preset=3)",
        "raw": "8101043f0203ff",
    }
    assert DeviceEvent.from_json(json.loads(json.dumps(data))) == event
    assert event.raw == b"\x81\x01\x04\x3f\x02\x03\xff"


def test_device_event_of_shortens_long_meaning_and_raw() -> None:
    event = DeviceEvent.of(
        time=0.0, device="recorder", direction=Direction.RX, meaning="x" * 500, raw=b"\0" * 5000
    )
    assert len(event.meaning) == MAX_MEANING and event.meaning.endswith("…")
    assert len(event.raw) == MAX_RAW
    short = DeviceEvent.of(
        time=0.0, device="r", direction=Direction.RX, meaning="slots", raw=b"\0" * 5000
    )
    assert short.meaning == f"slots [5000 bytes, first {MAX_RAW} kept]"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time": math.nan}, "finite"),
        ({"device": ""}, "device name"),
        ({"raw_hex": "ABC"}, "hex"),
        ({"raw_hex": "zz"}, "hex"),
        ({"meaning": "m" * (MAX_MEANING + 1)}, "longer than"),
        ({"direction": "sideways"}, "direction"),
    ],
)
def test_device_event_rejects_invalid_fields(fields: dict[str, object], message: str) -> None:
    valid: dict[str, object] = {
        "time": 1.0,
        "device": "matrix",
        "direction": Direction.STATE,
        "meaning": "online",
        "raw_hex": "",
    }
    with pytest.raises(ValueError, match=message):
        DeviceEvent(**(valid | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        {"device": "m", "direction": "tx", "meaning": "x"},
        {"time": "soon", "device": "m", "direction": "tx", "meaning": "x"},
        {"time": True, "device": "m", "direction": "tx", "meaning": "x"},
        {"time": 1, "device": "m", "direction": "up", "meaning": "x"},
        {"time": 1, "device": 5, "direction": "tx", "meaning": "x"},
    ],
)
def test_device_event_from_json_rejects_malformed(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DeviceEvent.from_json(data)
