"""HyperDeck codec: spec vectors both ways, whole / byte by byte / trailing junk, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.hyperdeck.codec import (
    Command,
    CommandDecoder,
    CommandName,
    DeviceInfo,
    ErrorCode,
    Response,
    ResponseDecoder,
    SlotChange,
    SlotInfo,
    SlotStatus,
    TransportChange,
    TransportInfo,
    TransportStatus,
    encode_command,
    encode_response,
)
from devices.hyperdeck.session import HyperDeckError, decode_reply

# Vectors from the "Developer Information" chapter (Response syntax, Connection
# response, Retrieving transport / slot / device information, Failure codes).
RESPONSE_VECTORS: list[tuple[bytes, Response]] = [
    (b"200 ok\r\n", Response(200, "ok")),
    (b"104 disk full\r\n", Response(104, "disk full")),
    (b"120 connection rejected\r\n", Response(120, "connection rejected")),
    (
        b"500 connection info:\r\nprotocol version: 1.11\r\nmodel: HyperDeck Studio Mini\r\n\r\n",
        Response(
            500,
            "connection info",
            (("protocol version", "1.11"), ("model", "HyperDeck Studio Mini")),
        ),
    ),
    (
        b"208 transport info:\r\nstatus: record\r\nspeed: 0\r\nslot id: 1\r\n"
        b"display timecode: 00:00:05:00\r\ntimecode: 00:00:05:00\r\nclip id: 3\r\n"
        b"video format: 1080i50\r\nloop: false\r\n\r\n",
        Response(
            208,
            "transport info",
            (
                ("status", "record"),
                ("speed", "0"),
                ("slot id", "1"),
                ("display timecode", "00:00:05:00"),
                ("timecode", "00:00:05:00"),
                ("clip id", "3"),
                ("video format", "1080i50"),
                ("loop", "false"),
            ),
        ),
    ),
    (
        b"502 slot info:\r\nslot id: 1\r\nstatus: empty\r\nvolume name:\r\n"
        b"recording time: 0\r\n\r\n",
        Response(
            502,
            "slot info",
            (("slot id", "1"), ("status", "empty"), ("volume name", ""), ("recording time", "0")),
        ),
    ),
    # -- index 6 onwards: the remaining blocks of "Retrieving … information" and "notify"
    (
        b"202 slot info:\r\nslot id: 1\r\nstatus: mounted\r\nvolume name: Media\r\n"
        b"recording time: 5400\r\nvideo format: 1080i50\r\n\r\n",
        Response(
            202,
            "slot info",
            (
                ("slot id", "1"),
                ("status", "mounted"),
                ("volume name", "Media"),
                ("recording time", "5400"),
                ("video format", "1080i50"),
            ),
        ),
    ),
    (
        b"204 device info:\r\nprotocol version: 1.11\r\nmodel: HyperDeck Studio Mini\r\n"
        b"unique id: 7c2e0d021714\r\nslot count: 2\r\n\r\n",
        Response(
            204,
            "device info",
            (
                ("protocol version", "1.11"),
                ("model", "HyperDeck Studio Mini"),
                ("unique id", "7c2e0d021714"),
                ("slot count", "2"),
            ),
        ),
    ),
    (
        b"209 notify:\r\ntransport: true\r\nslot: true\r\nremote: false\r\n"
        b"configuration: false\r\n\r\n",
        Response(
            209,
            "notify",
            (
                ("transport", "true"),
                ("slot", "true"),
                ("remote", "false"),
                ("configuration", "false"),
            ),
        ),
    ),
    (
        b"508 transport info:\r\nstatus: stopped\r\n\r\n",
        Response(508, "transport info", (("status", "stopped"),)),
    ),
    (b"150 invalid state\r\n", Response(150, "invalid state")),
    # -- index 11 onwards: partial 502 notifications (only the changed fields)
    (
        b"502 slot info:\r\nslot id: 1\r\nstatus: empty\r\n\r\n",
        Response(502, "slot info", (("slot id", "1"), ("status", "empty"))),
    ),
    (
        b"502 slot info:\r\nslot id: 2\r\nrecording time: 5340\r\n\r\n",
        Response(502, "slot info", (("slot id", "2"), ("recording time", "5340"))),
    ),
    (
        b"502 slot info:\r\nstatus: mounted\r\nvolume name: Court-SSD1\r\n\r\n",
        Response(502, "slot info", (("status", "mounted"), ("volume name", "Court-SSD1"))),
    ),
]

COMMAND_VECTORS: list[tuple[bytes, Command]] = [
    (b"ping\r\n", Command(CommandName.PING)),
    (b"record\r\n", Command.record()),
    (b"record: name: Hearing 2024-17\r\n", Command.record(name="Hearing 2024-17")),
    (b"stop\r\n", Command.simple(CommandName.STOP)),
    (b"transport info\r\n", Command.simple(CommandName.TRANSPORT_INFO)),
    (b"slot info\r\n", Command.slot_info()),
    (b"slot info: slot id: 2\r\n", Command.slot_info(slot_id=2)),
    (b"device info\r\n", Command.simple(CommandName.DEVICE_INFO)),
    (b"notify: transport: true slot: true\r\n", Command.notify()),
    (b"notify: transport: false slot: true\r\n", Command.notify(transport=False)),
]


def decode_responses(data: bytes, *, chunk: int | None = None) -> list[Response | str]:
    """Feed ``data`` (whole or in chunks); errors appear as their message."""
    decoder = ResponseDecoder()
    out: list[Response | str] = []
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step])
        while True:
            try:
                response = decoder.next_response()
            except RemoteProtocolError as exc:
                out.append(exc.message)
                continue
            if response is None:
                break
            out.append(response)
    return out


def decode_commands(data: bytes, *, chunk: int | None = None) -> list[Command | str]:
    decoder = CommandDecoder()
    out: list[Command | str] = []
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step])
        while True:
            try:
                command = decoder.next_command()
            except RemoteProtocolError as exc:
                out.append(f"{exc.code} {exc.message}")
                continue
            if command is None:
                break
            out.append(command)
    return out


def assert_response_vector(raw: bytes, message: Response) -> None:
    assert encode_response(message) == raw
    assert decode_responses(raw) == [message]
    assert decode_responses(raw, chunk=1) == [message]
    # trailing junk: an incomplete next line is held back, not misread
    assert decode_responses(raw + b"20") == [message]


def assert_command_vector(raw: bytes, message: Command) -> None:
    assert encode_command(message) == raw
    assert decode_commands(raw) == [message]
    assert decode_commands(raw, chunk=1) == [message]
    assert decode_commands(raw + b"pi") == [message]
    assert decode_commands(raw.replace(b"\r\n", b"\n")) == [message]


@pytest.mark.parametrize(("raw", "message"), RESPONSE_VECTORS)
def test_response_codec_spec_vectors(raw: bytes, message: Response) -> None:
    assert_response_vector(raw, message)


@pytest.mark.parametrize(("raw", "message"), COMMAND_VECTORS)
def test_command_codec_spec_vectors(raw: bytes, message: Command) -> None:
    assert_command_vector(raw, message)


def test_error_codes_spec_table_texts() -> None:
    assert ErrorCode(150).text == "invalid state"  # e.g. record while playing
    assert ErrorCode(150) is ErrorCode.INVALID_STATE
    assert ErrorCode(104).text == "disk full"
    assert ErrorCode(111).text == "remote control disabled"
    assert ErrorCode(120).text == "connection rejected"
    assert [int(c) for c in ErrorCode][:12] == list(range(100, 112))


def test_response_decoder_lf_only_and_blank_lines_between() -> None:
    raw = b"\r\n200 ok\n\n208 transport info:\nstatus: stopped\n\n"
    assert decode_responses(raw) == [
        Response(200, "ok"),
        Response(208, "transport info", (("status", "stopped"),)),
    ]


def test_response_decoder_garbage_then_resync_on_status_line() -> None:
    raw = b"\xff\xfe garbage\r\nhello world\r\n200 ok\r\n"
    out = decode_responses(raw)
    assert out[-1] == Response(200, "ok")
    assert all(isinstance(o, str) for o in out[:-1]) and len(out) == 3


def test_response_decoder_bad_parameter_line_skips_block_to_blank_line() -> None:
    raw = b"208 transport info:\r\nstatus record\r\nspeed: 0\r\n\r\n200 ok\r\n"
    assert decode_responses(raw) == ["HyperDeck: bad parameter line", Response(200, "ok")]


def test_response_decoder_block_without_blank_line_resyncs_on_next_status() -> None:
    raw = b"208 transport info:\r\nstatus: record\r\n508 transport info:\r\nstatus: stopped\r\n\r\n"
    assert decode_responses(raw) == [
        "HyperDeck block not terminated",
        Response(508, "transport info", (("status", "stopped"),)),
    ]


def test_response_decoder_overlong_line_is_skipped() -> None:
    raw = b"x" * 3000 + b"\r\n200 ok\r\n"
    assert decode_responses(raw, chunk=100) == ["HyperDeck line too long", Response(200, "ok")]


def test_command_decoder_errors_carry_deck_codes() -> None:
    raw = b"fly\r\nrecord: colour: red\r\nnotify: transport\r\nping\r\n"
    out = decode_commands(raw)
    assert [o.split(" ")[0] if isinstance(o, str) else o for o in out] == [
        "100",
        "101",
        "100",
        Command(CommandName.PING),
    ]


def test_command_rejects_unframeable_values() -> None:
    with pytest.raises(LocalProtocolError):
        Command.record(name="a: b")
    with pytest.raises(LocalProtocolError):
        Command.record(name="two\r\nlines")
    with pytest.raises(LocalProtocolError):
        Command(CommandName.STOP, (("name", "x"),))


def test_typed_views_decode_spec_blocks() -> None:
    transport = TransportInfo.from_response(RESPONSE_VECTORS[4][1])
    assert transport == TransportInfo(TransportStatus.RECORD, 1, 3, "00:00:05:00", "1080i50")
    slot = SlotInfo.from_response(RESPONSE_VECTORS[5][1])
    assert slot == SlotInfo(1, SlotStatus.EMPTY, "", 0)
    info = DeviceInfo.from_response(RESPONSE_VECTORS[3][1])
    assert info.model == "HyperDeck Studio Mini"
    with pytest.raises(RemoteProtocolError):
        TransportInfo.from_response(Response(208, "transport info", (("status", "flying"),)))


def test_typed_views_decode_the_other_spec_blocks() -> None:
    slot = SlotInfo.from_response(RESPONSE_VECTORS[6][1])
    assert slot == SlotInfo(1, SlotStatus.MOUNTED, "Media", 5400)
    info = DeviceInfo.from_response(RESPONSE_VECTORS[7][1])
    assert info == DeviceInfo("1.11", "HyperDeck Studio Mini", "7c2e0d021714")
    notify = RESPONSE_VECTORS[8][1]
    assert notify.fields["transport"] == "true" and notify.fields["slot"] == "true"
    stopped = RESPONSE_VECTORS[9][1]
    assert stopped.is_async and not stopped.is_error
    assert decode_reply(stopped) == TransportChange(status=TransportStatus.STOPPED)
    timecode_only = Response(508, "transport info", (("timecode", "00:01:00:00"),))
    assert decode_reply(timecode_only) == TransportChange(timecode="00:01:00:00")
    with pytest.raises(RemoteProtocolError, match="bad 'clip id'"):
        TransportChange.from_response(Response(508, "transport info", (("clip id", "x"),)))
    failure = RESPONSE_VECTORS[10][1]
    assert failure.is_error
    error = HyperDeckError.from_response(failure, device="recorder")
    assert str(error) == "recorder: HyperDeck 150 invalid state"
    assert error.error_code is ErrorCode.INVALID_STATE and error.code == "150"


def test_partial_slot_notifications_decode_as_slot_change() -> None:
    assert decode_reply(RESPONSE_VECTORS[11][1]) == SlotChange(1, SlotStatus.EMPTY)
    assert decode_reply(RESPONSE_VECTORS[12][1]) == SlotChange(2, recording_time=5340)
    assert decode_reply(RESPONSE_VECTORS[13][1]) == SlotChange(
        status=SlotStatus.MOUNTED, volume_name="Court-SSD1"
    )
    # A full 502 is a change of every field; the empty volume name is "", not None.
    assert decode_reply(RESPONSE_VECTORS[5][1]) == SlotChange(1, SlotStatus.EMPTY, "", 0)
    with pytest.raises(RemoteProtocolError, match="bad 'recording time'"):
        SlotChange.from_response(Response(502, "slot info", (("recording time", "soon"),)))
    with pytest.raises(RemoteProtocolError, match="bad 'status'"):
        SlotChange.from_response(Response(502, "slot info", (("status", "melted"),)))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["slot id", "status", "volume name", "recording time", "other"]),
            st.sampled_from(["1", "none", "empty", "mounted", "x y", ""]),
        ),
        max_size=5,
        unique_by=lambda kv: kv[0],
    )
)
def test_slot_change_fuzz_raises_only_remote_protocol_error(params: list[tuple[str, str]]) -> None:
    response = Response(502, "slot info", tuple(params))
    try:
        change = SlotChange.from_response(response)
    except RemoteProtocolError:
        return
    assert change.volume_name == response.fields.get("volume name")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
def test_response_decoder_fuzz_raises_only_remote_protocol_error(data: bytes, chunk: int) -> None:
    for item in decode_responses(data, chunk=chunk):
        if isinstance(item, Response):  # whatever decodes must re-encode and decode the same
            assert decode_responses(encode_response(item)) == [item]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_command_decoder_fuzz_raises_only_remote_protocol_error(data: bytes, chunk: int) -> None:
    for item in decode_commands(data, chunk=chunk):
        if isinstance(item, Command):
            assert decode_commands(encode_command(item)) == [item]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([raw for raw, _ in RESPONSE_VECTORS] + [b"junk\r\n", b"\r\n", b"\x00\n"]),
        max_size=8,
    )
)
def test_response_decoder_fuzz_recovers_every_valid_message(parts: list[bytes]) -> None:
    expected = [m for raw, m in RESPONSE_VECTORS for p in parts if p == raw]
    decoded = [r for r in decode_responses(b"".join(parts)) if isinstance(r, Response)]
    # messages after junk lines still decode (a junk line is not inside a block)
    assert sorted(map(repr, decoded)) == sorted(map(repr, expected))
