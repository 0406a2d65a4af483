"""The agent ⇄ hub wire format: byte vectors both ways, refusals, fuzzing."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courtroom_core import wire
from courtroom_core.wire import Ack, Event, Hello, Partial, Welcome, WireError, decode, encode

VECTORS: list[tuple[wire.Message, str]] = [
    (
        Hello(courtroom="fy-01", token="s3cret"),
        '{"type":"hello","courtroom":"fy-01","token":"s3cret","agent":"courtroom-agent"}',
    ),
    (Welcome(acked_seq=41), '{"type":"welcome","acked_seq":41}'),
    (Ack(seq=42), '{"type":"ack","seq":42}'),
    (
        Event(seq=1, kind="hearing.opened", body={"hearing_id": "h1", "title": "庭审"}),
        '{"type":"event","seq":1,"kind":"hearing.opened",'
        '"body":{"hearing_id":"h1","title":"庭审"}}',
    ),
    (
        Partial(hearing_id="h1", channel=2, role="被告", start=1.5, text="我不同意"),
        '{"type":"partial","hearing_id":"h1","channel":2,"role":"被告","start":1.5,'
        '"text":"我不同意"}',
    ),
    (
        Partial(hearing_id="h1", channel=0, role="审判长", start=0.5, text="开庭", end=1.25),
        '{"type":"partial","hearing_id":"h1","channel":0,"role":"审判长","start":0.5,'
        '"text":"开庭","end":1.25}',
    ),
]


@pytest.mark.parametrize(("message", "frame"), VECTORS)
def test_wire_vectors_both_ways(message: wire.Message, frame: str) -> None:
    assert encode(message) == frame
    assert decode(frame) == message


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"type":"ack","seq":1}', "binary"),
        ("not json", "not valid JSON"),
        ("[1,2]", "JSON object"),
        ('{"type":"nope"}', "unknown message type"),
        ('{"seq":1}', "unknown message type"),
        ('{"type":"ack","seq":1,"extra":2}', "unexpected fields"),
        ('{"type":"ack"}', "ack.seq is missing"),
        ('{"type":"ack","seq":"1"}', "wrong type"),
        ('{"type":"ack","seq":true}', "wrong type"),
        ('{"type":"ack","seq":-1}', r"ack.seq must be within 0\.\."),
        ('{"type":"event","seq":0,"kind":"status","body":{}}', r"event.seq must be within 1\.\."),
        ('{"type":"event","seq":1,"kind":"rm -rf","body":{}}', "event.kind"),
        ('{"type":"event","seq":1,"kind":"transcript.final","body":{}}', "hearing_id"),
        (
            '{"type":"event","seq":1,"kind":"transcript.final","body":{"hearing_id":"h"}}',
            "segment",
        ),
        ('{"type":"hello","courtroom":"a b","token":"t"}', "courtroom must be"),
        ('{"type":"hello","courtroom":"a","token":""}', "token"),
        ('{"type":"partial","hearing_id":"h","channel":0,"role":"r","start":NaN,"text":""}', "NaN"),
        ('{"type":"ack","seq":1}' + " " * wire.MAX_FRAME_BYTES, "exceeds"),
    ],
)
def test_wire_decode_refuses_with_reason(frame: str | bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode(frame)


def test_wire_encode_refuses_oversized_event() -> None:
    body = {"hearing_id": "h", "title": "字" * wire.MAX_FRAME_BYTES}
    with pytest.raises(WireError, match="exceeds"):
        encode(Event(seq=1, kind="hearing.opened", body=body))


def test_wire_decode_with_trailing_junk_is_refused() -> None:
    with pytest.raises(WireError):
        decode('{"type":"ack","seq":1}}')


@given(st.text(max_size=300))
def test_wire_decode_raises_only_wire_error(frame: str) -> None:
    with contextlib.suppress(WireError):
        decode(frame)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    ),
    st.sampled_from(["hello", "event", "partial", "welcome", "ack", None]),
)
def test_wire_decode_structured_garbage_raises_only_wire_error(
    value: object, kind: str | None
) -> None:
    payload = value if not isinstance(value, dict) or kind is None else {**value, "type": kind}
    with contextlib.suppress(WireError):
        decode(json.dumps(payload))


def test_wire_thumbnail_round_trip_and_image() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 10
    message = wire.Thumbnail(
        hearing_id="h1", camera="CAM-1", time=12.5, jpeg="/9j/4Hh4eHh4eHh4eHg="
    )
    frame = encode(message)
    assert frame == (
        '{"type":"thumbnail","hearing_id":"h1","camera":"CAM-1","time":12.5,'
        '"jpeg":"/9j/4Hh4eHh4eHh4eHg="}'
    )
    decoded = decode(frame)
    assert decoded == message and isinstance(decoded, wire.Thumbnail)
    assert decoded.image() == jpeg


@pytest.mark.parametrize(
    ("jpeg", "reason"), [("not base64!", "not base64"), ("aGVsbG8=", "not a JPEG")]
)
def test_wire_thumbnail_image_refuses(jpeg: str, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        wire.Thumbnail(hearing_id="h", camera="c", time=0.0, jpeg=jpeg).image()


def test_wire_thumbnail_refuses_oversized_and_bad_camera() -> None:
    with pytest.raises(WireError, match="exceeds"):
        wire.Thumbnail(
            hearing_id="h", camera="c", time=0.0, jpeg="A" * (wire.MAX_THUMBNAIL_BYTES * 2)
        )
    with pytest.raises(WireError, match="camera"):
        wire.Thumbnail(hearing_id="h", camera="a/b", time=0.0, jpeg="")


# -- issue 11: every value checked once, at the wire ---------------------------

SEGMENT = {
    "start": 1.5,
    "end": 3.25,
    "channel": 1,
    "role": "审判长",
    "text": "现在开庭",
    "confidence": 0.93,
    "words": [{"word": "现在", "start": 1.5, "end": 2.0, "conf": 0.9}],
}
BODIES: dict[str, dict[str, object]] = {
    "hearing.opened": {
        "hearing_id": "fy-01-20250301",
        "title": "民事一审",
        "opened_at": "2025-03-01T09:00:00+08:00",
        "roles": ["审判长", "原告", "被告"],
        "resumed_at": "2025-03-01T09:30:00+08:00",
        "resumed_from": 1800.5,
    },
    "hearing.closed": {
        "hearing_id": "fy-01-20250301",
        "closed_at": "2025-03-01T11:00:00+08:00",
        "duration": 7200.0,
        "interrupted": True,
        "error": "OSError: disk full",
    },
    "transcript.final": {"hearing_id": "fy-01-20250301", "segment": SEGMENT},
    "status": {
        "state": "recording",
        "hearing_id": None,
        "lag": 0.25,
        "microphones": [{"channel": 0, "dbfs": -32.5, "ok": True}],
        "recording": {"free_bytes": 2**40, "gaps": []},
    },
    "device": {
        "time": 12.5,
        "device": "matrix",
        "direction": "tx",
        "meaning": "切换 1→2",
        "raw": "0d0a",
    },
    "av.alarm": {
        "kind": "dead_mic",
        "active": True,
        "severity": "critical",
        "source": "microphone",
        "subject": "2",
        "role": "被告",
        "hearing_id": "fy-01-20250301",
        "time": 61.0,
        "message": "被告麦克风无信号 · 被告 microphone silent",
    },
    "camera": {
        "hearing_id": "fy-01-20250301",
        "camera": "CAM-1",
        "type": "gap",
        "start": 25.0,
        "end": 30.0,
    },
}


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_wire_every_body_kind_both_ways(kind: str) -> None:
    body = BODIES[kind]
    event = Event(seq=7, kind=kind, body=body)
    frame = encode(event)
    assert frame == json.dumps(
        {"type": "event", "seq": 7, "kind": kind, "body": body},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    decoded = decode(frame)
    assert decoded == event and isinstance(decoded, Event)
    assert isinstance(decoded.data, wire.BODY_TYPES[kind])


def test_wire_final_body_is_typed() -> None:
    event = Event(seq=1, kind="transcript.final", body=BODIES["transcript.final"])
    data = event.data
    assert isinstance(data, wire.TranscriptFinal)
    assert data.segment == wire.Segment(
        start=1.5,
        end=3.25,
        channel=1,
        role="审判长",
        text="现在开庭",
        confidence=0.93,
        words=(wire.Word(word="现在", start=1.5, end=2.0, conf=0.9),),
    )


def event_frame(kind: str, body: object, seq: str = "1") -> str:
    return f'{{"type":"event","seq":{seq},"kind":"{kind}","body":{json.dumps(body)}}}'


def final_frame(**segment: object) -> str:
    return event_frame("transcript.final", {"hearing_id": "h", "segment": SEGMENT | segment})


def deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (final_frame(start="nan"), "event.body.segment.start must be a finite number"),
        (final_frame(channel=1e20), "event.body.segment.channel must be an integer"),
        (final_frame(channel=2000), r"event.body.segment.channel must be within 0\.\.1023"),
        (final_frame(channel=10**20), "event.body.segment.channel must be within the signed 64"),
        (final_frame(confidence=1.5), r"event.body.segment.confidence must be within 0\.\.1"),
        (final_frame(end=1e10), "event.body.segment.end must be within"),
        (
            final_frame(words=[{"word": "x", "start": 0, "end": 1, "conf": 2}]),
            r"event.body.segment.words\[0\].conf must be within",
        ),
        (final_frame(text="字" * (wire.MAX_STRING + 1)), "segment.text exceeds 16384"),
        (final_frame(role="r" * 65), "segment.role exceeds 64"),
        (final_frame(speaker="x"), "unexpected fields"),
        (
            final_frame().replace('"confidence": 0.93', '"confidence": 1e400'),
            "event.body.segment.confidence must be a finite number",
        ),
        (
            event_frame("status", {"state": "ok"}).replace('"ok"}', '"ok","lag":1e400}'),
            "event.body.lag must be a finite number",
        ),
        (event_frame("status", {"n": 2**63}), "event.body.n must be within the signed 64-bit"),
        (event_frame("status", {"n": deep(20)}), "nested deeper than 16"),
        (event_frame("status", {"k" * 65: 1}), "key longer than 64"),
        (event_frame("status", {"list": [0] * 4097}), "more than 4096 items"),
        (event_frame("status", {"state": "s" * 65}), "event.body.state exceeds 64"),
        (event_frame("hearing.opened", {"hearing_id": "h" * 129}), "hearing_id exceeds 128"),
        (event_frame("hearing.opened", {"hearing_id": ""}), "hearing_id must not be empty"),
        (
            event_frame("hearing.opened", {"hearing_id": "h", "opened_at": "yesterday"}),
            "opened_at must be an ISO-8601 time",
        ),
        (event_frame("hearing.closed", {"hearing_id": "h", "duration": -1}), "duration"),
        (event_frame("av.alarm", {"hearing_id": "h"}), "event.body.kind is missing"),
        (
            event_frame("av.alarm", {**BODIES["av.alarm"], "channel": 2}),
            r"event.body: unexpected fields \['channel'\]",
        ),
        (
            event_frame("av.alarm", {**BODIES["av.alarm"], "active": "yes"}),
            "event.body.active must be true or false",
        ),
        (
            event_frame("av.alarm", {**BODIES["av.alarm"], "message": "m" * 501}),
            "event.body.message exceeds 500",
        ),
        (
            event_frame("av.alarm", {**BODIES["av.alarm"], "detail": "d" * 501}),
            "event.body.detail exceeds 500",
        ),
        (
            event_frame("av.alarm", {"kind": "dead_mic", "state": "loud", "channel": 1}),
            "event.body.state must be one of cleared, raised",
        ),
        (
            event_frame("av.alarm", {"kind": "dead_mic", "state": "raised", "channel": -1}),
            "event.body.channel must be within",
        ),
        (event_frame("camera", {"hearing_id": "h", "camera": "a/b"}), "camera must be"),
        (event_frame("device", {"time": 1}), "event.body.device is missing"),
        (event_frame("status", {}, seq=str(2**63)), r"event.seq must be within 1\.\."),
        (event_frame("status", {}, seq="1e3"), "event.seq has the wrong type"),
        ('{"type":"welcome","acked_seq":9223372036854775808}', "welcome.acked_seq must be"),
        ('{"type":"ack","seq":9223372036854775808}', "ack.seq must be within"),
        ('{"type":"ack","seq":1' + "0" * 5000 + "}", "not valid JSON"),
        ('{"type":"hello","courtroom":"c","token":"' + "t" * 1025 + '"}', "token exceeds"),
        (
            '{"type":"partial","hearing_id":"h","channel":0,"role":"r","start":1e400,"text":""}',
            "partial.start must be a finite number",
        ),
        (
            '{"type":"partial","hearing_id":"h","channel":-1,"role":"r","start":0,"text":""}',
            "partial.channel must be within",
        ),
        ('{"type":"thumbnail","hearing_id":"h","camera":"c","time":1e400,"jpeg":""}', "time"),
        ("[" * 5000 + "]" * 5000, "not valid JSON|JSON object"),
    ],
)
def test_wire_decode_refuses_out_of_range_naming_the_field(frame: str, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode(frame)


def test_wire_body_error_carries_seq_kind_and_raw_body() -> None:
    with pytest.raises(wire.BodyError) as info:
        decode(final_frame(start="nan").replace('"seq":1', '"seq":42'))
    assert (info.value.seq, info.value.kind) == (42, "transcript.final")
    assert json.loads(info.value.raw)["segment"]["start"] == "nan"


def test_wire_every_prefix_of_a_frame_is_refused() -> None:
    frame = encode(Event(seq=3, kind="transcript.final", body=BODIES["transcript.final"]))
    for end in range(len(frame)):
        with pytest.raises(WireError):
            decode(frame[:end])


def test_wire_digest_ignores_key_order_but_not_values() -> None:
    body = BODIES["av.alarm"]
    reordered = dict(reversed(list(body.items())))
    assert wire.digest("av.alarm", body) == wire.digest("av.alarm", reordered)
    assert wire.digest("av.alarm", body) != wire.digest("camera", body)
    assert wire.digest("av.alarm", body) != wire.digest("av.alarm", body | {"channel": 3})


def _mutations(value: object) -> st.SearchStrategy[object]:
    """``value`` with one leaf replaced by an arbitrary (possibly hostile) JSON value."""
    hostile = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
        | st.lists(st.integers(), max_size=3)
    )
    if isinstance(value, dict) and value:
        return st.sampled_from(sorted(value)).flatmap(
            lambda key: _mutations(value[key]).map(lambda new: {**value, key: new})
        ) | hostile.map(lambda new: {**value, "extra": new})
    if isinstance(value, list) and value:
        return _mutations(value[0]).map(lambda new: [new, *value[1:]])
    return hostile


NEAR_VALID: list[object] = [
    *({"type": "event", "seq": 5, "kind": kind, "body": body} for kind, body in BODIES.items()),
    {"type": "welcome", "acked_seq": 5},
    {"type": "ack", "seq": 5},
    {"type": "hello", "courtroom": "fy-01", "token": "t", "agent": "courtroom-agent"},
    {"type": "partial", "hearing_id": "h", "channel": 0, "role": "r", "start": 0.5, "text": "开"},
    {"type": "thumbnail", "hearing_id": "h", "camera": "C", "time": 1.0, "jpeg": "/9j/"},
]


@given(st.sampled_from(NEAR_VALID).flatmap(_mutations))
def test_wire_near_valid_frames_decode_or_raise_wire_error_and_round_trip(
    payload: object,
) -> None:
    """Both sides' decode: only WireError, and whatever decodes re-encodes to itself."""
    try:
        message = decode(json.dumps(payload, ensure_ascii=False))
    except WireError:
        return
    assert decode(encode(message)) == message


