"""Errors raised by the recorder and the checker, one tree::

    RecordingError                      anything this package raises on purpose
    ├── ManifestError                   manifest.json missing, unreadable or malformed
    ├── RecordingMismatchError          an existing hearing dir was recorded differently
    ├── FrameOrderError                 a block overlaps frames already recorded (caller bug)
    ├── RecorderClosedError             write() after close()
    ├── InterruptionStateError          put while interrupted, resume while not (caller bug)
    ├── MarkerError                     a marker was not listed; the recording goes on
    └── RecorderFailedError             the writer thread hit an I/O error; ``__cause__`` says which

Every error is raised ``from`` the library error that caused it, if any.
"""

from __future__ import annotations

from courtroom_core.errors import CourtroomError

__all__ = [
    "FrameOrderError",
    "InterruptionStateError",
    "ManifestError",
    "MarkerError",
    "RecorderClosedError",
    "RecorderFailedError",
    "RecordingError",
    "RecordingMismatchError",
]


class RecordingError(CourtroomError):
    """Base class of every error raised by :mod:`av.recording`."""


class ManifestError(RecordingError):
    """The manifest is missing, not JSON, or does not follow the format.

    Attributes:
        path: the manifest file.
    """

    def __init__(self, path: object, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class RecordingMismatchError(RecordingError):
    """An existing hearing directory holds a recording with other channels or rate."""


class FrameOrderError(RecordingError, ValueError):
    """A block starts before the end of audio already recorded.

    Recording it would duplicate frames on the hearing clock, so the block is
    refused and the recorder's state is left unchanged.

    Attributes:
        start_frame: hearing frame the block starts at.
        expected_frame: first hearing frame not yet recorded.
    """

    def __init__(self, start_frame: int, expected_frame: int) -> None:
        super().__init__(
            f"block starts at hearing frame {start_frame}, before frame {expected_frame} "
            "that is already recorded"
        )
        self.start_frame = start_frame
        self.expected_frame = expected_frame


class InterruptionStateError(RecordingError):
    """The call does not fit the recording's interruption state (a caller bug).

    A block put while the court has the recording interrupted, an interrupt
    while already interrupted, or a resume while not interrupted. Nothing is
    recorded or changed.
    """


class MarkerError(RecordingError):
    """A marker could not be listed in the manifest; the recording goes on untouched.

    The manifest could not be written (disk full: ``__cause__`` is the
    ``OSError``), the hearing already holds the most markers allowed, or
    nothing has been recorded yet (there is no manifest to list it in). The
    caller may report the failure and retry later; the audio is not affected.
    """


class RecorderClosedError(RecordingError):
    """The recorder has been closed; open a new one to continue the hearing."""


class RecorderFailedError(RecordingError):
    """The writer thread failed (disk full, I/O error); the recording has stopped.

    The audio queued at the time is lost and every later ``write()`` raises
    this error. The manifest still describes every segment up to the failure;
    a new recorder on the same directory resumes with a declared gap.
    """
