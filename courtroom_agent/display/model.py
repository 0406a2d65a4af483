"""Values of the courtroom display: views, exhibits, limits, reports, errors.

Errors::

    CourtroomError
    └── DisplayError       the display refused something; ``str(err)`` names the field
        ├── ExhibitError   an exhibit cannot be presented (bad field, file outside
        │                  the hearing's evidence folder, too large, wrong type)
        └── PageError      a display page sent a message the server refuses;
                           ``str(err)`` is the websocket close reason

Every value here is a frozen dataclass that checks itself on construction, so
a bad exhibit is refused where the agent builds it, not on a screen.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from courtroom_core.errors import CourtroomError
from courtroom_core.wire_bodies import MAX_NAME, MAX_TITLE, WireError, check_id

__all__ = [
    "DEFAULT_VIEWS",
    "MAX_PAGE",
    "MAX_ZOOM",
    "MIN_ZOOM",
    "DisplayError",
    "DisplayLimits",
    "DisplayReport",
    "Exhibit",
    "ExhibitError",
    "ExhibitKind",
    "ExhibitShown",
    "PageError",
    "ViewSpec",
]

MIN_ZOOM: Final = 0.25
MAX_ZOOM: Final = 8.0
MAX_PAGE: Final = 100_000
MAX_PATH: Final = 512
"""Longest exhibit path (characters, relative to the evidence folder)."""


class DisplayError(CourtroomError):
    """The courtroom display refused something; the message names the field."""


class ExhibitError(DisplayError, ValueError):
    """An exhibit cannot be presented; the message names the field."""


class PageError(DisplayError):
    """A display page broke the page protocol; the message is the close reason.

    Attributes:
        code: the websocket close code to send (1008 policy, 1009 too big).
    """

    def __init__(self, message: str, *, code: int = 1008) -> None:
        super().__init__(message)
        self.code = code


class ExhibitKind(enum.StrEnum):
    """What an exhibit is, and so how a screen shows it."""

    IMAGE = "image"
    """An image file from the hearing's evidence folder (PNG, JPEG, WebP, GIF)."""
    PDF = "pdf"
    """One page of a PDF from the evidence folder, rendered to PNG by the agent."""
    LIVE = "live"
    """A live source (document camera …): the matrix routes its video to the
    screen's input, the page only says so."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Exhibit:
    """One exhibit presented on the courtroom screens.

    Args:
        id: 1-64 letters, digits, ``-_.`` (the evidence number, e.g. ``P-3``).
        label: caption shown under the exhibit (at most MAX_TITLE characters).
        kind: image, pdf or live.
        path: for image and pdf, the file's path relative to the hearing's
            evidence folder (``/``-separated, no ``..``, not absolute).
        source: for live, the source's name (e.g. ``实物展台``).
        page: the PDF page shown, from 1.
        zoom: magnification relative to fitting the screen, MIN_ZOOM..MAX_ZOOM.

    Raises:
        ExhibitError: a field is invalid; names it.
    """

    id: str
    label: str = ""
    kind: ExhibitKind = ExhibitKind.IMAGE
    path: str | None = None
    source: str | None = None
    page: int = 1
    zoom: float = 1.0

    def __post_init__(self) -> None:
        try:
            check_id(self.id, "exhibit.id")
        except WireError as exc:
            raise ExhibitError(str(exc)) from exc
        if not isinstance(self.label, str) or len(self.label) > MAX_TITLE:
            raise ExhibitError(f"exhibit.label must be a string of at most {MAX_TITLE} characters")
        if not isinstance(self.kind, ExhibitKind):
            choices = ", ".join(k.value for k in ExhibitKind)
            raise ExhibitError(f"exhibit.kind must be one of {choices}")
        if self.kind is ExhibitKind.LIVE:
            if self.path is not None:
                raise ExhibitError("exhibit.path must be absent for a live source")
            if not isinstance(self.source, str) or not 0 < len(self.source) <= MAX_NAME:
                raise ExhibitError(f"exhibit.source must name the live source (1-{MAX_NAME})")
        else:
            if self.source is not None:
                raise ExhibitError("exhibit.source is only for a live exhibit")
            _check_relative(self.path)
        if isinstance(self.page, bool) or not isinstance(self.page, int):
            raise ExhibitError("exhibit.page must be an integer")
        if not 1 <= self.page <= MAX_PAGE:
            raise ExhibitError(f"exhibit.page must be within 1..{MAX_PAGE}")
        if self.page != 1 and self.kind is not ExhibitKind.PDF:
            raise ExhibitError("exhibit.page is only for a PDF exhibit")
        if (
            isinstance(self.zoom, bool)
            or not isinstance(self.zoom, int | float)
            or not math.isfinite(self.zoom)
            or not MIN_ZOOM <= self.zoom <= MAX_ZOOM
        ):
            raise ExhibitError(f"exhibit.zoom must be a number within {MIN_ZOOM:g}..{MAX_ZOOM:g}")

    def to_json(self) -> dict[str, object]:
        """What a page is told (no file system path beyond the relative one)."""
        return {
            "id": self.id,
            "label": self.label,
            "kind": self.kind.value,
            "path": self.path,
            "source": self.source,
            "page": self.page,
            "zoom": self.zoom,
        }


def _check_relative(path: object) -> None:
    if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH:
        raise ExhibitError(f"exhibit.path must be a file in the evidence folder (1-{MAX_PATH})")
    if (
        path.startswith("/")
        or "\\" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
        or any(c < " " or c == "\x7f" for c in path)
    ):
        raise ExhibitError("exhibit.path must be relative to the evidence folder, without '..'")


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewSpec:
    """One kind of courtroom screen and what it shows.

    Args:
        title_zh: name of the screen in Chinese (审判席 …), shown on the page.
        title_en: the same in English.
        transcript: shows the transcript (finals).
        exhibits: shows presented exhibits.
        lines: how many recent finals the screen keeps on show.
    """

    title_zh: str
    title_en: str
    transcript: bool = True
    exhibits: bool = True
    lines: int = 8


DEFAULT_VIEWS: Final[Mapping[str, ViewSpec]] = MappingProxyType(
    {
        "judge": ViewSpec(title_zh="审判席", title_en="bench", lines=10),
        "clerk": ViewSpec(title_zh="书记员", title_en="clerk", lines=12),
        "plaintiff": ViewSpec(title_zh="原告席", title_en="plaintiff"),
        "defendant": ViewSpec(title_zh="被告席", title_en="defendant"),
        "gallery": ViewSpec(title_zh="旁听席", title_en="public gallery", lines=6),
    }
)
"""The screens of a standard civil courtroom (view id → what it shows)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayLimits:
    """Bounds of the display server (pages are untrusted LAN clients).

    Args:
        max_pages: display pages connected at once; more are refused (1013).
        max_message: longest message a page may send (bytes); longer → 1009.
        outbox: messages queued per page; on overflow the queue is replaced by
            one snapshot of the current state (see :mod:`.server`).
        recent: finals kept for a page that (re)connects.
        max_file: largest evidence file served or rendered (bytes).
        max_pixels: largest PDF page rendering (width × height).
        send_timeout_s: a page that does not take a message within this is closed.
        samples: latency samples kept per view for the percentiles.
    """

    max_pages: int = 64
    max_message: int = 256
    outbox: int = 64
    recent: int = 50
    max_file: int = 64 * 1024 * 1024
    max_pixels: int = 12_000_000
    send_timeout_s: float = 10.0
    samples: int = 4096


@dataclass(frozen=True, slots=True)
class ExhibitShown:
    """The exhibit a screen last confirmed it showed."""

    id: str
    page: int
    zoom: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayReport:
    """What one view's screens showed, for the ledger (``on_report``).

    Latency is the time from :meth:`DisplayServer.publish` of a final to a
    page's acknowledgement that it rendered it, over the current hearing.
    Percentiles are None until a final was shown.
    """

    view: str
    pages: int
    finals_shown: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_max_ms: float | None
    exhibit: ExhibitShown | None
    state: str | None
    """The hearing state a page of this view last confirmed: idle, open, or
    ``recess:<reason>``; None before any page confirmed one."""
    refused: int = 0
    """Page connections or messages refused since the server started."""
