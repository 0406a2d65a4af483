"""Evidence files for the screens: found only inside the hearing's evidence folder.

:func:`locate` resolves an exhibit's relative path against the folder the
agent names for the current hearing, following symlinks, and refuses a file
that ends up outside it (``..``, an absolute path, a link pointing out), one
that is not a regular file, one larger than the bound, or one whose suffix
is not of its kind. :class:`PdfRenderer` renders one PDF page to PNG with
pdfium in a worker thread, one page at a time, within a pixel budget, and
keeps the last few renderings.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .model import Exhibit, ExhibitError, ExhibitKind

__all__ = ["IMAGE_TYPES", "Located", "PdfRenderer", "locate"]

IMAGE_TYPES: Final[Mapping[str, str]] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}
"""Image suffix → the content type it is served as."""

_SUFFIXES: Final[Mapping[ExhibitKind, frozenset[str]]] = {
    ExhibitKind.IMAGE: frozenset(IMAGE_TYPES),
    ExhibitKind.PDF: frozenset({".pdf"}),
}

BASE_SCALE: Final = 2.0
"""Pixels per PDF point at zoom 1 (144 dpi: sharp on a 1080p screen)."""


class Located:
    """An evidence file that passed :func:`locate`: where it is, its size and mtime."""

    __slots__ = ("mtime_ns", "path", "size")

    def __init__(self, path: Path, size: int, mtime_ns: int) -> None:
        self.path = path
        self.size = size
        self.mtime_ns = mtime_ns


def locate(folder: Path | None, exhibit: Exhibit, *, max_file: int) -> Located:
    """The file of an image or PDF exhibit, inside ``folder``.

    Raises:
        ExhibitError: no evidence folder, the path leaves the folder, the file
            is missing, not a regular file, too large or of the wrong type.
    """
    if exhibit.kind is ExhibitKind.LIVE or exhibit.path is None:
        raise ExhibitError("a live exhibit has no file")
    if folder is None:
        raise ExhibitError("exhibit.path: no evidence folder for this hearing")
    root = folder.resolve()
    try:
        target = (root / exhibit.path).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ExhibitError(
            f"exhibit.path: {exhibit.path!r} not found in the evidence folder"
        ) from exc
    if not target.is_relative_to(root):
        raise ExhibitError("exhibit.path leaves the evidence folder")
    if target.suffix.lower() not in _SUFFIXES[exhibit.kind]:
        allowed = ", ".join(sorted(_SUFFIXES[exhibit.kind]))
        raise ExhibitError(f"exhibit.path: a {exhibit.kind.value} exhibit must be {allowed}")
    stat = target.stat()
    if not target.is_file():
        raise ExhibitError("exhibit.path is not a regular file")
    if stat.st_size > max_file:
        raise ExhibitError(f"exhibit.path: file exceeds {max_file} bytes")
    return Located(target, stat.st_size, stat.st_mtime_ns)


class PdfRenderer:
    """PDF page → PNG bytes, one rendering at a time, the last ``keep`` cached.

    Args:
        max_pixels: a rendering larger than this is scaled down to fit.
        keep: renderings kept (a page re-shown or asked by many screens is
            rendered once).
    """

    def __init__(self, *, max_pixels: int, keep: int = 8) -> None:
        self._max_pixels = max_pixels
        self._keep = keep
        self._cache: OrderedDict[tuple[str, int, int, int, float], bytes] = OrderedDict()
        self._lock = asyncio.Lock()
        self._pdfium = threading.Lock()  # pdfium is not thread-safe

    async def render(self, located: Located, page: int, zoom: float) -> bytes:
        """PNG of ``page`` (from 1) at ``zoom``.

        Raises:
            ExhibitError: the file is not a PDF pdfium reads, or has no such page.
        """
        key = (str(located.path), located.size, located.mtime_ns, page, zoom)
        async with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            png = await asyncio.to_thread(self._render, located.path, page, zoom)
            self._cache[key] = png
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)
            return png

    def _render(self, path: Path, page: int, zoom: float) -> bytes:
        import pypdfium2 as pdfium  # loaded on first use: the agent starts without it

        with self._pdfium:
            try:
                document = pdfium.PdfDocument(path)
            except pdfium.PdfiumError as exc:
                raise ExhibitError(f"exhibit.path: not a readable PDF ({exc})") from exc
            try:
                if not 1 <= page <= len(document):
                    raise ExhibitError(f"exhibit.page: {page} of {len(document)} pages")
                sheet = document[page - 1]
                width, height = sheet.get_size()
                scale = BASE_SCALE * zoom
                budget = (self._max_pixels / max(1.0, width * height * scale * scale)) ** 0.5
                scale *= min(1.0, budget)
                image = sheet.render(scale=scale).to_pil()
                out = io.BytesIO()
                image.save(out, format="PNG", compress_level=1)
                return out.getvalue()
            finally:
                document.close()
