"""The page protocol (what a display page may send) and per-view figures, without I/O.

A page sends one acknowledgement per message it rendered, after the DOM
update (in ``requestAnimationFrame``)::

    {"shown": "final" | "state" | "exhibit" | "snapshot", "id": <int>}

Pages are untrusted LAN clients. :func:`parse_ack` refuses anything else —
a binary frame, more than ``max_message`` bytes, not JSON, extra keys, a
kind not in :data:`ACK_KINDS`, an id that is not an integer — with a
:class:`PageError` naming the field; :class:`PageLedger` refuses an
acknowledgement of a message that was never sent to that page (or was
already acknowledged), so a page cannot forge latency figures. The server
closes a page that is refused, with the reason.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Final

from .model import DisplayReport, ExhibitShown, PageError

__all__ = ["ACK_KINDS", "Ack", "PageLedger", "ViewFigures", "parse_ack", "percentile"]

ACK_KINDS: Final = frozenset({"final", "state", "exhibit", "snapshot"})
MAX_PENDING: Final = 512
"""Unacknowledged messages remembered per page; older ones count as never shown."""


@dataclass(frozen=True, slots=True)
class Ack:
    shown: str
    id: int


def parse_ack(text: str | bytes | None, *, max_message: int) -> Ack:
    """The acknowledgement in one websocket message.

    Raises:
        PageError: the message is not a valid acknowledgement; names the field.
    """
    if not isinstance(text, str):
        raise PageError("display pages send text frames only")
    if len(text.encode()) > max_message:
        raise PageError(f"message exceeds {max_message} bytes", code=1009)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise PageError("message is not JSON") from exc
    if not isinstance(data, dict):
        raise PageError("message must be an object")
    extra = set(data) - {"shown", "id"}
    if extra:
        raise PageError(f"unexpected fields {sorted(extra)[:4]}")
    shown = data.get("shown")
    if not isinstance(shown, str) or shown not in ACK_KINDS:
        raise PageError(f"shown must be one of {', '.join(sorted(ACK_KINDS))}")
    ident = data.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int) or not 0 < ident < 2**53:
        raise PageError("id must be a positive integer")
    return Ack(shown, ident)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank of sorted ``samples`` (not empty)."""
    rank = max(1, math.ceil(q * len(samples)))
    return samples[rank - 1]


@dataclass(frozen=True, slots=True)
class _Sent:
    kind: str
    published_at: float | None
    detail: Any
    """state: the state shown ("open", "recess:mediation" …); exhibit: ExhibitShown | None."""


@dataclass(slots=True)
class ViewFigures:
    """What the pages of one view confirmed, over the current hearing."""

    samples: deque[float]
    finals_shown: int = 0
    exhibit: ExhibitShown | None = None
    state: str | None = None
    changed: bool = False

    def reset(self) -> None:
        self.samples.clear()
        self.finals_shown = 0
        self.changed = True

    def report(self, view: str, pages: int, refused: int) -> DisplayReport:
        ordered = sorted(self.samples)
        ms = [round(s * 1000, 1) for s in ordered]
        return DisplayReport(
            view=view,
            pages=pages,
            finals_shown=self.finals_shown,
            latency_p50_ms=percentile(ms, 0.5) if ms else None,
            latency_p95_ms=percentile(ms, 0.95) if ms else None,
            latency_max_ms=ms[-1] if ms else None,
            exhibit=self.exhibit,
            state=self.state,
            refused=refused,
        )


@dataclass(slots=True)
class PageLedger:
    """The messages sent to one page and not yet acknowledged.

    Args:
        figures: the figures of the page's view, updated on each ack.
    """

    figures: ViewFigures
    pending: OrderedDict[int, _Sent] = field(default_factory=OrderedDict)

    def sent(self, message: dict[str, Any], published_at: float | None) -> None:
        """Remember a message that was handed to the page's socket."""
        kind = message["type"]
        if kind not in ACK_KINDS:
            return
        self.pending[message["id"]] = _Sent(kind, published_at, _detail(message))
        while len(self.pending) > MAX_PENDING:
            self.pending.popitem(last=False)

    def acknowledge(self, ack: Ack, now: float) -> None:
        """Count what the page confirmed it showed.

        Raises:
            PageError: the id was not sent to this page as ``ack.shown``, or is
                already acknowledged.
        """
        sent = self.pending.get(ack.id)
        if sent is None or sent.kind != ack.shown:
            raise PageError(f"id {ack.id}: no {ack.shown} awaits acknowledgement")
        del self.pending[ack.id]
        figures = self.figures
        figures.changed = True
        if sent.kind == "final":
            figures.finals_shown += 1
            if sent.published_at is not None:
                figures.samples.append(max(0.0, now - sent.published_at))
        elif sent.kind == "state":
            figures.state = sent.detail
        elif sent.kind == "exhibit":
            figures.exhibit = sent.detail
        else:  # a snapshot shows a state and an exhibit at once
            figures.state, figures.exhibit = sent.detail


def _state_of(state: dict[str, Any]) -> str:
    reason = state.get("reason")
    return f"{state['state']}:{reason}" if reason else str(state["state"])


def _exhibit_of(exhibit: dict[str, Any] | None) -> ExhibitShown | None:
    if exhibit is None:
        return None
    return ExhibitShown(exhibit["id"], exhibit["page"], exhibit["zoom"])


def _detail(message: dict[str, Any]) -> Any:
    kind = message["type"]
    if kind == "state":
        return _state_of(message)
    if kind == "exhibit":
        return _exhibit_of(message["exhibit"])
    if kind == "snapshot":
        return (_state_of(message["state"]), _exhibit_of(message["exhibit"]))
    return None
