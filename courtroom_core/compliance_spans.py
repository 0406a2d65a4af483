"""The hearing's time model for the compliance report: its spans and each source's coverage.

Pure functions of :mod:`courtroom_core.compliance`: the hearing-state changes
(:class:`Mark`) become open, recess and down spans (:func:`spans_of`); a
source's start/stop changes become its recorded time within open time and its
gaps, each with its reason (:func:`coverage_of`); a recess or a failed run
becomes an entry of the interruption log (:func:`interruption_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from courtroom_core.hearing import REASON_LABELS, InterruptionReason

__all__ = [
    "END_GRACE_S",
    "LAWFUL_STOPS",
    "MARK_ORDER",
    "MAX_GAPS_LISTED",
    "START_GRACE_S",
    "Change",
    "Mark",
    "Span",
    "coverage_of",
    "interruption_of",
    "overlap",
    "rounded",
    "spans_of",
]

START_GRACE_S: Final = 2.0
"""A source may start this long after 开庭/继续开庭 without a gap (a recorder confirms in 2 s)."""
END_GRACE_S: Final = 1.0
"""A lawful stop (reason given) may come this long before the recess without a gap."""
MAX_GAPS_LISTED: Final = 50
"""Most gaps listed per source (``gaps_more`` counts the rest)."""
LAWFUL_STOPS: Final = frozenset(r.value for r in InterruptionReason) | {"closed"}
MARK_ORDER: Final = {"opened": 0, "recessed": 1, "resumed": 2, "closed": 3}
"""How marks at the same hearing time are ordered."""

Change = tuple[float, int, bool, str | None]
"""A source's change: (hearing time, arrival order, recording, stop reason)."""


def rounded(value: float) -> float:
    return round(value, 3)


@dataclass(slots=True)
class Mark:
    """A hearing-state change on the hearing clock."""

    time: float
    what: str
    """opened, recessed, resumed, closed."""
    state: str
    """The state after it: open, recess, down (a failed run), closed."""
    reason: str | None
    by: str
    at: str | None
    error: str | None = None


@dataclass(slots=True)
class Span:
    """A stretch of the hearing in one state."""

    start: float
    end: float
    state: str
    """open, recess or down (open time the agent was not running)."""
    reason: str | None = None
    start_at: str | None = None
    end_at: str | None = None
    by: str = ""
    ended_by: str = ""
    error: str | None = None


def overlap(a0: float, a1: float, b0: float, b1: float) -> tuple[float, float] | None:
    lo, hi = max(a0, b0), min(a1, b1)
    return (lo, hi) if hi > lo else None


def spans_of(marks: Iterable[Mark], latest: float, now: float | None) -> tuple[list[Span], bool]:
    """The hearing's open, recess and down spans in time order, and whether it closed.

    Marks are sorted by time, so their arrival order does not matter; a
    mark that changes nothing (a repeat, the agent announcing the hearing
    again) is skipped; after 闭庭 only a continued run (``opened``) counts.
    """
    marks = sorted(marks, key=lambda m: (m.time, MARK_ORDER[m.what]))
    spans: list[Span] = []
    current: Span | None = None
    closed = False
    for mark in marks:
        if current is None:
            if mark.what == "closed" or (closed and mark.what != "opened"):
                continue
            closed = False
            if mark.what != "opened":  # no 开庭 seen (a ledger cut at its start)
                current = Span(0.0, mark.time, "open")
                spans.append(current)
            else:
                current = Span(mark.time, mark.time, mark.state, mark.reason, mark.at, by=mark.by)
                spans.append(current)
                continue
        if mark.state == current.state:
            continue
        current.end, current.end_at, current.ended_by = mark.time, mark.at, mark.by
        if mark.state == "closed":
            closed, current = True, None
            continue
        current = Span(
            mark.time, mark.time, mark.state, mark.reason, mark.at, by=mark.by, error=mark.error
        )
        spans.append(current)
    if current is not None:
        current.end = max(current.start, latest if now is None else now)
    return [s for s in spans if s.end > s.start or s is current], closed


