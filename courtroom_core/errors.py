"""The root of the project's error tree.

Each package has one root error that derives from :class:`CourtroomError`
(``HubError``, ``DeviceError``, ``RecordingError``, ``CameraError``,
``AudioSourceError``, ``WireError`` …), so a caller that must survive any of
the project's failures — the agent keeping the legal recording going while a
camera, a device or the hub fails — catches one class, and everything else
(a bug) still surfaces.
"""

from __future__ import annotations

__all__ = ["CourtroomError"]


class CourtroomError(Exception):
    """Any failure the project itself reports (not a bug)."""
