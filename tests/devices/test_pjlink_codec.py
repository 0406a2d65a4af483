"""PJLink class 1 codec: spec byte vectors both ways, junk, fuzzing, reply parsing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.pjlink import (
    AuthFailure,
    ClassQuery,
    ErrorLevel,
    ErrorStatus,
    ErrorStatusQuery,
    Greeting,
    InfoQuery,
    InputKind,
    InputListQuery,
    InputQuery,
    InputSet,
    InputSource,
    Lamp,
    LampQuery,
    ManufacturerQuery,
    MuteQuery,
    MuteSet,
    MuteState,
    MuteTarget,
    NameQuery,
    PJLinkCommand,
    PJLinkError,
    PJLinkReply,
    PowerQuery,
    PowerSet,
    PowerState,
    ProductQuery,
    Request,
    Response,
    auth_digest,
    decode_command,
    decode_reply,
    decode_request,
    encode_command,
    encode_reply,
)

# PJLink 1.04 §4 command examples.
COMMAND_VECTORS: list[tuple[PJLinkCommand, bytes]] = [
    (PowerSet(True), b"%1POWR 1\r"),
    (PowerSet(False), b"%1POWR 0\r"),
    (PowerQuery(), b"%1POWR ?\r"),
    (InputSet(InputSource(InputKind.DIGITAL, 1)), b"%1INPT 31\r"),
    (InputSet(InputSource(InputKind.RGB, 2)), b"%1INPT 12\r"),
    (InputQuery(), b"%1INPT ?\r"),
    (MuteSet(MuteTarget.AV, True), b"%1AVMT 31\r"),
    (MuteSet(MuteTarget.AV, False), b"%1AVMT 30\r"),
    (MuteSet(MuteTarget.VIDEO, True), b"%1AVMT 11\r"),
    (MuteSet(MuteTarget.AUDIO, False), b"%1AVMT 20\r"),
    (MuteQuery(), b"%1AVMT ?\r"),
    (ErrorStatusQuery(), b"%1ERST ?\r"),
    (LampQuery(), b"%1LAMP ?\r"),
    (InputListQuery(), b"%1INST ?\r"),
    (NameQuery(), b"%1NAME ?\r"),
    (ManufacturerQuery(), b"%1INF1 ?\r"),
    (ProductQuery(), b"%1INF2 ?\r"),
    (InfoQuery(), b"%1INFO ?\r"),
    (ClassQuery(), b"%1CLSS ?\r"),
]

REPLY_VECTORS: list[tuple[PJLinkReply, bytes]] = [
    (Greeting(), b"PJLINK 0\r"),
    (Greeting("498e4a67"), b"PJLINK 1 498e4a67\r"),
    (AuthFailure(), b"PJLINK ERRA\r"),
    (Response("POWR", "OK"), b"%1POWR=OK\r"),
    (Response("POWR", "2"), b"%1POWR=2\r"),
    (Response("INPT", "ERR2"), b"%1INPT=ERR2\r"),
    (Response("POWR", "ERR3"), b"%1POWR=ERR3\r"),
    (Response("ERST", "020000"), b"%1ERST=020000\r"),
    (Response("LAMP", "12345 1 0 0"), b"%1LAMP=12345 1 0 0\r"),
    (Response("NAME", ""), b"%1NAME=\r"),
    (Response("NAME", "法庭一号投影"), "%1NAME=法庭一号投影\r".encode()),
    (Response("CLSS", "1"), b"%1CLSS=1\r"),
]


def assert_reply_vector(reply: PJLinkReply, raw: bytes) -> None:
    assert encode_reply(reply) == raw
    assert decode_reply(raw.removesuffix(b"\r")) == reply


@pytest.mark.parametrize(("command", "raw"), COMMAND_VECTORS)
def test_command_vector_both_ways(command: PJLinkCommand, raw: bytes) -> None:
    assert encode_command(command) == raw
    assert decode_command(raw.removesuffix(b"\r")) == command


@pytest.mark.parametrize(("reply", "raw"), REPLY_VECTORS)
def test_reply_vector_both_ways(reply: PJLinkReply, raw: bytes) -> None:
    assert_reply_vector(reply, raw)


def test_auth_digest_matches_spec_example() -> None:
    # PJLink 1.04 §5.1 example, and a vendor manual's example.
    assert auth_digest("498e4a67", "JBMIAProjectorLink") == "5d8409bc1c3fa39749434aa3a5c38682"
    assert auth_digest("a572f60c", "password") == "e3d97429adffa11bce1f7275813d4bde"


def test_encode_command_with_digest_prefixes_it() -> None:
    digest = "5d8409bc1c3fa39749434aa3a5c38682"
    raw = encode_command(PowerSet(True), digest=digest)
    assert raw == b"5d8409bc1c3fa39749434aa3a5c38682%1POWR 1\r"
    assert decode_request(raw[:-1]) == Request(digest, "POWR", "1")


def test_encode_command_bad_digest_raises_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_command(PowerQuery(), digest="xyz")


def test_encode_command_not_a_command_raises_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_command("%1POWR 1")  # type: ignore[arg-type]


@pytest.mark.parametrize(("line", "code"), [(b"%1XXXX ?", "ERR1"), (b"%1POWR 7", "ERR2")])
def test_decode_command_unknown_body_or_parameter_names_error(line: bytes, code: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_command(line)
    assert info.value.code == code


@pytest.mark.parametrize(("command", "raw"), COMMAND_VECTORS)
def test_decode_command_with_trailing_junk_raises(command: PJLinkCommand, raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_command(raw.removesuffix(b"\r") + b"\x00zz")


@pytest.mark.parametrize(("reply", "raw"), REPLY_VECTORS[:3])
def test_decode_reply_greeting_with_trailing_junk_raises(reply: PJLinkReply, raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_reply(raw.removesuffix(b"\r") + b"!")


@pytest.mark.parametrize(
    "line", [b"PJLINK 1 xyz", b"PJLINK 2", b"%1powr=OK", b"%1POWR=\x01", b"\xff\xfe", b"A" * 140]
)
def test_decode_reply_malformed_raises_remote_error(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_reply(line)


def test_response_error_property_names_spec_errors() -> None:
    assert Response("POWR", "ERR1").error is PJLinkError.ERR1
    assert PJLinkError.ERR4.value == "projector/display failure"
    assert Response("POWR", "OK").error is None


@pytest.mark.parametrize(
    ("command", "data", "parsed"),
    [
        (PowerQuery(), "3", PowerState.WARM_UP),
        (InputQuery(), "31", InputSource(InputKind.DIGITAL, 1)),
        (MuteQuery(), "31", MuteState(video=True, audio=True)),
        (MuteQuery(), "21", MuteState(video=False, audio=True)),
        (MuteQuery(), "30", MuteState(video=False, audio=False)),
        (
            ErrorStatusQuery(),
            "020001",
            ErrorStatus(lamp=ErrorLevel.ERROR, other=ErrorLevel.WARNING),
        ),
        (LampQuery(), "12345 1 0 0", (Lamp(12345, True), Lamp(0, False))),
        (InputListQuery(), "11 31", (InputSource(InputKind.RGB), InputSource(InputKind.DIGITAL))),
        (NameQuery(), "courtroom-1", "courtroom-1"),
        (PowerSet(True), "OK", None),
    ],
)
def test_command_parse_reply_data(command: PJLinkCommand, data: str, parsed: object) -> None:
    assert command.parse(data) == parsed


@pytest.mark.parametrize(
    ("command", "data"),
    [
        (PowerQuery(), "4"),
        (InputQuery(), "61"),
        (MuteQuery(), "99"),
        (ErrorStatusQuery(), "0300000"),
        (LampQuery(), "123456 1"),
        (LampQuery(), "12 1 3"),
        (PowerSet(True), "1"),
    ],
)
def test_command_parse_malformed_data_raises_remote_error(
    command: PJLinkCommand, data: str
) -> None:
    with pytest.raises(RemoteProtocolError):
        command.parse(data)


@pytest.mark.parametrize(
    ("factory"),
    [
        lambda: InputSource(InputKind.RGB, 0),
        lambda: Lamp(100000, True),
        lambda: Greeting("123"),
        lambda: Response("powr", "OK"),
        lambda: Response("POWR", "x" * 129),
    ],
)
def test_message_out_of_range_raises_local_error(factory: object) -> None:
    with pytest.raises(LocalProtocolError):
        factory()  # type: ignore[operator]


@given(st.binary(max_size=200))
def test_decode_reply_fuzz_raises_only_remote_error(data: bytes) -> None:
    try:
        reply = decode_reply(data)
    except RemoteProtocolError:
        return
    assert decode_reply(encode_reply(reply)[:-1]) == reply


@given(st.binary(max_size=200))
def test_decode_command_fuzz_raises_only_remote_error(data: bytes) -> None:
    try:
        command = decode_command(data)
    except RemoteProtocolError:
        return
    assert decode_command(encode_command(command)[:-1]) == command


@given(st.text(max_size=40))
def test_parse_fuzz_raises_only_remote_error(data: str) -> None:
    for command, _ in COMMAND_VECTORS:
        with contextlib.suppress(RemoteProtocolError):
            command.parse(data)
