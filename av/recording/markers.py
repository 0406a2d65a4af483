"""The markers of ``manifest.json``: events of the hearing pinned to its clock.

A marker says that something happened at a hearing frame — an exhibit shown
to the court (举证, ``evidence.presented``) or taken off the screens
(``evidence.withdrawn``) — so that a reader replaying the audio finds the
moment. Markers are listed in frame order and never change the audio: a
marker that cannot be listed is refused, the recording goes on.

Bounds (hostile or runaway input): at most :data:`MAX_MARKERS` per hearing
(the next is refused with :class:`~av.recording.errors.MarkerError`, nothing
else changes), labels of at most :data:`MAX_LABEL` characters, names and
references of at most :data:`MAX_REF`, kinds of at most :data:`MAX_KIND`.
Each marker rewrites the whole manifest (one write for all markers queued
together); at the limit the manifest is 2.3 MB with short labels, 17 MB with
500-character ones, and a rewrite took 60–140 ms on the development machine —
well inside the recorder's 10-second audio queue. See docs/recording-format.md.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from av.recording.errors import ManifestError
from av.recording.json_fields import FieldReader

__all__ = [
    "MARKER_KINDS",
    "MAX_FRAME",
    "MAX_KIND",
    "MAX_LABEL",
    "MAX_MARKERS",
    "MAX_REF",
    "Marker",
    "insert_marker",
    "markers_from_json",
]

MAX_MARKERS: Final = 10_000
"""Markers one hearing may hold; the next one is refused (the recording goes on)."""
MAX_LABEL: Final = 500
"""Longest ``label`` (characters)."""
MAX_REF: Final = 200
"""Longest ``by`` and ``ref`` (characters)."""
MAX_KIND: Final = 64
"""Longest ``kind`` (characters)."""
MAX_FRAME: Final = 2**53 - 1
"""Largest frame: beyond it JSON readers (doubles) lose exactness."""

MARKER_KINDS: Mapping[str, str] = {
    "evidence.presented": "举证 · exhibit presented",
    "evidence.withdrawn": "撤回展示 · exhibit withdrawn",
}
"""The kinds this software writes, with their labels; any other well-formed code
(:data:`_KIND`) is kept as read and listed as it is."""

# Dotted lowercase code: ``evidence.presented``, ``note``, ``device.offline``.
_KIND = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*")


@dataclass(frozen=True, slots=True)
class Marker:
    """Something that happened at hearing frame ``frame``.

    Attributes:
        kind: a short dotted lowercase code (:data:`MARKER_KINDS` lists ours).
        frame: hearing frame (``frame / sample_rate`` hearing seconds).
        utc: wall time of the event, ISO-8601.
        label: what a reader is shown (the exhibit's title); may be empty.
        by: who did it (a hub user, the local operator); empty if not known.
        ref: what it is about (the exhibit id); empty if nothing.

    Raises:
        ValueError: a field is out of bounds; the message starts with the
            field's name (``label has 501 characters, more than 500``).
    """

    kind: str
    frame: int
    utc: str
    label: str = ""
    by: str = ""
    ref: str = ""

    def __post_init__(self) -> None:
        # Checked here too, not only on read: the recorder must never write a
        # manifest its own reader would refuse.
        for name in ("kind", "utc", "label", "by", "ref"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")
        if len(self.kind) > MAX_KIND or not _KIND.fullmatch(self.kind):
            shown = self.kind if len(self.kind) <= MAX_KIND else self.kind[:MAX_KIND] + "…"
            raise ValueError(
                f"kind {shown!r} is not a dotted lowercase code of at most {MAX_KIND} characters"
            )
        if not isinstance(self.frame, int) or isinstance(self.frame, bool):
            raise ValueError(f"frame {self.frame!r} must be an integer")
        if not 0 <= self.frame <= MAX_FRAME:
            raise ValueError(f"frame {self.frame} is not between 0 and {MAX_FRAME}")
        try:
            datetime.fromisoformat(self.utc)
        except ValueError as e:
            raise ValueError(f"utc {self.utc[:40]!r} is not an ISO-8601 time") from e
        _check_text("label", self.label, MAX_LABEL)
        _check_text("by", self.by, MAX_REF)
        _check_text("ref", self.ref, MAX_REF)

    @property
    def kind_label(self) -> str:
        """The kind for a person: our label, or the code itself."""
        return MARKER_KINDS.get(self.kind, self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "frame": self.frame,
            "utc": self.utc,
            "label": self.label,
            "by": self.by,
            "ref": self.ref,
        }


def _check_text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ValueError(f"{field} has {len(value)} characters, more than {limit}")
    if not value.isprintable():
        raise ValueError(f"{field} holds a control character")


def insert_marker(markers: tuple[Marker, ...], marker: Marker) -> tuple[Marker, ...]:
    """``markers`` with ``marker`` in frame order (after those of the same frame)."""
    at = bisect.bisect_right(markers, marker.frame, key=lambda m: m.frame)
    return (*markers[:at], marker, *markers[at:])


def markers_from_json(r: FieldReader, d: Mapping[str, Any]) -> tuple[Marker, ...]:
    """``markers`` (absent before version 3: none), each validated, bounded, in frame order.

    Raises:
        ManifestError: naming the field (``markers[2].label has 600 characters…``).
    """
    if "markers" not in d:
        return ()
    raw: list[Any] = r.get(d, "markers", list, "")
    if len(raw) > MAX_MARKERS:
        raise ManifestError(r.path, f"markers holds {len(raw)} entries, more than {MAX_MARKERS}")
    out: list[Marker] = []
    for p, m in r.items(d, "markers", ""):
        try:
            marker = Marker(
                kind=r.get(m, "kind", str, p),
                frame=r.get(m, "frame", int, p, minimum=0),
                utc=r.time(m, "utc", p),
                label=r.get(m, "label", str, p),
                by=r.get(m, "by", str, p),
                ref=r.get(m, "ref", str, p),
            )
        except ValueError as e:
            raise ManifestError(r.path, f"{p}.{e}") from e
        if out and marker.frame < out[-1].frame:
            raise ManifestError(
                r.path,
                f"{p}.frame {marker.frame} is before the previous marker's "
                f"{out[-1].frame}: markers are listed in frame order",
            )
        out.append(marker)
    return tuple(out)
