"""Pelco-D PTZ cameras over RS-485: codec, fire-and-forget session, virtual camera.

Typical use (the transport moves the bytes)::

    session = PelcoDSession(address=1, device="cam-gallery")
    session.connection_made(now=clock())
    session.send(PresetGoto(3), now=clock())
"""

from devices.pelco.codec import (
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
from devices.pelco.session import PelcoDSession
from devices.pelco.virtual import VirtualPelcoCamera

__all__ = [
    "CameraPower",
    "FrameReader",
    "Motion",
    "OtherCommand",
    "PanMotion",
    "PelcoCommand",
    "PelcoDSession",
    "PelcoFrame",
    "PresetClear",
    "PresetGoto",
    "PresetSet",
    "TiltMotion",
    "VirtualPelcoCamera",
    "ZoomMotion",
    "checksum",
    "decode",
    "encode",
]
