"""The synchronous recording time burned into the picture.

The SPC rules on court audio-video recording ask for the recording time on
the video itself, with the date and the courtroom. :class:`TimestampOverlay`
draws, in an opaque black box at the top left of each recorded frame::

    2025-03-04 14:03:07.4 +08:00
    第一法庭  CAM-1

The time is the hearing clock turned into wall time through the hearing's
``epoch`` (the wall time of hearing second 0), so the picture shows the same
instant as the audio and transcript stamps, not the encoder's idea of now.

Rendering. The time line changes every frame and is pure ASCII: it is drawn
with ``cv2.putText`` (Hershey font). The second line — courtroom name and
camera id — never changes, so it is rendered once per frame size into a
ready-made box (the black background blended in already) and copied into
each frame: a frame costs one small copy plus one ``putText``, less than
drawing both lines did. The courtroom name (``title``) may be any Unicode,
e.g. ``第一法庭``; it is rendered with Pillow from a CJK TrueType font:

1. ``font``, if given; it must load and have glyphs for the title, else
   :class:`ValueError` (a configuration error, raised at startup);
2. otherwise the first file of ``CJK_FONT_PATHS`` that exists (Debian
   ``fonts-wqy-microhei``, installed by ``make setup``), then the file that
   ``fc-match ':lang=zh-cn'`` names if fontconfig says it covers ``zh-cn``
   (asked once per process). ``:lang=zh`` is not used: ``zh`` is no
   fontconfig language, and on a stock Debian it matches DejaVu Sans, which
   has no Han glyphs.

If no usable CJK font is found the overlay logs one warning and shows the
courtroom id instead (an ASCII title is still shown, with the Hershey font):
a missing font never stops a recording. Without a ``title`` the second line
is ``<courtroom id> <camera id>`` as before.
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

__all__ = [
    "CJK_FONT_PATHS",
    "OverlayBox",
    "TimestampOverlay",
    "find_cjk_font",
    "no_signal_image",
]

_log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

CJK_FONT_PATHS: tuple[Path, ...] = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),)
"""CJK font files tried, in order, before asking fontconfig."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
# Han glyphs drawn at 1.2 × the Hershey cap height look as tall as the digits.
_HAN_SIZE = 1.2
# Two cameras never need more; a bound keeps a camera that keeps changing
# resolution from growing the cache.
_MAX_LAYOUTS = 8
# A code point no font maps: what the font draws for a missing glyph.
_NO_GLYPH = "\U0010fffd"


@dataclass(frozen=True, slots=True)
class OverlayBox:
    """Pixel rectangle ``[x0, x1) × [y0, y1)`` that the overlay covers."""

    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True, slots=True)
class _Layout:
    """Everything about one frame size that does not change per frame."""

    scale: float
    thickness: int
    origin: tuple[int, int]  # time line baseline, relative to the box
    box: OverlayBox
    patch: Image  # the box with the static second line drawn


def find_cjk_font(
    paths: Sequence[Path] = CJK_FONT_PATHS, *, fontconfig: bool = True
) -> Path | None:
    """The CJK font the overlay uses when none is configured.

    Args:
        paths: font files tried in order; missing ones are skipped.
        fontconfig: then ask ``fc-match`` (once per process) for a font
            covering simplified Chinese.

    Returns:
        A font file, or None if there is none (the caller falls back).
    """
    for path in paths:
        if path.is_file():
            return path
    return _fc_match_cjk() if fontconfig else None


@functools.cache
def _fc_match_cjk() -> Path | None:
    executable = shutil.which("fc-match")
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, "-f", "%{file}\n%{lang}", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    file, _, langs = done.stdout.partition("\n")
    # fc-match always names *some* font; only one covering zh-cn will do.
    if not file or "zh-cn" not in langs.split("|"):
        return None
    return Path(file)


