"""The courtroom's Chinese name in the burned-in overlay: real fonts, real rendering."""

from __future__ import annotations

import functools
import logging
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from av.camera.overlay import CJK_FONT_PATHS, TimestampOverlay, find_cjk_font

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # fonts-wqy-microhei
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Latin only
EPOCH = datetime(2025, 3, 4, 14, 0, 0, tzinfo=timezone(timedelta(hours=8)))
SIZES = [(640, 360), (1280, 720), (1920, 1080)]

Image = npt.NDArray[np.uint8]


def overlay(
    *,
    title: str | None = None,
    font: Path | None = None,
    font_lookup: Callable[[], Path | None] = find_cjk_font,
) -> TimestampOverlay:
    return TimestampOverlay(
        courtroom="FY-101",
        camera="CAM-1",
        epoch=EPOCH,
        title=title,
        font=font,
        font_lookup=font_lookup,
    )


def grey(width: int = 1280, height: int = 720) -> Image:
    return np.full((height, width, 3), 128, np.uint8)


def no_font(directory: Path) -> functools.partial[Path | None]:
    """A font lookup pointed at an empty directory, without fontconfig."""
    directory.mkdir(exist_ok=True)
    return functools.partial(find_cjk_font, [directory / "wqy-microhei.ttc"], fontconfig=False)


def ink_rows(region: Image) -> npt.NDArray[np.intp]:
    return np.nonzero((region > 100).any(axis=(1, 2)))[0]


