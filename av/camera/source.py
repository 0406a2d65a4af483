"""Camera frames through OpenCV: a device, an RTSP or HTTP (MJPEG) URL, a file.

Threading: ``cv2.VideoCapture.read()`` blocks, so each open source has one
reader thread of its own. It stamps every frame with the monotonic clock and
the hearing clock as soon as ``read()`` returns, and appends it to a bounded
queue; the event loop is woken through one coalesced ``call_soon_threadsafe``.

Overflow policy: the queue holds ``queue_frames`` frames. When the consumer
falls that far behind, the **oldest** queued frame is dropped to make room:
for a live picture the newest frame matters most, and the recorder keeps a
constant frame rate by repeating frames anyway (see :mod:`av.camera.pacer`).
Every drop is counted in :attr:`CaptureStats.frames_dropped`; the first drop
of a stall and the recovery are logged.

A failed ``read()`` (connection lost, device unplugged, end of a file) ends
the thread; :meth:`CameraCapture.read` raises :class:`CameraStreamError`
once the queued frames are consumed. A source that hangs without failing is
bounded by ``read_timeout`` for network sources (OpenCV's FFmpeg backend);
noticing a silent camera is the watchdog's job, not the reader's.

RTSP: OpenCV's FFmpeg backend asks for RTP over the RTSP TCP connection
(``rtsp_transport;tcp``, which survives the lossy networks of a court
building) as long as ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` is unset; whoever sets
that variable must include ``rtsp_transport;tcp`` in it, or RTP falls back
to UDP.

OpenCV does not say why it cannot open a URL; for RTSP,
:func:`rtsp_describe_status` asks the camera itself (one ``DESCRIBE``) so
the offline event says "401 Unauthorized" or "404 Not Found" instead.

Network sources are decoded with ``decode_threads`` (default one) thread:
FFmpeg's frame threading holds one frame per extra thread, and when a camera
hangs, OpenCV spends a whole ``read_timeout`` draining each held frame, so
a hung H.264 camera would block the reader for (threads + 1) read timeouts
(45 s on an 8-core PC) while handing out stale frames that keep the
watchdog happy. One thread costs little at camera resolutions.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import numpy.typing as npt

from av.camera.errors import CameraOpenError, CameraStreamError
from av.camera.rtsp_probe import rtsp_describe_status

__all__ = [
    "CameraAddress",
    "CameraCapture",
    "CaptureStats",
    "Frame",
    "SourceKind",
    "rtsp_describe_status",
]

_log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]


class SourceKind(enum.StrEnum):
    DEVICE = "device"
    RTSP = "rtsp"
    HTTP = "http"
    FILE = "file"


_SCHEMES = {
    "rtsp": SourceKind.RTSP,
    "rtsps": SourceKind.RTSP,
    "http": SourceKind.HTTP,
    "https": SourceKind.HTTP,
}
_DEVICE_PATH = re.compile(r"/dev/video\d+")


@dataclass(frozen=True, slots=True)
class CameraAddress:
    """Where a camera's picture comes from; validates itself.

    Use :meth:`parse`. ``target`` is a device index, a ``/dev/videoN`` path,
    a URL or a file path. URLs may carry credentials
    (``rtsp://user:secret@host/``); log :attr:`redacted`, never ``target``.

    Raises:
        ValueError: on construction, for a negative index, an empty target or
            a URL whose scheme does not match ``kind``.
    """

    kind: SourceKind
    target: str | int

    def __post_init__(self) -> None:
        if isinstance(self.target, int):
            if self.kind is not SourceKind.DEVICE or self.target < 0:
                raise ValueError(f"a camera index must be a device index >= 0, not {self.target}")
        elif not self.target:
            raise ValueError("empty camera address")
        elif (
            self.kind in (SourceKind.RTSP, SourceKind.HTTP)
            and _SCHEMES.get(urlsplit(self.target).scheme.lower()) is not self.kind
        ):
            raise ValueError(f"{self.redacted} is not an {self.kind} URL")

    @classmethod
    def parse(cls, spec: str | int | Path) -> CameraAddress:
        """Read a configured address: ``0``, ``"/dev/video2"``, a URL or a file path.

        Raises:
            ValueError: the spec is empty, a negative index, or a URL with an
                unsupported scheme (``udp://``, ``ftp://``).
        """
        if isinstance(spec, Path):
            return cls(SourceKind.FILE, str(spec))
        if isinstance(spec, int) or re.fullmatch(r"\s*-?\d+\s*", spec):
            return cls(SourceKind.DEVICE, int(spec))
        spec = spec.strip()
        if _DEVICE_PATH.fullmatch(spec):
            return cls(SourceKind.DEVICE, spec)
        scheme = urlsplit(spec).scheme.lower()
        if scheme in _SCHEMES:
            return cls(_SCHEMES[scheme], spec)
        if scheme == "file":
            return cls(SourceKind.FILE, urlsplit(spec).path)
        if "://" in spec:
            raise ValueError(f"unsupported camera URL scheme {scheme!r}")
        return cls(SourceKind.FILE, spec)

    @property
    def redacted(self) -> str:
        """The address with any password replaced by ``***``, for logs and events."""
        if isinstance(self.target, int) or self.kind not in (SourceKind.RTSP, SourceKind.HTTP):
            return str(self.target)
        parts = urlsplit(self.target)
        if parts.password is None:
            return self.target
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:***@{host}"
        return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One picture from a camera.

    Attributes:
        camera: the configured camera id.
        index: frame number since the capture was opened.
        image: BGR pixels, shape ``(height, width, 3)``, uint8; do not modify.
        captured_at: monotonic clock when ``read()`` returned it.
        hearing_time: hearing-clock seconds of the same instant, less the
            configured capture latency; None without a hearing clock.
    """

    camera: str
    index: int
    image: Image = field(repr=False)
    captured_at: float
    hearing_time: float | None

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """What a :class:`CameraCapture` has read and dropped so far."""

    frames_captured: int
    frames_dropped: int
    frames_queued: int


class CameraCapture:
    """One connection to a camera: open, read frames in a thread, close.

    It does not reconnect; :class:`av.camera.Camera` does that.

    Args:
        address: where to read from (:meth:`CameraAddress.parse`).
        camera: the camera id stamped on frames and errors.
        queue_frames: frames held for a slow consumer before the oldest is
            dropped (see the module docstring).
        open_timeout: seconds OpenCV may take to open a network source.
        read_timeout: seconds one ``read()`` of a network source may block.
        decode_threads: decoder threads for a network source (see the
            module docstring before raising it).
        pace_files: deliver a file's frames at its own frame rate, as a
            camera would, instead of as fast as they decode.
        loop_file: start a file over at its end instead of ending.
        clock: monotonic clock for ``captured_at`` (and file pacing).
        hearing_clock: hearing seconds for ``hearing_time``; called from the
            reader thread, so it must be thread-safe (a function of
            ``time.monotonic()`` is).
        capture_latency: seconds between the light reaching the sensor and
            ``read()`` returning (encoder and network delay), subtracted from
            ``hearing_time``; measure it once per camera model.
    """

    def __init__(
        self,
        address: CameraAddress,
        *,
        camera: str,
        queue_frames: int = 8,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        decode_threads: int = 1,
        pace_files: bool = True,
        loop_file: bool = False,
        clock: Callable[[], float] = time.monotonic,
        hearing_clock: Callable[[], float] | None = None,
        capture_latency: float = 0.0,
    ) -> None:
        if not camera:
            raise ValueError("camera id must not be empty")
        if queue_frames < 1:
            raise ValueError("queue_frames must be at least 1")
        if open_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if decode_threads < 1:
            raise ValueError("decode_threads must be at least 1")
        self.address = address
        self.camera = camera
        self._queue: collections.deque[Frame] = collections.deque()
        self._queue_frames = queue_frames
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._decode_threads = decode_threads
        self._pace = pace_files and address.kind is SourceKind.FILE
        self._loop_file = loop_file and address.kind is SourceKind.FILE
        self._clock = clock
        self._hearing_clock = hearing_clock
        self._latency = capture_latency
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = asyncio.Event()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._failure: str | None = None
        self._ended = False
        self._captured = 0
        self._dropped = 0
        self._dropping = False

    @property
    def stats(self) -> CaptureStats:
        with self._lock:
            return CaptureStats(self._captured, self._dropped, len(self._queue))

    async def __aenter__(self) -> Self:
        """Open the source and start the reader thread.

        Raises:
            CameraOpenError: OpenCV cannot open the source or read its first
                frame; retry later. For an RTSP camera the message ends with
                what :func:`rtsp_describe_status` found out (wrong password,
                no such path, connection refused, no answer).
        """
        if self._loop is not None:
            raise RuntimeError("a CameraCapture can be opened only once")
        self._loop = asyncio.get_running_loop()
        capture = await asyncio.to_thread(self._open_blocking)
        self._thread = threading.Thread(
            target=self._read_loop, args=(capture,), name=f"camera {self.camera}", daemon=True
        )
        self._thread.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the reader thread and release the source.

        A read blocked in OpenCV cannot be interrupted; it returns within
        ``read_timeout`` and the thread then releases the capture. Waiting is
        bounded by that; a thread still stuck afterwards is left to finish
        on its own (it is a daemon) and logged.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, self._read_timeout + 2.0)
            if thread.is_alive():
                _log.warning("camera %s: reader thread still blocked in OpenCV", self.camera)

    def _open_blocking(self) -> cv2.VideoCapture:
        target = self.address.target
        started = self._clock()
        if self.address.kind is SourceKind.DEVICE:
            capture = (
                cv2.VideoCapture(target)
                if isinstance(target, int)
                else cv2.VideoCapture(target, cv2.CAP_V4L2)
            )
        else:
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self._open_timeout * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self._read_timeout * 1000),
            ]
            if self.address.kind is not SourceKind.FILE:
                params += [cv2.CAP_PROP_N_THREADS, self._decode_threads]
            capture = cv2.VideoCapture(str(target), cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            why = ""
            network = self.address.kind in (SourceKind.RTSP, SourceKind.HTTP)
            if network and self._clock() - started >= 0.9 * self._open_timeout:
                why = f": no answer within {self._open_timeout:g} s"
            elif self.address.kind is SourceKind.RTSP and isinstance(target, str):
                status = rtsp_describe_status(target, timeout=self._open_timeout)
                why = f": {status}" if status else ""
            raise CameraOpenError(self.camera, f"OpenCV cannot open {self.address.redacted}{why}")
        _log.info("camera %s: opened %s", self.camera, self.address.redacted)
        return capture

    def _read_loop(self, capture: cv2.VideoCapture) -> None:
        fps = capture.get(cv2.CAP_PROP_FPS) if self._pace else 0.0
        period = 1.0 / fps if fps and 0 < fps <= 240 else 0.0
        due = self._clock()
        try:
            while not self._stop.is_set():
                ok, image = capture.read()
                if not ok and self._loop_file and self._captured:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, image = capture.read()
                if not ok or image is None:
                    self._finish(None if self.address.kind is SourceKind.FILE else "read failed")
                    return
                if period:
                    due += period
                    self._stop.wait(max(0.0, due - self._clock()))
                self._push(np.ascontiguousarray(image, dtype=np.uint8))
        except Exception as exc:  # thread boundary: becomes a CameraStreamError in read()
            _log.exception("camera %s: reader thread failed", self.camera)
            self._finish(f"{type(exc).__name__}: {exc}")
        finally:
            capture.release()

    def _push(self, image: Image) -> None:
        now = self._clock()
        hearing = None if self._hearing_clock is None else self._hearing_clock() - self._latency
        with self._lock:
            frame = Frame(self.camera, self._captured, image, now, hearing)
            self._captured += 1
            if len(self._queue) >= self._queue_frames:
                self._queue.popleft()
                self._dropped += 1
                if not self._dropping:
                    self._dropping = True
                    _log.warning("camera %s: consumer is slow, dropping frames", self.camera)
            elif self._dropping and len(self._queue) < self._queue_frames // 2:
                self._dropping = False
                _log.info("camera %s: consumer caught up (%d dropped)", self.camera, self._dropped)
            self._queue.append(frame)
        self._notify()

    def _finish(self, failure: str | None) -> None:
        with self._lock:
            self._failure = failure
            self._ended = True
        self._notify()

    def _notify(self) -> None:
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is reading
                self._loop.call_soon_threadsafe(self._set_wake)

    def _set_wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        self._wake.set()

    async def read(self, *, wait: float | None = None) -> Frame | None:
        """Return the oldest queued frame, waiting up to ``wait`` seconds (None: forever).

        Returns:
            The frame, or None if none arrived within ``wait``.

        Raises:
            CameraStreamError: the source failed or ended (``ended`` is set on
                the error: a file reached its end) and no frame is left.
            RuntimeError: the capture is not open.
        """
        if self._loop is None:
            raise RuntimeError("CameraCapture is not open")
        deadline = None if wait is None else self._loop.time() + wait
        while True:
            with self._lock:
                if self._queue:
                    return self._queue.popleft()
                if self._ended:
                    raise CameraStreamError(
                        self.camera,
                        self._failure or f"end of {self.address.redacted}",
                        ended=self._failure is None,
                    )
                self._wake.clear()
            remaining = None if deadline is None else deadline - self._loop.time()
            if remaining is not None and remaining <= 0:
                return None
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow
            # a cancellation that races with its completion, and the camera
            # task would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
