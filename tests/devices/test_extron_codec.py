"""Extron SIS codec: guide byte vectors both ways, whole / split / junk, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.extron.codec import (
    Banner,
    BannerDate,
    ErrorReply,
    ExtronCommand,
    ExtronReply,
    FrontPanelSwitch,
    LoginReply,
    PasswordPrompt,
    QueryFirmware,
    ReadTie,
    Reconfig,
    Tie,
    TieAll,
    TieAllReply,
    TieLayer,
    TieReply,
    ValueReply,
    decode_command,
    decode_line,
    encode_command,
    encode_reply,
    error_name,
)

# Examples from the DXP / MTPX / CrossPoint guides' command and response tables.
COMMAND_VECTORS: list[tuple[ExtronCommand, bytes]] = [
    (Tie(1, 3), b"1*3!"),
    (Tie(10, 4, TieLayer.RGB), b"10*4&"),
    (Tie(7, 5, TieLayer.VIDEO), b"7*5%"),
    (Tie(12, 8, TieLayer.AUDIO), b"12*8$"),
    (Tie(0, 3), b"0*3!"),
    (Tie(118, 67), b"118*67!"),
    (TieAll(5), b"5*!"),
    (TieAll(8, TieLayer.RGB), b"8*&"),
    (ReadTie(4), b"4!"),
    (ReadTie(3, TieLayer.VIDEO), b"3%"),
    (ReadTie(2, TieLayer.AUDIO), b"2$"),
    (QueryFirmware(), b"Q"),
]

REPLY_VECTORS: list[tuple[ExtronReply, bytes]] = [
    (TieReply(3, 1), b"Out03 In01 All\r\n"),
    (TieReply(4, 10, TieLayer.RGB), b"Out04 In10 RGB\r\n"),
    (TieReply(5, 7, TieLayer.VIDEO), b"Out05 In07 Vid\r\n"),
    (TieReply(8, 12, TieLayer.AUDIO), b"Out08 In12 Aud\r\n"),
    (TieReply(3, 1, width=3), b"Out003 In001 All\r\n"),
    (TieReply(3, 0), b"Out03 In00 All\r\n"),
    (TieAllReply(5), b"In05 All\r\n"),
    (TieAllReply(8, TieLayer.RGB), b"In08 RGB\r\n"),
    (ValueReply("07"), b"07\r\n"),
    (ValueReply("7"), b"7\r\n"),
    (ValueReply("1.05"), b"1.05\r\n"),
    (ErrorReply("E01"), b"E01\r\n"),
    (ErrorReply("E22"), b"E22\r\n"),
    (
        Banner("(c) Copyright 2024, Extron Electronics, DXP 88 HDMI, V1.05, 60-1000-01"),
        b"(c) Copyright 2024, Extron Electronics, DXP 88 HDMI, V1.05, 60-1000-01\r\n",
    ),
    (BannerDate("Tue, 02 Jan 2024 10:00:00"), b"Tue, 02 Jan 2024 10:00:00\r\n"),
    (LoginReply("Administrator"), b"Login Administrator\r\n"),
    (LoginReply("User"), b"Login User\r\n"),
    (Reconfig(), b"Reconfig\r\n"),
    (FrontPanelSwitch(), b"Qik\r\n"),
]


def assert_reply_vector(reply: ExtronReply, raw: bytes) -> None:
    assert encode_reply(reply) == raw
    assert decode_line(raw.removesuffix(b"\r\n")) == reply


@pytest.mark.parametrize(("command", "raw"), COMMAND_VECTORS)
def test_command_vector_both_ways(command: ExtronCommand, raw: bytes) -> None:
    assert encode_command(command) == raw
    assert decode_command(raw) == command


@pytest.mark.parametrize(("reply", "raw"), REPLY_VECTORS)
def test_reply_vector_both_ways(reply: ExtronReply, raw: bytes) -> None:
    assert_reply_vector(reply, raw)


def test_password_prompt_has_no_line_end() -> None:
    assert encode_reply(PasswordPrompt()) == b"\r\nPassword:"
    assert decode_line(b"Password:") == PasswordPrompt()


@pytest.mark.parametrize(("reply", "raw"), REPLY_VECTORS)
def test_decode_line_with_trailing_junk_raises(reply: ExtronReply, raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_line(raw.removesuffix(b"\r\n") + b"\x00junk")


@pytest.mark.parametrize(("command", "raw"), COMMAND_VECTORS)
def test_decode_command_with_trailing_junk_is_invalid_command(
    command: ExtronCommand, raw: bytes
) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_command(raw + b"x")
    assert info.value.code == "E10"


def test_decode_command_output_zero_is_e12() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_command(b"1*0!")
    assert info.value.code == "E12"


def test_decode_line_out_of_range_output_raises_remote_error() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_line(b"Out00 In01 All")


@pytest.mark.parametrize(
    ("message", "kwargs"),
    [
        (Tie, {"input": 1, "output": 0}),
        (Tie, {"input": -1, "output": 1}),
        (Tie, {"input": 1000, "output": 1}),
        (ReadTie, {"output": 0}),
        (TieAll, {"input": 1000}),
        (ErrorReply, {"code": "E1"}),
        (ValueReply, {"text": "abc"}),
        (LoginReply, {"level": "Root"}),
    ],
)
def test_message_out_of_range_raises_local_error(message: type, kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        message(**kwargs)


def test_encode_command_not_a_command_raises_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_command("1*3!")  # type: ignore[arg-type]


def test_error_name_known_and_unknown() -> None:
    assert error_name("E01") == "invalid input number"
    assert error_name("E10") == "invalid command"
    assert error_name("E12") == "invalid output number"
    assert error_name("E13") == "invalid parameter"
    assert error_name("E14") == "not valid for this configuration"
    assert error_name("E22") == "busy"
    assert error_name("E24") == "privilege violation"
    assert error_name("E25") == "device not present"
    assert error_name("E99") == "unknown error"
    assert ErrorReply("E11").name == "invalid preset number"


@given(st.binary(max_size=300))
def test_decode_line_fuzz_raises_only_remote_error(data: bytes) -> None:
    try:
        reply = decode_line(data)
    except RemoteProtocolError:
        return
    assert decode_line(encode_reply(reply).strip(b"\r\n")) == reply


@given(st.binary(max_size=20))
def test_decode_command_fuzz_raises_only_remote_error(data: bytes) -> None:
    try:
        command = decode_command(data)
    except RemoteProtocolError:
        return
    assert decode_command(encode_command(command)) == command


@given(st.from_regex(r"Out[0-9]{1,3} In[0-9]{1,3} (All|RGB|Vid|Aud)", fullmatch=True))
def test_decode_line_fuzz_tie_shapes(text: str) -> None:
    try:
        reply = decode_line(text.encode())
    except RemoteProtocolError:
        assert text.startswith(("Out0 ", "Out00 ", "Out000 "))
    else:
        assert isinstance(reply, TieReply)
