"""The camera error tree.

::

    CameraError                      every failure of av.camera
     ├── CameraOpenError             the source cannot be opened (TRANSIENT)
     ├── CameraStreamError           an open source stopped delivering (TRANSIENT)
     └── CameraRecordingError        the MP4 encoder failed (FATAL, or CONFIG
                                     when the ffmpeg binary is missing)

Each error carries the camera id and says whether a retry loop should try
again (``error_class``, read by :func:`courtroom_core.backoff.classify`).
Invalid arguments (an empty camera id, a negative rate) raise ``ValueError``.
"""

from __future__ import annotations

from courtroom_core.backoff import ErrorClass
from courtroom_core.errors import CourtroomError

__all__ = ["CameraError", "CameraOpenError", "CameraRecordingError", "CameraStreamError"]


class CameraError(CourtroomError):
    """Base of every camera failure.

    Attributes:
        camera: the configured camera id.
        error_class: how a retry loop treats the error.
    """

    error_class: ErrorClass = ErrorClass.FATAL

    def __init__(self, camera: str, message: str) -> None:
        super().__init__(f"camera {camera}: {message}")
        self.camera = camera


class CameraOpenError(CameraError):
    """OpenCV could not open the source (device busy or absent, host unreachable)."""

    error_class = ErrorClass.TRANSIENT


class CameraStreamError(CameraError):
    """An open source stopped delivering frames (connection lost, device unplugged).

    Attributes:
        ended: True when a file source reached its end rather than failing.
    """

    error_class = ErrorClass.TRANSIENT

    def __init__(self, camera: str, message: str, *, ended: bool = False) -> None:
        super().__init__(camera, message)
        self.ended = ended


class CameraRecordingError(CameraError):
    """The encoder process failed or could not be started."""

    def __init__(self, camera: str, message: str, *, error_class: ErrorClass) -> None:
        super().__init__(camera, message)
        self.error_class = error_class
