"""Writing a transcript as plain text, JSON, SubRip (SRT) or WebVTT."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from transcription.segments import Final

__all__ = ["FORMATS", "clock", "render"]


def clock(seconds: float, *, sep: str = ".") -> str:
    """``HH:MM:SS.mmm`` (``sep=","`` for SRT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _label(segment: Final) -> str:
    return f"{segment.role}：" if segment.role else ""


def render_txt(segments: Sequence[Final]) -> str:
    lines = [f"[{clock(s.start)} - {clock(s.end)}] {_label(s)}{s.text}" for s in segments]
    return "".join(line + "\n" for line in lines)


def render_json(segments: Sequence[Final]) -> str:
    return json.dumps([s.to_json() for s in segments], ensure_ascii=False, indent=2) + "\n"


def render_srt(segments: Sequence[Final]) -> str:
    cues = [
        f"{i}\n{clock(s.start, sep=',')} --> {clock(s.end, sep=',')}\n{_label(s)}{s.text}\n"
        for i, s in enumerate(segments, 1)
    ]
    return "\n".join(cues)


def render_vtt(segments: Sequence[Final]) -> str:
    cues = [
        f"{clock(s.start)} --> {clock(s.end)}\n"
        + (f"<v {s.role}>{s.text}" if s.role else s.text)
        + "\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


FORMATS: dict[str, Callable[[Sequence[Final]], str]] = {
    "txt": render_txt,
    "json": render_json,
    "srt": render_srt,
    "vtt": render_vtt,
}


def render(segments: Sequence[Final], fmt: str) -> str:
    """Render ``segments`` ordered by start time.

    Raises:
        ValueError: unknown format.
    """
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(FORMATS)}") from None
    return renderer(sorted(segments, key=lambda s: (s.start, s.channel)))