def label_ink(ov: TimestampOverlay, width: int, height: int) -> Image:
    """The second line's ink, cropped to its bounding box, as grey levels."""
    box = ov.box(width, height)
    drawn = ov.draw(np.zeros((height, width, 3), np.uint8), 0.0)
    region = drawn[box.y0 : box.y1, box.x0 : box.x1, 0]
    lower = region[region.shape[0] // 2 :]
    ys, xs = np.nonzero(lower > 100)
    return lower[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def pillow_ink(text: str, shape: tuple[int, int]) -> Image:
    """``text`` drawn large by Pillow alone, cropped and resized to ``shape``."""
    canvas = PILImage.new("L", (2000, 200))
    ImageDraw.Draw(canvas).text(
        (10, 150), text, font=ImageFont.truetype(str(WQY), 100), fill=255, anchor="ls"
    )
    ink = np.asarray(canvas)
    ys, xs = np.nonzero(ink > 100)
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return np.asarray(
        cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_AREA), np.uint8
    )


def correlation(a: Image, b: Image) -> float:
    """Pearson correlation of two grey images, blurred to forgive sub-pixel shifts."""
    a, b = (cv2.GaussianBlur(x, (0, 0), 1.0).astype(float).ravel() for x in (a, b))
    return float(np.corrcoef(a, b)[0, 1])


def test_timestamp_overlay_title_is_drawn_with_the_given_font() -> None:
    ov = overlay(title="第一法庭", font=WQY)
    assert ov.font == WQY
    assert ov.lines(187.46) == ("2025-03-04 14:03:07.4 +08:00", "第一法庭  CAM-1")
    plain = overlay().draw(grey(), 187.46)
    titled = ov.draw(grey(), 187.46)
    box = ov.box(1280, 720)
    changed = np.argwhere((titled != plain).any(axis=2))
    assert changed.size
    # the difference is the second line, inside the box
    assert changed[:, 0].min() >= (box.y0 + box.y1) // 2 and changed[:, 0].max() < box.y1
    assert changed[:, 1].min() >= box.x0 and changed[:, 1].max() < box.x1


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_timestamp_overlay_title_box_fits_frames_of_any_size(width: int, height: int) -> None:
    ov = overlay(title="第一法庭 审判庭", font=WQY)
    picture = grey(width, height)
    drawn = ov.draw(picture.copy(), 5.0)
    box = ov.box(width, height)
    assert 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height
    assert box.x1 < 0.95 * width and box.y1 < height / 5
    changed = np.argwhere((drawn != picture).any(axis=2))
    assert changed[:, 0].min() >= box.y0 and changed[:, 0].max() < box.y1
    assert changed[:, 1].min() >= box.x0 and changed[:, 1].max() < box.x1
    region = drawn[box.y0 : box.y1, box.x0 : box.x1]
    assert (region < 30).mean() > 0.5  # white text on black
    # two separate lines of ink, neither touching the box edge
    rows = ink_rows(region)
    gaps = np.nonzero(np.diff(rows) > 1)[0]
    assert len(gaps) == 1
    assert rows[0] > 0 and rows[-1] < region.shape[0] - 1
    columns = np.nonzero((region > 100).any(axis=(0, 2)))[0]
    assert columns[0] > 0 and columns[-1] < region.shape[1] - 1
    # the time still moves
    later = ov.draw(picture.copy(), 6.0)
    assert not np.array_equal(later, drawn)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_timestamp_overlay_title_glyphs_match_pillow_rendering(width: int, height: int) -> None:
    ink = label_ink(overlay(title="第一法庭", font=WQY), width, height)
    right = correlation(ink, pillow_ink("第一法庭  CAM-1", ink.shape))
    wrong = correlation(ink, pillow_ink("审判法院  CAM-1", ink.shape))
    assert right > 0.85 and right > wrong + 0.2


def test_timestamp_overlay_different_titles_differ_only_in_title() -> None:
    first = overlay(title="第一法庭", font=WQY)
    second = overlay(title="第二法庭", font=WQY)
    box = first.box(1280, 720)
    assert second.box(1280, 720) == box  # Han glyphs are all one em wide
    a = first.draw(grey(), 9.0)
    b = second.draw(grey(), 9.0)
    differ = np.argwhere((a != b).any(axis=2))
    assert differ.size > 50
    label_rows = ink_rows(a[box.y0 : box.y1, box.x0 : box.x1])
    em = label_rows[-1] - label_rows[len(label_rows) // 2]  # about a glyph's height
    # only the second glyph differs: the time, 第, 法庭 and CAM-1 are the same
    assert differ[:, 0].min() > (box.y0 + box.y1) // 2
    left, right = differ[:, 1].min() - box.x0, differ[:, 1].max() - box.x0
    assert right - left < 1.3 * em and left > 0.7 * em


@pytest.mark.parametrize("title", ["第一法庭", None])
def test_timestamp_overlay_missing_font_raises_naming_path(
    tmp_path: Path, title: str | None
) -> None:
    missing = tmp_path / "fonts" / "nowhere.ttc"
    with pytest.raises(ValueError, match=re.escape(f"{missing} does not exist")):
        overlay(title=title, font=missing)


def test_timestamp_overlay_unloadable_font_raises_naming_path(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font at all\n" * 10)
    with pytest.raises(ValueError, match=r"bogus\.ttf cannot be loaded"):
        overlay(title="第一法庭", font=bogus)


@pytest.mark.skipif(not DEJAVU.is_file(), reason="fonts-dejavu-core not installed")
def test_timestamp_overlay_font_without_han_glyphs_raises() -> None:
    with pytest.raises(ValueError, match=r"DejaVuSans\.ttf has no glyphs for '一庭法第'"):
        overlay(title="第一法庭", font=DEJAVU)


def test_timestamp_overlay_without_cjk_font_falls_back_to_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="av.camera.overlay"):
        ov = overlay(title="第一法庭", font_lookup=no_font(tmp_path / "fonts"))
        frames = [ov.draw(grey(w, h), 3.0) for w, h in SIZES]
    assert ov.font is None and ov.lines(0.0)[1] == "FY-101 CAM-1"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "第一法庭" in warnings[0].getMessage() and "FY-101" in warnings[0].getMessage()
    plain = overlay()
    for (w, h), frame in zip(SIZES, frames, strict=True):
        assert np.array_equal(frame, plain.draw(grey(w, h), 3.0))


@pytest.mark.skipif(not DEJAVU.is_file(), reason="fonts-dejavu-core not installed")
def test_timestamp_overlay_found_font_without_han_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="av.camera.overlay"):
        ov = overlay(title="第一法庭", font_lookup=lambda: DEJAVU)
    assert ov.font is None and ov.lines(0.0)[1] == "FY-101 CAM-1"
    assert "no glyphs" in caplog.text


def test_timestamp_overlay_ascii_title_without_font_uses_opencv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        ov = overlay(title="Court 1", font_lookup=no_font(tmp_path / "fonts"))
    assert ov.font is None and ov.lines(0.0)[1] == "Court 1  CAM-1"
    assert not caplog.records
    assert not np.array_equal(ov.draw(grey(), 1.0), overlay().draw(grey(), 1.0))


@pytest.mark.parametrize("title", ["", "   ", "第一\n法庭", "tab\there"])
def test_timestamp_overlay_rejects_unprintable_title(title: str) -> None:
    with pytest.raises(ValueError, match="title"):
        overlay(title=title, font=WQY)


def test_find_cjk_font_skips_missing_files(tmp_path: Path) -> None:
    assert CJK_FONT_PATHS[0] == WQY
    assert find_cjk_font([tmp_path / "a.ttc", WQY], fontconfig=False) == WQY
    assert no_font(tmp_path / "empty")() is None


@pytest.mark.skipif(shutil.which("fc-match") is None, reason="fontconfig not installed")
def test_find_cjk_font_asks_fontconfig_for_chinese(tmp_path: Path) -> None:
    found = find_cjk_font([tmp_path / "none.ttc"])
    assert found is not None and found.is_file()
    # whatever fontconfig picked draws Han glyphs
    assert overlay(title="第一法庭", font=found).font == found


def test_timestamp_overlay_default_lookup_finds_installed_font() -> None:
    assert overlay(title="第一法庭").font == WQY
