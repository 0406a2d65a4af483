"""JPEG thumbnails every few seconds, for the patrol wall at the hub.

A :class:`Thumbnailer` is offered every frame and encodes one every
``interval`` seconds of hearing time: scaled down to at most ``max_width``
pixels wide, JPEG at ``quality``, then at lower quality (and, if need be,
half the size) until it fits ``max_bytes``. That bound is what lets a hub
watching forty courtrooms keep every camera's latest picture in memory and
on the wire without surprises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from av.camera.source import Frame

__all__ = ["Thumbnail", "Thumbnailer"]

_MIN_QUALITY = 25


@dataclass(frozen=True, slots=True, kw_only=True)
class Thumbnail:
    """A JPEG picture of a camera at a hearing time.

    Attributes:
        camera: camera id.
        hearing_time: hearing seconds the frame was captured.
        width, height: pixel size of the JPEG.
        jpeg: the JPEG bytes.
    """

    camera: str
    hearing_time: float
    width: int
    height: int
    jpeg: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.jpeg)

    def metadata(self) -> dict[str, Any]:
        """JSON metadata to send along with the bytes."""
        return {
            "camera": self.camera,
            "hearing_time": self.hearing_time,
            "width": self.width,
            "height": self.height,
            "bytes": self.size,
            "content_type": "image/jpeg",
        }


class Thumbnailer:
    """Turns a stream of frames into a thumbnail every ``interval`` seconds.

    Args:
        camera: camera id.
        interval: seconds of hearing time between thumbnails.
        max_width: widest thumbnail in pixels (height keeps the aspect ratio).
        quality: first JPEG quality tried (1–100).
        max_bytes: largest JPEG accepted.

    Raises:
        ValueError: numbers out of range.
    """

    def __init__(
        self,
        camera: str,
        *,
        interval: float = 5.0,
        max_width: int = 320,
        quality: int = 75,
        max_bytes: int = 48_000,
    ) -> None:
        if interval <= 0:
            raise ValueError("thumbnail interval must be positive")
        if max_width < 16 or not _MIN_QUALITY <= quality <= 100 or max_bytes < 2_000:
            raise ValueError("thumbnail max_width >= 16, quality 25-100, max_bytes >= 2000")
        self.camera = camera
        self.interval = interval
        self.max_width = max_width
        self.quality = quality
        self.max_bytes = max_bytes
        self._next: float | None = None

    def offer(self, frame: Frame) -> Thumbnail | None:
        """Return a thumbnail if one is due at this frame's hearing time, else None."""
        now = frame.hearing_time
        if now is None or (self._next is not None and now < self._next):
            return None
        self._next = now + self.interval
        return self.encode(frame.image, hearing_time=now)

    def encode(self, image: npt.NDArray[np.uint8], *, hearing_time: float) -> Thumbnail:
        """Encode ``image`` within the size bounds, now.

        Raises:
            ValueError: the image cannot be encoded within ``max_bytes`` even
                at 16 pixels wide (never for a camera picture).
        """
        height, width = image.shape[:2]
        target_w = min(self.max_width, width)
        while target_w >= 16:
            target_h = max(1, math.floor(height * target_w / width))
            small = (
                image
                if target_w == width
                else cv2.resize(image, (target_w, target_h), interpolation=cv2.INTER_AREA)
            )
            quality = self.quality
            while quality >= _MIN_QUALITY:
                ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
                if ok and data.size <= self.max_bytes:
                    return Thumbnail(
                        camera=self.camera,
                        hearing_time=hearing_time,
                        width=target_w,
                        height=target_h,
                        jpeg=data.tobytes(),
                    )
                quality -= 15
            target_w //= 2
        raise ValueError(f"cannot fit a thumbnail of camera {self.camera} in {self.max_bytes} B")