@given(st.binary(max_size=300))
def test_wire_decode_of_arbitrary_bytes_as_text_raises_only_wire_error(data: bytes) -> None:
    for frame in (data, data.decode("utf-8", errors="surrogateescape")):
        with contextlib.suppress(WireError):
            message = decode(frame)
            assert decode(encode(message)) == message


def test_wire_bodies_built_in_code_validate_on_construction() -> None:
    with pytest.raises(WireError, match=r"event.body.segment.channel must be within 0\.\.1023"):
        wire.Segment(start=0.0, end=1.0, channel=5000, role="r", text="t")
    with pytest.raises(WireError, match=r"word\.conf must be a finite number"):
        wire.Word(word="w", start=0.0, end=1.0, conf=math.nan)
    with pytest.raises(WireError, match=r"event\.body\.hearing_id must not be empty"):
        wire.HearingOpened(hearing_id="")
    with pytest.raises(WireError, match=r"event\.body\.lag must be a finite number"):
        wire.StatusReport(extra={"lag": math.inf})
    with pytest.raises(WireError, match=r"event\.body\.severity must be one of critical"):
        wire.Alarm(kind="k", active=True, severity="loud", source="agent", message="m")
    with pytest.raises(WireError, match=r"event\.body\.source must be one of agent"):
        wire.Alarm(kind="k", active=True, severity="info", source="moon", message="m")
    assert wire.HearingOpened(hearing_id="h", roles=("审判长",)).roles == ("审判长",)


