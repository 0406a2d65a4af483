"""Blackmagic HyperDeck Ethernet Protocol (TCP 9993): codec, session, simulator."""

from devices.hyperdeck.codec import (
    Command,
    CommandName,
    DeviceInfo,
    ErrorCode,
    Response,
    SlotChange,
    SlotInfo,
    SlotStatus,
    TransportChange,
    TransportInfo,
    TransportStatus,
)
from devices.hyperdeck.session import HyperDeckError, HyperDeckSession
from devices.hyperdeck.virtual import VirtualHyperDeck

DEFAULT_PORT = 9993
"""The HyperDeck Ethernet server's TCP port ("Connection")."""

__all__ = [
    "DEFAULT_PORT",
    "Command",
    "CommandName",
    "DeviceInfo",
    "ErrorCode",
    "HyperDeckError",
    "HyperDeckSession",
    "Response",
    "SlotChange",
    "SlotInfo",
    "SlotStatus",
    "TransportChange",
    "TransportInfo",
    "TransportStatus",
    "VirtualHyperDeck",
]
