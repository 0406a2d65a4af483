"""The agent ⇄ hub wire format: byte vectors both ways, refusals, fuzzing."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import wire
from hub.wire import Ack, Event, Hello, Partial, Welcome, WireError, decode, encode

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