def interruption_of(span: Span) -> dict[str, Any]:
    lawful = span.state == "recess"
    label = (
        REASON_LABELS[InterruptionReason(span.reason)]
        if lawful and span.reason in LAWFUL_STOPS - {"closed"}
        else "异常中断 · unplanned stop (the agent's run failed)"
    )
    return {
        "reason": span.reason if lawful else None,
        "label": label,
        "lawful": lawful,
        "from": rounded(span.start),
        "to": rounded(span.end),
        "from_at": span.start_at,
        "to_at": span.end_at,
        "duration_s": rounded(span.end - span.start),
        "ordered_by": span.by,
        "resumed_by": span.ended_by,
        **({"error": span.error} if span.error else {}),
    }


def coverage_of(
    name: str,
    changes: Iterable[Change],
    spans: list[Span],
    incident_for: Callable[[str, float, float], str | None],
) -> dict[str, Any]:
    """A source's recorded time within open time, and every gap with its reason.

    The agent records seats and cameras itself: while its run is down
    they are not recording, whatever they said last (the restarted run
    reports them again). A hardware recorder keeps its own state.
    """
    changes = list(changes)
    if not name.startswith("recorder:"):
        changes += [(s.start, -1, False, None) for s in spans if s.state == "down"]
    changes.sort(key=lambda c: (c[0], c[1]))
    recorded: list[tuple[float, float]] = []
    stops: list[tuple[float, float, str | None]] = []  # not recording: from, to, reason
    since: float | None = None
    off_since, off_reason = (spans[0].start if spans else 0.0), None
    end = spans[-1].end if spans else 0.0
    for time, _order, recording, reason in changes:
        if recording and since is None:
            since = time
            stops.append((off_since, time, off_reason))
        elif not recording and since is not None:
            recorded.append((since, time))
            since, off_since, off_reason = None, time, reason
    if since is not None:
        recorded.append((since, max(since, end)))
    else:
        stops.append((off_since, max(off_since, end), off_reason))
    open_spans = [s for s in spans if s.state != "recess"]
    open_s = sum(s.end - s.start for s in open_spans)
    covered = sum(
        hi - lo
        for a, b in recorded
        for s in open_spans
        if (o := overlap(a, b, s.start, s.end)) is not None
        for lo, hi in [o]
    )
    gaps: list[dict[str, Any]] = []
    unlawful_s, longest = 0.0, 0.0
    for a, b, reason in stops:
        for span in spans:
            piece = overlap(a, b, span.start, span.end)
            if piece is None:
                continue
            lo, hi = piece
            if span.state == "recess":
                gaps.append(
                    {
                        "from": rounded(lo),
                        "to": rounded(hi),
                        "s": rounded(hi - lo),
                        "reason": span.reason,
                        "lawful": True,
                        "incident": None,
                    }
                )
                continue
            if lo == span.start and hi < span.end and hi - lo <= START_GRACE_S:
                continue  # started within the grace after 开庭/继续开庭
            if hi == span.end and reason in LAWFUL_STOPS and hi - lo <= END_GRACE_S:
                continue  # stopped just before the recess it was stopped for
            unlawful_s += hi - lo
            longest = max(longest, hi - lo)
            gaps.append(
                {
                    "from": rounded(lo),
                    "to": rounded(hi),
                    "s": rounded(hi - lo),
                    "reason": reason,
                    "lawful": False,
                    "incident": incident_for(name, lo, hi),
                }
            )
    return {
        "source": name,
        "coverage": 1.0 if open_s <= 0 else round(min(covered / open_s, 1.0), 4),
        "recorded_s": rounded(covered),
        "unlawful_gap_s": rounded(unlawful_s),
        "longest_gap_s": rounded(longest),
        "gaps": gaps[:MAX_GAPS_LISTED],
        "gaps_more": max(0, len(gaps) - MAX_GAPS_LISTED),
    }