LEGACY_ALARMS = [
    # (kind, body of an agent before protocol 2, the one shape it is read as)
    (
        "av.alarm",
        {"kind": "dead_mic", "state": "raised", "hearing_time": 61.0, "channel": 2,
         "role": "被告", "message": "被告麦克风无信号", "hearing_id": "h"},
        {"kind": "dead_mic", "active": True, "severity": "critical", "source": "microphone",
         "subject": "2", "role": "被告", "hearing_id": "h", "time": 61.0,
         "message": "被告麦克风无信号"},
    ),
    (
        "av.alarm",
        {"kind": "all_silent", "state": "cleared", "hearing_time": 9.0, "channel": None,
         "role": None, "message": "恢复", "hearing_id": "h"},
        {"kind": "all_silent", "active": False, "severity": "critical", "source": "microphone",
         "hearing_id": "h", "time": 9.0, "message": "恢复"},
    ),
    (
        "av.alarm",
        {"kind": "disk_low", "active": True, "severity": "warning", "message": "磁盘",
         "hearing_id": "h", "hearing_frame": 48000, "free_bytes": 10, "free_seconds": 1.5},
        {"kind": "disk_low", "active": True, "severity": "warning", "source": "recorder",
         "hearing_id": "h", "message": "磁盘"},
    ),
    (
        "av.alarm",
        {"kind": "hearing_interrupted", "active": True, "severity": "critical",
         "hearing_id": "h", "time": 3.5, "message": "中断", "error": "OSError: gone"},
        {"kind": "hearing_interrupted", "active": True, "severity": "critical",
         "source": "hearing", "hearing_id": "h", "time": 3.5, "message": "中断",
         "detail": "OSError: gone"},
    ),
    (
        "camera",
        {"type": "alarm", "camera": "CAM-1", "kind": "frozen", "active": True, "time": 30.0,
         "since": 25.0, "message": "静止", "hearing_id": "h"},
        {"kind": "frozen", "active": True, "severity": "warning", "source": "camera",
         "subject": "CAM-1", "hearing_id": "h", "time": 30.0, "since": 25.0, "message": "静止"},
    ),
    (
        "camera",
        {"type": "state", "camera": "CAM-1", "state": "offline", "time": 31.0,
         "reason": "read failed", "message": "离线", "hearing_id": "h"},
        {"kind": "offline", "active": True, "severity": "critical", "source": "camera",
         "subject": "CAM-1", "hearing_id": "h", "time": 31.0, "message": "离线",
         "detail": "read failed"},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "old", "new"), LEGACY_ALARMS)
def test_wire_alarms_of_every_old_shape_are_read_as_the_one_shape(
    kind: str, old: dict[str, object], new: dict[str, object]
) -> None:
    alarm = wire.alarm_of(kind, old)
    assert alarm is not None and alarm.to_json() == new
    # The mapped alarm is a valid body of today's protocol, read back unchanged.
    assert decode(encode(Event(seq=1, kind="av.alarm", body=alarm.to_json()))) == Event(
        seq=1, kind="av.alarm", body=new
    )
    if kind == "av.alarm":  # an old agent's alarm still decodes (mapped), never quarantined
        event = decode(encode(Event(seq=1, kind=kind, body=old)))
        assert isinstance(event, Event) and event.data == alarm


def test_wire_camera_gap_carries_no_alarm() -> None:
    assert wire.alarm_of("camera", BODIES["camera"]) is None
    assert wire.alarm_of("status", BODIES["status"]) is None
