"""Extron SIS matrix switchers: codec, sans-I/O session and simulator.

Re-exports the small public surface; see :mod:`devices.extron.codec` for the
message classes and the spec sources.
"""

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
from devices.extron.session import ExtronSession
from devices.extron.virtual import VirtualMatrix

__all__ = [
    "Banner",
    "BannerDate",
    "ErrorReply",
    "ExtronCommand",
    "ExtronReply",
    "ExtronSession",
    "FrontPanelSwitch",
    "LoginReply",
    "PasswordPrompt",
    "QueryFirmware",
    "ReadTie",
    "Reconfig",
    "Tie",
    "TieAll",
    "TieAllReply",
    "TieLayer",
    "TieReply",
    "ValueReply",
    "VirtualMatrix",
    "decode_command",
    "decode_line",
    "encode_command",
    "encode_reply",
    "error_name",
]