def _glyph_bitmap(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    size = int(font.size) * 2
    canvas = PILImage.new("L", (size, size))
    ImageDraw.Draw(canvas).text((0, 0), char, font=font, fill=255)
    return canvas.tobytes()


def _open_font(path: Path, text: str) -> ImageFont.FreeTypeFont:
    """Load ``path`` and check that it draws every character of ``text``.

    Raises:
        ValueError: the file is missing, is no font Pillow can load, or
            lacks glyphs for some of ``text``.
    """
    if not path.is_file():
        raise ValueError(f"overlay font {path} does not exist")
    try:
        font = ImageFont.truetype(str(path), size=24)
    except OSError as exc:
        raise ValueError(f"overlay font {path} cannot be loaded: {exc}") from exc
    missing_glyph = _glyph_bitmap(font, _NO_GLYPH)
    missing = sorted(
        {c for c in text if not c.isspace() and _glyph_bitmap(font, c) == missing_glyph}
    )
    if missing:
        raise ValueError(f"overlay font {path} has no glyphs for {''.join(missing)!r}")
    return font


def _check_ascii(name: str, value: str) -> None:
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(
            f"{name} {value!r} cannot be burned into video: use a printable ASCII id "
            "(the Chinese courtroom name goes in the overlay's title)"
        )


class TimestampOverlay:
    """Draws date, time, courtroom and camera onto frames.

    Args:
        courtroom: courtroom id (printable ASCII); shown when there is no
            ``title`` or no font to draw it.
        camera: camera id (printable ASCII).
        epoch: timezone-aware wall time of hearing second 0.
        fraction_digits: decimals of the second shown (0–3).
        title: courtroom display name, any printable Unicode, e.g.
            ``"第一法庭 审判庭"``; None shows the courtroom id.
        font: TrueType/OpenType font (``.ttf``/``.ttc``/``.otf``) for the
            title; None looks one up with ``font_lookup``. Checked even
            without a title; the ids alone are drawn with OpenCV's font.
        font_lookup: finds a CJK font when ``font`` is None, or returns None.

    Raises:
        ValueError: an id is empty or not printable ASCII, ``title`` is empty
            or not printable, ``epoch`` is naive, ``fraction_digits`` is out
            of range, or ``font`` is missing, unloadable or has no glyphs for
            the title (the message names the file).
    """

    def __init__(
        self,
        *,
        courtroom: str,
        camera: str,
        epoch: datetime,
        fraction_digits: int = 1,
        title: str | None = None,
        font: Path | None = None,
        font_lookup: Callable[[], Path | None] = find_cjk_font,
    ) -> None:
        _check_ascii("courtroom id", courtroom)
        _check_ascii("camera id", camera)
        if epoch.tzinfo is None or epoch.utcoffset() is None:
            raise ValueError("overlay epoch must be timezone-aware")
        if not 0 <= fraction_digits <= 3:
            raise ValueError("fraction_digits must be 0-3")
        if title is not None:
            title = title.strip()
            if not title or not title.isprintable():
                raise ValueError(f"overlay title {title!r} must be printable, on one line")
        self.courtroom = courtroom
        self.camera = camera
        self.epoch = epoch
        self.fraction_digits = fraction_digits
        self.title = title
        self._font: ImageFont.FreeTypeFont | None = None
        self.font: Path | None = None
        """The font file the second line is drawn with; None: the Hershey font."""
        self.label = f"{courtroom} {camera}"
        """The second line as drawn."""
        if title is not None:
            self._choose_font(title, font, font_lookup)
        elif font is not None:
            _open_font(font, "")  # a bad configured font is an error even if unused
        self._layouts: dict[tuple[int, int], _Layout] = {}

    def _choose_font(
        self, title: str, font: Path | None, font_lookup: Callable[[], Path | None]
    ) -> None:
        label = f"{title}  {self.camera}"
        if font is not None:
            self._font, self.font, self.label = _open_font(font, label), font, label
            return
        found = font_lookup()
        problem = "no CJK font found (install fonts-wqy-microhei)"
        if found is not None:
            try:
                self._font, self.font, self.label = _open_font(found, label), found, label
                return
            except ValueError as exc:
                problem = str(exc)
        if title.isascii():
            self.label = label
            return
        _log.warning(
            "camera %s: cannot draw courtroom title %r (%s); showing courtroom id %s",
            self.camera,
            title,
            problem,
            self.courtroom,
        )

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
        return text, self.label

    def box(self, width: int, height: int) -> OverlayBox:
        """Where the overlay lands on a ``width × height`` frame."""
        return self._fit(width, height).box

    def draw(self, image: Image, hearing_time: float) -> Image:
        """Draw the overlay for ``hearing_time`` into ``image`` in place and return it.

        ``image`` is a BGR frame (``height × width × 3``, uint8).
        """
        height, width = image.shape[:2]
        layout = self._fit(width, height)
        box = layout.box
        inside = image[box.y0 : box.y1, box.x0 : box.x1]
        inside[...] = layout.patch
        # drawn into the box view: the text is clipped to the box
        cv2.putText(
            inside,
            self.lines(hearing_time)[0],
            layout.origin,
            _FONT,
            layout.scale,
            _WHITE,
            layout.thickness,
            cv2.LINE_AA,
        )
        return image

    def _fit(self, width: int, height: int) -> _Layout:
        cached = self._layouts.get((width, height))
        if cached is None:
            if len(self._layouts) >= _MAX_LAYOUTS:
                del self._layouts[next(iter(self._layouts))]
            cached = self._layouts[(width, height)] = self._layout(width, height)
        return cached

    def _layout(self, width: int, height: int) -> _Layout:
        """Scale the text to the frame: about 1/24 of its height, never wider than it."""
        text_h = cv2.getTextSize(self.lines(0.0)[0], _FONT, 1.0, 1)[0][1]
        scale = height / 24 / text_h
        # Strokes thicken and glyphs are hinted as the text grows, so widths
        # are not linear in scale: measure at the scale used, shrink, repeat.
        for _ in range(4):
            widest = self._widest(scale, text_h)
            if widest <= 0.92 * width:
                break
            scale *= 0.92 * width / widest
        widest = self._widest(scale, text_h)
        thickness = _thickness(scale)
        line_height = max(4, math.ceil(text_h * scale * 1.45))
        pad = max(2, line_height // 4)
        margin = max(1, width // 100)
        box = OverlayBox(
            x0=margin,
            y0=margin,
            x1=min(width, margin + 2 * pad + math.ceil(widest)),
            y1=min(height, margin + 2 * pad + 2 * line_height),
        )
        patch = np.zeros((box.y1 - box.y0, box.x1 - box.x0, 3), np.uint8)
        baseline = pad + 2 * line_height - line_height // 4
        if self._font is None:
            cv2.putText(
                patch, self.label, (pad, baseline), _FONT, scale, _WHITE, thickness, cv2.LINE_AA
            )
        else:
            # white on black: the glyph coverage is the pixel value
            canvas = PILImage.new("L", (patch.shape[1], patch.shape[0]))
            size = _title_size(scale, text_h)
            ImageDraw.Draw(canvas).text(
                (pad, baseline),
                self.label,
                font=self._font.font_variant(size=size),
                fill=255,
                anchor="ls",
                stroke_width=_title_stroke(size),
                stroke_fill=255,
            )
            patch[...] = np.asarray(canvas)[..., None]
        origin = (pad, pad + line_height - line_height // 4)
        return _Layout(scale, thickness, origin, box, patch)

    def _widest(self, scale: float, text_h: int) -> float:
        """Width in pixels of the wider line at ``scale``."""
        thickness = _thickness(scale)
        time_w = cv2.getTextSize(self.lines(0.0)[0], _FONT, scale, thickness)[0][0]
        if self._font is None:
            # room for any id of the same length
            sample = self.label.replace(self.courtroom, "W" * len(self.courtroom))
            label_w = float(cv2.getTextSize(sample, _FONT, scale, thickness)[0][0])
        else:
            size = _title_size(scale, text_h)
            font = self._font.font_variant(size=size)
            label_w = font.getlength(self.label) + 2 * _title_stroke(size)
        return max(time_w, label_w)


def _thickness(scale: float) -> int:
    return max(1, round(scale * 1.6))


def _title_size(scale: float, text_h: int) -> int:
    return max(6, round(text_h * scale * _HAN_SIZE))


def _title_stroke(size: int) -> int:
    # as heavy as the Hershey strokes of the time line
    return round(size / 40)


def no_signal_image(width: int, height: int) -> Image:
    """The picture recorded while a camera delivers nothing: dark grey, ``NO SIGNAL``."""
    image = np.full((height, width, 3), 48, dtype=np.uint8)
    text = "NO SIGNAL"
    (text_w, text_h), _ = cv2.getTextSize(text, _FONT, 1.0, 2)
    scale = 0.5 * width / text_w
    origin = (int((width - text_w * scale) / 2), int((height + text_h * scale) / 2))
    cv2.putText(image, text, origin, _FONT, scale, (200, 200, 200), max(1, round(scale * 2)))
    return image
