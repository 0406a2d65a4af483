"""The synchronous recording time burned into the picture.

The SPC rules on court audio-video recording ask for the recording time on
the video itself. :class:`TimestampOverlay` draws, in a black box at the top
left of each recorded frame::

    2025-03-04 14:03:07.4 +08:00
    FY-101 CAM-1

The time is the hearing clock turned into wall time through the hearing's
``epoch`` (the wall time of hearing second 0), so the picture shows the same
instant as the audio and transcript stamps, not the encoder's idea of now.

Text is drawn with ``cv2.putText``, whose Hershey fonts have ASCII glyphs
only: the courtroom and camera are shown by their configured ids, which
must be printable ASCII. (A Chinese courtroom name needs a CJK font and a
renderer such as Pillow or ffmpeg's ``drawtext``; see the package notes.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["OverlayBox", "TimestampOverlay", "no_signal_image"]

Image = npt.NDArray[np.uint8]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)


@dataclass(frozen=True, slots=True)
class OverlayBox:
    """Pixel rectangle ``[x0, x1) × [y0, y1)`` that the overlay covers."""

    x0: int
    y0: int
    x1: int
    y1: int


def _check_ascii(name: str, value: str) -> None:
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(
            f"{name} {value!r} cannot be burned into video: use a printable ASCII id "
            "(OpenCV's fonts have no Chinese glyphs)"
        )


class TimestampOverlay:
    """Draws date, time, courtroom and camera onto frames.

    Args:
        courtroom: courtroom id (printable ASCII).
        camera: camera id (printable ASCII).
        epoch: timezone-aware wall time of hearing second 0.
        fraction_digits: decimals of the second shown (0–3).

    Raises:
        ValueError: an id is empty or not printable ASCII, ``epoch`` is
            naive, or ``fraction_digits`` is out of range.
    """

    def __init__(
        self, *, courtroom: str, camera: str, epoch: datetime, fraction_digits: int = 1
    ) -> None:
        _check_ascii("courtroom id", courtroom)
        _check_ascii("camera id", camera)
        if epoch.tzinfo is None or epoch.utcoffset() is None:
            raise ValueError("overlay epoch must be timezone-aware")
        if not 0 <= fraction_digits <= 3:
            raise ValueError("fraction_digits must be 0-3")
        self.courtroom = courtroom
        self.camera = camera
        self.epoch = epoch
        self.fraction_digits = fraction_digits
        self._layout: dict[tuple[int, int], tuple[float, int, int, OverlayBox]] = {}

    def wall_time(self, hearing_time: float) -> datetime:
        """The wall time shown for ``hearing_time``."""
        return self.epoch + timedelta(seconds=hearing_time)

    def lines(self, hearing_time: float) -> tuple[str, str]:
        """The two text lines drawn for ``hearing_time``."""
        wall = self.wall_time(hearing_time)
        text = wall.strftime("%Y-%m-%d %H:%M:%S")
        if self.fraction_digits:
            scale = 10**self.fraction_digits
            fraction = math.floor(wall.microsecond / 1_000_000 * scale)
            text += f".{fraction:0{self.fraction_digits}d}"
        offset = wall.strftime("%z")
        text += f" {offset[:3]}:{offset[3:]}"
        return text, f"{self.courtroom} {self.camera}"

    def box(self, width: int, height: int) -> OverlayBox:
        """Where the overlay lands on a ``width × height`` frame."""
        return self._fit(width, height)[3]

    def draw(self, image: Image, hearing_time: float) -> Image:
        """Draw the overlay for ``hearing_time`` into ``image`` in place and return it."""
        height, width = image.shape[:2]
        scale, thickness, line_height, box = self._fit(width, height)
        cv2.rectangle(image, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), _BLACK, cv2.FILLED)
        pad = max(2, line_height // 4)
        for row, text in enumerate(self.lines(hearing_time)):
            baseline_y = box.y0 + pad + (row + 1) * line_height - line_height // 4
            cv2.putText(
                image,
                text,
                (box.x0 + pad, baseline_y),
                _FONT,
                scale,
                _WHITE,
                thickness,
                cv2.LINE_AA,
            )
        return image

    def _fit(self, width: int, height: int) -> tuple[float, int, int, OverlayBox]:
        """Scale the text to the frame: about 1/24 of its height, never wider than it."""
        cached = self._layout.get((width, height))
        if cached is not None:
            return cached
        widest = max(self.lines(0.0), key=len)
        sample = widest.replace(self.courtroom, "W" * len(self.courtroom))
        (text_w, text_h), _ = cv2.getTextSize(sample, _FONT, 1.0, 1)
        scale = min(height / 24 / text_h, 0.92 * width / text_w)
        thickness = max(1, round(scale * 1.6))
        line_height = max(4, math.ceil(text_h * scale * 1.45))
        pad = max(2, line_height // 4)
        margin = max(1, width // 100)
        box = OverlayBox(
            x0=margin,
            y0=margin,
            x1=min(width, margin + 2 * pad + math.ceil(text_w * scale * 1.04)),
            y1=min(height, margin + 2 * pad + 2 * line_height),
        )
        self._layout[(width, height)] = layout = (scale, thickness, line_height, box)
        return layout


def no_signal_image(width: int, height: int) -> Image:
    """The picture recorded while a camera delivers nothing: dark grey, ``NO SIGNAL``."""
    image = np.full((height, width, 3), 48, dtype=np.uint8)
    text = "NO SIGNAL"
    (text_w, text_h), _ = cv2.getTextSize(text, _FONT, 1.0, 2)
    scale = 0.5 * width / text_w
    origin = (int((width - text_w * scale) / 2), int((height + text_h * scale) / 2))
    cv2.putText(image, text, origin, _FONT, scale, (200, 200, 200), max(1, round(scale * 2)))
    return image
