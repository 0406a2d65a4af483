"""Pelco-D codec: spec byte vectors both ways, resync, fuzzing.

Vectors follow the Pelco "D" Protocol Manual (TF-0002 v2r1, "The Standard
Command Set" and "Extended Command Set"); the four motion frames for address
1 are the worked examples printed in Pelco-D receiver manuals.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.pelco import (
    CameraPower,
    FrameReader,
    Motion,
    OtherCommand,
    PanMotion,
    PelcoCommand,
    PelcoFrame,
    PresetClear,
    PresetGoto,
    PresetSet,
    TiltMotion,
    ZoomMotion,
    checksum,
    decode,
    encode,
)

H = bytes.fromhex
R, LEFT = PanMotion.RIGHT, PanMotion.LEFT

VECTORS: list[tuple[int, PelcoCommand, str]] = [
    (1, Motion(pan=R, pan_speed=0x20), "FF 01 00 02 20 00 23"),
    (1, Motion(pan=LEFT, pan_speed=0x23), "FF 01 00 04 23 00 28"),
    (1, Motion(tilt=TiltMotion.UP, tilt_speed=0x23), "FF 01 00 08 00 23 2C"),
    (1, Motion(tilt=TiltMotion.DOWN, tilt_speed=0x23), "FF 01 00 10 00 23 34"),
    (1, Motion(), "FF 01 00 00 00 00 01"),
    (1, Motion(zoom=ZoomMotion.TELE), "FF 01 00 20 00 00 21"),
    (1, Motion(zoom=ZoomMotion.WIDE), "FF 01 00 40 00 00 41"),
    (2, Motion(R, TiltMotion.UP, ZoomMotion.TELE, 0xFF, 0x3F), "FF 02 00 2A FF 3F 6A"),
    (1, PresetSet(1), "FF 01 00 03 00 01 05"),
    (1, PresetClear(1), "FF 01 00 05 00 01 07"),
    (1, PresetGoto(1), "FF 01 00 07 00 01 09"),
    (0xFF, PresetGoto(0xFF), "FF FF 00 07 00 FF 05"),
    (1, CameraPower(on=True), "FF 01 88 00 00 00 89"),
    (1, CameraPower(on=False), "FF 01 08 00 00 00 09"),
    (1, OtherCommand(0x00, 0x80, 0x00, 0x00), "FF 01 00 80 00 00 81"),  # focus far
    (1, OtherCommand(0x02, 0x00, 0x00, 0x00), "FF 01 02 00 00 00 03"),  # iris open
]


def check(frame: PelcoFrame, raw: bytes) -> None:
    """The one helper: encode gives the spec bytes and decode gives the frame back."""
    assert encode(frame) == raw
    assert decode(raw) == frame


@pytest.mark.parametrize(("address", "command", "hex_"), VECTORS)
def test_pelco_spec_vector_both_ways(address: int, command: PelcoCommand, hex_: str) -> None:
    check(PelcoFrame(address, command), H(hex_))


def test_checksum_is_sum_of_bytes_two_to_six_mod_256() -> None:
    assert checksum(H("01 00 02 20 00")) == 0x23
    assert checksum(H("FF FF FF FF FF")) == (5 * 0xFF) % 256


@pytest.mark.parametrize(
    ("hex_", "command"),
    [
        ("FF 01 00 06 20 20 47", OtherCommand(0x00, 0x06, 0x20, 0x20)),  # left and right at once
        ("FF 01 00 02 50 00 53", OtherCommand(0x00, 0x02, 0x50, 0x00)),  # pan speed 50h
        ("FF 01 00 07 00 00 08", OtherCommand(0x00, 0x07, 0x00, 0x00)),  # preset 0
        ("FF 01 88 00 01 00 8A", OtherCommand(0x88, 0x00, 0x01, 0x00)),
    ],
)
def test_decode_keeps_unnamed_commands_as_other(hex_: str, command: PelcoCommand) -> None:
    check(PelcoFrame(1, command), H(hex_))


@pytest.mark.parametrize(
    "hex_",
    [
        "FF 01 00 07 00 01",
        "FF 01 00 07 00 01 09 00",
        "FE 01 00 07 00 01 09",
        "FF 01 00 07 00 01 0A",
    ],
)
def test_decode_rejects_length_sync_and_checksum(hex_: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(H(hex_))


@pytest.mark.parametrize(
    "build",
    [
        lambda: PresetSet(0),
        lambda: PresetGoto(256),
        lambda: PresetClear(-1),
        lambda: Motion(pan_speed=0x40),
        lambda: Motion(tilt_speed=0xFF),
        lambda: Motion(pan=0x06),  # type: ignore[arg-type]
        lambda: PelcoFrame(256, Motion()),
        lambda: OtherCommand(0x100, 0, 0, 0),
        lambda: encode("stop"),  # type: ignore[arg-type]
        lambda: encode(PelcoFrame(1, "stop")),  # type: ignore[arg-type]
    ],
)
def test_encode_unsayable_raises_local_protocol_error(build: object) -> None:
    with pytest.raises(LocalProtocolError):
        build()  # type: ignore[operator]


GOTO = H("FF 01 00 07 00 01 09")
STOP = H("FF 01 00 00 00 00 01")


def frames_of(items: list[PelcoFrame | RemoteProtocolError]) -> list[PelcoFrame]:
    return [item for item in items if isinstance(item, PelcoFrame)]


def errors_of(items: list[PelcoFrame | RemoteProtocolError]) -> list[RemoteProtocolError]:
    return [item for item in items if isinstance(item, RemoteProtocolError)]


def test_frame_reader_whole_stream() -> None:
    assert FrameReader().feed(GOTO + STOP) == [decode(GOTO), decode(STOP)]


def test_frame_reader_byte_by_byte() -> None:
    reader = FrameReader()
    items = [item for byte in GOTO + STOP for item in reader.feed(bytes((byte,)))]
    assert items == [decode(GOTO), decode(STOP)]


def test_frame_reader_trailing_junk_waits_then_reports() -> None:
    reader = FrameReader()
    assert reader.feed(GOTO + H("FF 01 00")) == [decode(GOTO)]
    assert reader.feed(H("00 00 00 00")) != []
    items = reader.feed(STOP)
    assert frames_of(items) == [decode(STOP)]


def test_frame_reader_bad_checksum_reported_once_then_resyncs() -> None:
    reader = FrameReader()
    items = reader.feed(H("FF 01 00 07 00 01 0A") + GOTO)
    assert frames_of(items) == [decode(GOTO)]
    errors = errors_of(items)
    assert len(errors) == 1
    assert errors[0].raw == H("FF 01 00 07 00 01 0A")


def test_frame_reader_finds_frame_after_stray_sync_bytes() -> None:
    reader = FrameReader()
    items = reader.feed(H("12 FF 34") + GOTO)
    assert frames_of(items) == [decode(GOTO)]
    assert errors_of(items)


def test_frame_reader_clear_forgets_partial_frame() -> None:
    reader = FrameReader()
    reader.feed(GOTO[:4])
    reader.clear()
    assert reader.feed(STOP) == [decode(STOP)]


@given(st.binary(max_size=16))
def test_decode_fuzz_raises_only_remote_protocol_error(data: bytes) -> None:
    try:
        frame = decode(data)
    except RemoteProtocolError:
        return
    assert encode(frame) == data


@given(st.binary(min_size=6, max_size=6))
def test_decode_fuzz_every_checksummed_frame_round_trips(body: bytes) -> None:
    raw = b"\xff" + body[:5] + bytes((checksum(body[:5]),))
    assert encode(decode(raw)) == raw


@given(st.binary(max_size=60))
def test_frame_reader_fuzz_chunking_does_not_change_frames(stream: bytes) -> None:
    whole = frames_of(FrameReader().feed(stream))
    reader = FrameReader()
    pieces = [item for byte in stream for item in reader.feed(bytes((byte,)))]
    assert frames_of(pieces) == whole
    for frame in whole:
        assert encode(frame) in stream
