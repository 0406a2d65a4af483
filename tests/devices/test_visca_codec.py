"""VISCA codec: spec byte vectors both ways, framing, fuzzing.

Vectors come from the Sony VISCA command lists (FCB-EV7500, SRG-300H,
EVI-D70 technical manuals: "Command List", "Inquiry Command List",
"ACK/Completion and Error Messages").
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.visca import (
    BROADCAST,
    Ack,
    AddressSet,
    AddressSetReply,
    Completion,
    ErrorReply,
    FrameReader,
    IfClear,
    IfClearBroadcastReply,
    NetworkChange,
    PanDirection,
    PanTiltDrive,
    PanTiltPosition,
    PanTiltPositionInquiry,
    Power,
    PowerInquiry,
    PowerState,
    PresetRecall,
    PresetReset,
    PresetSet,
    TiltDirection,
    ViscaAnswer,
    ViscaCommand,
    ViscaInquiry,
    ViscaReply,
    Zoom,
    ZoomDirection,
    ZoomPosition,
    ZoomPositionInquiry,
    decode_answer,
    decode_command,
    decode_reply,
    encode_answer,
    encode_command,
    encode_reply,
    error_message,
)

L, R, PS = PanDirection.LEFT, PanDirection.RIGHT, PanDirection.STOP
U, D, TS = TiltDirection.UP, TiltDirection.DOWN, TiltDirection.STOP

COMMANDS: list[tuple[int, ViscaCommand, str]] = [
    (BROADCAST, AddressSet(), "88 30 01 FF"),
    (BROADCAST, IfClear(broadcast=True), "88 01 00 01 FF"),
    (1, IfClear(), "81 01 00 01 FF"),
    (1, Power(on=True), "81 01 04 00 02 FF"),
    (1, Power(on=False), "81 01 04 00 03 FF"),
    (2, PresetReset(5), "82 01 04 3F 00 05 FF"),
    (2, PresetSet(5), "82 01 04 3F 01 05 FF"),
    (7, PresetRecall(0x7F), "87 01 04 3F 02 7F FF"),
    (1, PanTiltDrive(PS, U, 0x10, 0x0C), "81 01 06 01 10 0C 03 01 FF"),
    (1, PanTiltDrive(PS, D, 0x10, 0x0C), "81 01 06 01 10 0C 03 02 FF"),
    (1, PanTiltDrive(L, TS, 0x18, 0x01), "81 01 06 01 18 01 01 03 FF"),
    (1, PanTiltDrive(R, TS, 0x01, 0x17), "81 01 06 01 01 17 02 03 FF"),
    (1, PanTiltDrive(L, U, 0x05, 0x05), "81 01 06 01 05 05 01 01 FF"),
    (1, PanTiltDrive(R, U, 0x05, 0x05), "81 01 06 01 05 05 02 01 FF"),
    (1, PanTiltDrive(L, D, 0x05, 0x05), "81 01 06 01 05 05 01 02 FF"),
    (1, PanTiltDrive(R, D, 0x05, 0x05), "81 01 06 01 05 05 02 02 FF"),
    (1, PanTiltDrive(), "81 01 06 01 01 01 03 03 FF"),
    (1, Zoom(), "81 01 04 07 00 FF"),
    (1, Zoom(ZoomDirection.TELE), "81 01 04 07 02 FF"),
    (1, Zoom(ZoomDirection.WIDE), "81 01 04 07 03 FF"),
    (1, Zoom(ZoomDirection.TELE, speed=5), "81 01 04 07 25 FF"),
    (1, Zoom(ZoomDirection.WIDE, speed=0), "81 01 04 07 30 FF"),
    (1, PowerInquiry(), "81 09 04 00 FF"),
    (1, ZoomPositionInquiry(), "81 09 04 47 FF"),
    (3, PanTiltPositionInquiry(), "83 09 06 12 FF"),
]

REPLIES: list[tuple[ViscaReply, str]] = [
    (Ack(1, 1), "90 41 FF"),
    (Ack(2, 2), "A0 42 FF"),
    (Completion(1, 1), "90 51 FF"),
    (Completion(7, 0), "F0 50 FF"),
    (Completion(1, 0, b"\x02"), "90 50 02 FF"),
    (ErrorReply(1, 0, 0x01), "90 60 01 FF"),
    (ErrorReply(1, 0, 0x02), "90 60 02 FF"),
    (ErrorReply(1, 0, 0x03), "90 60 03 FF"),
    (ErrorReply(1, 1, 0x04), "90 61 04 FF"),
    (ErrorReply(1, 2, 0x05), "90 62 05 FF"),
    (ErrorReply(1, 1, 0x41), "90 61 41 FF"),
    (AddressSetReply(2), "88 30 02 FF"),
    (IfClearBroadcastReply(), "88 01 00 01 FF"),
    (NetworkChange(1), "90 38 FF"),
]

ANSWERS: list[tuple[ViscaInquiry, ViscaAnswer, str]] = [
    (PowerInquiry(), PowerState(on=True), "02"),
    (PowerInquiry(), PowerState(on=False), "03"),
    (PanTiltPositionInquiry(), PanTiltPosition(0x0123, -1), "00 01 02 03 0F 0F 0F 0F"),
    (PanTiltPositionInquiry(), PanTiltPosition(-0x0990, 0x0510), "0F 06 07 00 00 05 01 00"),
    (ZoomPositionInquiry(), ZoomPosition(0x4000), "04 00 00 00"),
]


def check_command(address: int, command: ViscaCommand, raw: bytes) -> None:
    """The one helper: encode gives the spec bytes and decode gives the message back."""
    assert encode_command(command, address=address) == raw
    assert decode_command(raw) == (address, command)


def check_reply(reply: ViscaReply, raw: bytes) -> None:
    assert encode_reply(reply) == raw
    assert decode_reply(raw) == reply


@pytest.mark.parametrize(("address", "command", "hex_"), COMMANDS)
def test_command_spec_vector_both_ways(address: int, command: ViscaCommand, hex_: str) -> None:
    check_command(address, command, bytes.fromhex(hex_))


@pytest.mark.parametrize(("reply", "hex_"), REPLIES)
def test_reply_spec_vector_both_ways(reply: ViscaReply, hex_: str) -> None:
    check_reply(reply, bytes.fromhex(hex_))


@pytest.mark.parametrize(("inquiry", "answer", "hex_"), ANSWERS)
def test_answer_spec_vector_both_ways(
    inquiry: ViscaInquiry, answer: ViscaAnswer, hex_: str
) -> None:
    assert encode_answer(answer) == bytes.fromhex(hex_)
    assert decode_answer(inquiry, bytes.fromhex(hex_)) == answer


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (0x01, "VISCA message length error"),
        (0x02, "VISCA syntax error"),
        (0x03, "VISCA command buffer full"),
        (0x04, "VISCA command cancelled"),
        (0x05, "VISCA no socket"),
        (0x41, "VISCA command not executable"),
        (0x7A, "VISCA error 7A"),
    ],
)
def test_error_message_names_each_code(code: int, message: str) -> None:
    assert error_message(code) == message
    assert ErrorReply(1, 0, code).message == message


def test_encode_command_broadcast_ignores_camera_address() -> None:
    assert encode_command(AddressSet(), address=3) == bytes.fromhex("88 30 01 FF")
    assert encode_command(IfClear(broadcast=True), address=5) == bytes.fromhex("88 01 00 01 FF")


@pytest.mark.parametrize(
    "build",
    [
        lambda: PresetSet(0x80),
        lambda: PresetRecall(-1),
        lambda: PanTiltDrive(PanDirection.LEFT, pan_speed=0),
        lambda: PanTiltDrive(tilt_speed=0x18),
        lambda: PanTiltDrive(pan=5),  # type: ignore[arg-type]
        lambda: Zoom(ZoomDirection.STOP, speed=1),
        lambda: Zoom(ZoomDirection.TELE, speed=8),
        lambda: AddressSet(0),
        lambda: Ack(8, 1),
        lambda: ErrorReply(1, 0, 0xFF),
        lambda: encode_command(Power(on=True), address=0),
        lambda: encode_command(Power(on=True), address=BROADCAST),
        lambda: encode_command("power on", address=1),  # type: ignore[arg-type]
        lambda: encode_reply("ack"),  # type: ignore[arg-type]
    ],
)
def test_encode_unsayable_raises_local_protocol_error(build: object) -> None:
    with pytest.raises(LocalProtocolError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "hex_",
    [
        "81 01 04 00 02",  # no terminator
        "81 01 04 00 05 FF",  # unknown power value
        "81 01 04 3F 01 80 FF",  # preset out of range
        "81 01 06 01 00 01 03 03 FF",  # pan speed 0
        "81 01 06 01 01 01 04 03 FF",  # bad direction
        "81 01 04 07 48 FF",  # zoom speed 8
        "88 01 04 00 02 FF",  # power is never broadcast
        "81 30 01 FF",  # address set must be broadcast
        "80 01 04 00 02 FF",  # controller address
        "01 04 00 02 FF",  # no header bit
        "81 FF",  # too short
        "81 01 04 00 02 00 00 00 00 00 00 00 00 00 00 00 FF",  # 17 bytes
    ],
)
def test_decode_command_rejects_invalid(hex_: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_command(bytes.fromhex(hex_))


@pytest.mark.parametrize(
    "hex_",
    ["90 41", "91 41 FF", "80 41 FF", "90 60 FF", "90 70 FF", "88 30 09 FF", "88 31 FF", "41 FF"],
)
def test_decode_reply_rejects_invalid(hex_: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_reply(bytes.fromhex(hex_))


@pytest.mark.parametrize(
    ("inquiry", "hex_"),
    [
        (PowerInquiry(), "04"),
        (PanTiltPositionInquiry(), "00 01 02 03 0F 0F 0F"),
        (PanTiltPositionInquiry(), "10 01 02 03 0F 0F 0F 0F"),
        (ZoomPositionInquiry(), ""),
    ],
)
def test_decode_answer_rejects_mismatched_payload(inquiry: ViscaInquiry, hex_: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_answer(inquiry, bytes.fromhex(hex_))


STREAM = bytes.fromhex("90 41 FF 90 51 FF 90 50 00 01 02 03 0F 0F 0F 0F FF 88 30 02 FF")
STREAM_FRAMES = [
    bytes.fromhex("90 41 FF"),
    bytes.fromhex("90 51 FF"),
    bytes.fromhex("90 50 00 01 02 03 0F 0F 0F 0F FF"),
    bytes.fromhex("88 30 02 FF"),
]


def test_frame_reader_whole_stream() -> None:
    assert FrameReader().feed(STREAM) == STREAM_FRAMES


def test_frame_reader_byte_by_byte() -> None:
    reader = FrameReader()
    frames = [frame for byte in STREAM for frame in reader.feed(bytes((byte,)))]
    assert frames == STREAM_FRAMES


def test_frame_reader_trailing_junk_waits_for_terminator() -> None:
    reader = FrameReader()
    assert reader.feed(STREAM + b"\x90") == STREAM_FRAMES
    assert reader.feed(b"\x41\xff") == [b"\x90\x41\xff"]


def test_frame_reader_overlong_run_cut_once_then_resyncs() -> None:
    reader = FrameReader()
    frames = reader.feed(bytes(40) + b"\xff\x90\x41\xff")
    assert frames == [bytes(16), b"\x90\x41\xff"]
    with pytest.raises(RemoteProtocolError):
        decode_reply(frames[0])


def test_frame_reader_clear_forgets_partial_packet() -> None:
    reader = FrameReader()
    reader.feed(b"\x90\x41")
    reader.clear()
    assert reader.feed(b"\x90\x51\xff") == [b"\x90\x51\xff"]


@given(st.binary(max_size=40))
def test_decode_reply_fuzz_raises_only_remote_protocol_error(data: bytes) -> None:
    try:
        reply = decode_reply(data)
    except RemoteProtocolError:
        return
    assert encode_reply(reply) == data


@given(st.binary(max_size=40))
def test_decode_command_fuzz_raises_only_remote_protocol_error(data: bytes) -> None:
    try:
        address, command = decode_command(data)
    except RemoteProtocolError:
        return
    assert encode_command(command, address=address) == data


@given(st.binary(max_size=12), st.sampled_from([a[0] for a in ANSWERS]))
def test_decode_answer_fuzz_raises_only_remote_protocol_error(
    payload: bytes, inquiry: ViscaInquiry
) -> None:
    try:
        answer = decode_answer(inquiry, payload)
    except RemoteProtocolError:
        return
    assert encode_answer(answer) == payload


@given(st.lists(st.binary(max_size=20), max_size=8))
def test_frame_reader_fuzz_chunks_are_bounded_and_split_at_terminator(chunks: list[bytes]) -> None:
    reader = FrameReader()
    for chunk in chunks:
        for frame in reader.feed(chunk):
            assert 1 <= len(frame) <= 16
            assert 0xFF not in frame[:-1]
