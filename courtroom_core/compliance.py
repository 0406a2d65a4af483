"""The compliance report of one hearing: did it meet the five synchronisations (五同步)?

A pure fold over the hearing's ledger — its events ``(kind, body)`` in the
order they were published — with no I/O and no clock: the agent runs it over
its local ledger file (``courtroom hearing report``), the hub over the
archive (``GET /api/hearings/{id}/compliance``) and, incrementally, over the
events as they arrive (the live ``compliance`` message). One code, one
answer, wherever it is asked.

:class:`ComplianceLedger` folds events one at a time (``add``) and answers at
any moment (``report``); :func:`compliance_report` does both at once. The
hearing's time model (spans, coverage, the interruption log) lives in
:mod:`courtroom_core.compliance_spans`, the judging of each light in
:mod:`courtroom_core.compliance_lights`.

The report (JSON; a stable shape, every time in hearing-clock seconds unless
named ``*_at``, which are UTC ISO 8601)::

    {"hearing_id": str | null,
     "final": bool,                 # true once hearing.closed (not an interrupted run)
     "now": float,                  # the hearing time the report speaks of
     "session": {"state": "idle" | "open" | "recess" | "closed",
                 "open_s", "recess_s", "opened_at", "closed_at"},
     "lights": {PART: {"status": "green" | "amber" | "red",
                       "label": "录音录像 · recording …",
                       "summary": "中文 · English", "reasons": [str, …], …figures}
                for PART in FIVE_SYNC_PARTS},
     "interruptions": [{"reason": code | null, "label", "lawful", "from", "to",
                        "from_at", "to_at", "duration_s", "ordered_by", "resumed_by"}],
     "incidents": [{"id", "kind", "part", "source", "message", "time", "at",
                    "state": "open" | "explained" | "signed", "explanation",
                    "explained_by", "explained_at", "signed_by", "signed_at", "detail"}],
     "open_incidents": int,         # incidents not yet signed
     "actions": {"total", "confirmed", "unconfirmed", "unconfirmable", "failed",
                 "overhead_ms_p50", "overhead_ms_p95", "device_ms_p95"},
     "events": {"read", "duplicates", "rejected", "other_hearing", "dropped"}}

How each light is judged (``reasons`` lists, in words, every finding that
lowered it; the thresholds are the constants below):

* **recording** 录音录像 — per source (``seat:N``, ``camera:ID``,
  ``recorder:NAME``, from ``source.state``): ``coverage`` = recorded time
  within the hearing's open time / open time; every gap is listed with its
  reason: ``lawful`` inside a recess (the interruption's reason), else an
  unlawful gap with the stop's reason (or null) and the incident naming that
  source, if any. A source may start up to :data:`START_GRACE_S` after 开庭
  or 继续开庭 (a recorder confirms within 2 s) and a lawful stop may come up
  to :data:`END_GRACE_S` before the recess: neither is a gap. A failed run of
  the agent (``hearing.closed`` with ``interrupted``, until the continued
  ``hearing.opened`` with ``resumed_from``) is open time and an unlawful
  interruption: seats and cameras (which the agent records) count as not
  recording through it; a hardware recorder keeps its last reported state.
  **red**: a ``device.action`` with ``part="recording"`` failed, an unlawful
  gap ≥ :data:`RED_GAP_S` in a seat or a recorder, or an incident of this
  part. **amber**: a recording action unconfirmed or unconfirmable (a
  recorder that cannot say it records proves nothing), a shorter unlawful
  gap in a seat or recorder, any unlawful camera gap, or open time with no
  source reported at all. **green** otherwise.
* **transcript_display** 笔录展示 — per screen, the latest ``display.report``
  (its figures are cumulative over the page's hearing) and actions with
  ``part="transcript_display"``. **red**: a failed action, a screen that
  reported no page connected while the hearing was open, a screen whose
  latency p95 > :data:`DISPLAY_TARGET_MS`, or an incident of this part.
  **amber**: an unconfirmed action, a screen whose slowest final took longer
  than the target, or :data:`NO_REPORT_S` of open time with no screen
  reported. **green** otherwise.
* **evidence_display** 证据展示 — the evidence-display log, one entry per
  presentation (``evidence.presented`` / ``evidence.log`` / ``evidence.withdrawn``)
  and actions with ``part="evidence_display"``. **red**: a screen failed, a
  failed action, or an incident of this part. **amber**: a screen or action
  unconfirmed, or a presentation whose screens were not logged within
  :data:`EVIDENCE_LOG_S` (or by the end of a final report). ``unconfirmable``
  screens count as shown. Nothing presented: **green**, 无举证 · no exhibits.
* **video** 视频摄录 — the cameras' recording coverage (as above) and the
  camera moves: ``speaker.changed`` and actions with ``part="video"``.
  **red**: a failed action, a camera's unlawful gaps adding up to
  ≥ :data:`RED_CAMERA_GAP_S`, or an incident of this part. **amber**: an
  unconfirmed action, a shorter unlawful camera gap, or open time with no
  camera source. ``unconfirmable`` moves (Pelco-D has no replies) do **not**
  lower the light — the protocol cannot do better and every Pelco-D court
  would be amber for ever — but are counted (``unconfirmable``).
* **data_upload** 数据上传 — ``upload.report``: lag of the oldest
  unacknowledged event, unacknowledged count, connected. **red**: lag ever
  ≥ :data:`RED_LAG_S`, or (final) the last report says disconnected with
  events outstanding. **amber**: lag ever > :data:`AMBER_LAG_S`, or
  (provisional) disconnected now. **green** otherwise, also with no report
  (the agent has nothing to say; the hub holding the events is the proof).

A light with nothing to judge is green and says so in its summary; the
status is always one of green, amber, red.

Hostile or odd ledgers: each body is checked by
:func:`courtroom_core.wire_bodies.parse_body` (an invalid one is counted in
``events.rejected`` and skipped), exact repeats are counted once
(``events.duplicates``), events of another hearing are skipped
(``events.other_hearing``), times are sorted before use so order does not
matter, a missing 闭庭 leaves the report provisional, and every collection
is bounded (:data:`MAX_EVENTS` events, :data:`MAX_SOURCES` sources, …;
beyond a bound, events are counted in ``events.dropped``).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Final

from courtroom_core.compliance_lights import (
    AMBER_LAG_S,
    DISPLAY_TARGET_MS,
    EVIDENCE_LOG_S,
    NO_REPORT_S,
    PART_LABELS,
    RED_CAMERA_GAP_S,
    RED_GAP_S,
    RED_LAG_S,
    Facts,
    evidence_light,
    recording_light,
    transcript_light,
    upload_light,
    video_light,
)
from courtroom_core.compliance_spans import (
    END_GRACE_S,
    START_GRACE_S,
    Mark,
    coverage_of,
    interruption_of,
    spans_of,
)
from courtroom_core.wire_bodies import (
    BODY_TYPES,
    FIVE_SYNC_PARTS,
    DeviceAction,
    DisplayReport,
    EvidenceLog,
    EvidencePresented,
    EvidenceWithdrawn,
    HearingClosed,
    HearingOpened,
    HearingRecessed,
    HearingResumed,
    Incident,
    SourceState,
    SpeakerChanged,
    UploadReport,
    WireError,
    parse_body,
)

__all__ = [
    "AMBER_LAG_S",
    "DISPLAY_TARGET_MS",
    "END_GRACE_S",
    "EVIDENCE_LOG_S",
    "LEDGER_KINDS",
    "MAX_EVENTS",
    "MAX_SOURCES",
    "NO_REPORT_S",
    "PART_LABELS",
    "RED_CAMERA_GAP_S",
    "RED_GAP_S",
    "RED_LAG_S",
    "START_GRACE_S",
    "ComplianceLedger",
    "compliance_report",
]

MAX_EVENTS: Final = 100_000
"""Most events one report folds (the agent's ledger file holds at most 50 MB)."""
MAX_SOURCES: Final = 256
MAX_TRANSITIONS: Final = 10_000
"""Most start/stop changes kept per source, and hearing-state changes."""
MAX_ENTRIES: Final = 1000
"""Most incidents, evidence presentations and screens kept."""
MAX_SAMPLES: Final = 4096
"""Most timing samples kept for the percentiles (the newest)."""

LEDGER_KINDS: Final = frozenset(
    {
        "hearing.opened",
        "hearing.recessed",
        "hearing.resumed",
        "hearing.closed",
        "rule.fired",
        "device.action",
        "incident",
        "evidence.presented",
        "evidence.withdrawn",
        "evidence.log",
        "speaker.changed",
        "display.report",
        "source.state",
        "upload.report",
    }
)
"""The event kinds the report reads; any other kind is skipped unread."""

_STATE_RANK: Final = {"open": 0, "explained": 1, "signed": 2}


def _r(value: float) -> float:
    return round(value, 3)


def _percentile(samples: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    ordered = sorted(samples)
    if not ordered:
        return None
    index = max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))
    return _r(ordered[int(index)])


class ComplianceLedger:
    """The fold behind :func:`compliance_report`: ``add`` events, ask ``report``.

    Work is bounded: ``add`` is O(1) amortised (a digest, a parse, an append
    to a bounded list); ``report`` is O(kept items · log) — a few thousand
    for a long hearing. Not thread-safe; one owner.

    Args:
        hearing_id: the hearing to report on; None takes the first one seen
            (a ``hearing.opened``'s, else the first body naming one).
    """

    def __init__(self, hearing_id: str | None = None) -> None:
        self.hearing_id = hearing_id
        self._seen: set[bytes] = set()
        self._counts = {"read": 0, "duplicates": 0, "rejected": 0, "other_hearing": 0, "dropped": 0}
        self._marks: list[Mark] = []
        self._opened_at: str | None = None
        self._closed_at: str | None = None
        self._latest = 0.0
        self._sources: dict[str, list[tuple[float, int, bool, str | None]]] = {}
        self._order = 0
        self._actions: dict[str, dict[str, int]] = {p: {} for p in FIVE_SYNC_PARTS}
        self._actions["other"] = {}
        self._failures: dict[str, deque[dict[str, Any]]] = {
            p: deque(maxlen=10) for p in FIVE_SYNC_PARTS
        }
        self._overhead: deque[float] = deque(maxlen=MAX_SAMPLES)
        self._device_ms: deque[float] = deque(maxlen=MAX_SAMPLES)
        self._incidents: dict[str, dict[str, Any]] = {}
        self._evidence: list[dict[str, Any]] = []
        self._screens: dict[str, dict[str, Any]] = {}
        self._blank: dict[str, list[float]] = {}
        self._speakers = 0
        self._last_speaker: dict[str, Any] | None = None
        self._upload: dict[str, Any] | None = None
        self._max_lag = 0.0
        self._max_unacked = 0

    # -- folding ------------------------------------------------------------

    def add(self, kind: str, body: Mapping[str, Any]) -> bool:
        """Fold one event; True when it was read (not a repeat, not skipped).

        Never raises for a bad event: it is counted and skipped.
        """
        if kind not in LEDGER_KINDS:
            return False
        if self._counts["read"] >= MAX_EVENTS:
            self._counts["dropped"] += 1
            return False
        try:
            text = json.dumps([kind, body], sort_keys=True, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            self._counts["rejected"] += 1
            return False
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        if key in self._seen:
            self._counts["duplicates"] += 1
            return False
        try:
            parsed = parse_body(kind, dict(body) if isinstance(body, Mapping) else body, "body")
        except (WireError, TypeError):
            self._counts["rejected"] += 1
            return False
        hearing_id = getattr(parsed, "hearing_id", None)
        if self.hearing_id is None and hearing_id is not None:
            self.hearing_id = hearing_id
        if hearing_id is not None and hearing_id != self.hearing_id:
            self._counts["other_hearing"] += 1
            return False
        self._seen.add(key)
        self._counts["read"] += 1
        _FOLD[type(parsed)](self, parsed)
        return True

    def _see(self, time: float | None) -> None:
        if time is not None and time > self._latest:
            self._latest = time

    def _mark(self, mark: Mark) -> None:
        if len(self._marks) >= MAX_TRANSITIONS:
            self._counts["dropped"] += 1
            return
        self._marks.append(mark)
        self._see(mark.time)

    def _opened(self, body: HearingOpened) -> None:
        self._opened_at = self._opened_at or body.opened_at
        state = "recess" if body.state == "recess" else "open"
        start = body.resumed_from if body.resumed_from is not None else 0.0
        reason = body.reason if state == "recess" else None
        self._mark(
            Mark(
                start,
                "opened",
                state,
                reason,
                body.ordered_by or "",
                body.resumed_at or body.opened_at,
            )
        )

    def _recessed(self, body: HearingRecessed) -> None:
        self._mark(Mark(body.time, "recessed", "recess", body.reason, body.ordered_by, body.at))

    def _resumed(self, body: HearingResumed) -> None:
        self._mark(Mark(body.time, "resumed", "open", body.reason, body.ordered_by, body.at))

    def _closed(self, body: HearingClosed) -> None:
        time = body.duration if body.duration is not None else self._latest
        state = "down" if body.interrupted else "closed"
        if not body.interrupted:
            self._closed_at = body.closed_at
        self._mark(
            Mark(time, "closed", state, None, body.ordered_by or "", body.closed_at, body.error)
        )

    def _source(self, body: SourceState) -> None:
        changes = self._sources.get(body.source)
        if changes is None:
            if len(self._sources) >= MAX_SOURCES:
                self._counts["dropped"] += 1
                return
            changes = self._sources[body.source] = []
        if len(changes) >= MAX_TRANSITIONS:
            self._counts["dropped"] += 1
            return
        self._order += 1
        changes.append((body.time, self._order, body.recording, body.reason))
        self._see(body.time)

    def _action(self, body: DeviceAction) -> None:
        part = body.part or "other"
        counts = self._actions[part]
        counts[body.outcome] = counts.get(body.outcome, 0) + 1
        if body.outcome in ("failed", "unconfirmed") and body.part is not None:
            self._failures[body.part].append(
                {
                    "device": body.device,
                    "verb": body.verb,
                    "outcome": body.outcome,
                    "subject": body.subject,
                    "time": _r(body.time),
                    "message": body.message,
                }
            )
        if body.outcome == "confirmed" and body.confirm_ms is not None:
            device = body.device_ms if body.device_ms is not None else 0.0
            self._overhead.append(max(body.confirm_ms - device, 0.0))
        if body.device_ms is not None:
            self._device_ms.append(body.device_ms)
        self._see(body.time)

    def _incident(self, body: Incident) -> None:
        entry = self._incidents.get(body.id)
        if entry is None:
            if len(self._incidents) >= MAX_ENTRIES:
                self._counts["dropped"] += 1
                return
            entry = self._incidents[body.id] = {
                "id": body.id,
                "kind": body.kind,
                "part": body.part,
                "source": body.source,
                "message": body.message,
                "time": _r(body.time),
                "at": body.at,
                "state": "open",
                "explanation": None,
                "explained_by": None,
                "explained_at": None,
                "signed_by": None,
                "signed_at": None,
                "detail": body.detail,
            }
        if body.state == "open":
            # The raising event may arrive after the paperwork: keep its facts.
            entry.update(
                kind=body.kind,
                part=body.part,
                source=body.source,
                message=body.message,
                time=_r(body.time),
                at=body.at,
                detail=body.detail or entry["detail"],
            )
            self._see(body.time)
        elif body.state == "explained":
            entry.update(explanation=body.explanation, explained_by=body.by, explained_at=body.at)
        else:
            entry.update(signed_by=body.by, signed_at=body.at)
        if _STATE_RANK[body.state] > _STATE_RANK[entry["state"]]:
            entry["state"] = body.state

    def _find_presentation(self, exhibit: str, since: float) -> dict[str, Any] | None:
        entry: dict[str, Any]
        for entry in reversed(self._evidence):
            ended = entry["until"] is not None and since >= entry["until"]
            if (
                entry["exhibit"] == exhibit
                and not ended
                and abs(entry["since"] - since) <= EVIDENCE_LOG_S
            ):
                return entry
        return None

    def _presentation(
        self, exhibit: str, label: str, source: str, since: float
    ) -> dict[str, Any] | None:
        entry = self._find_presentation(exhibit, since)
        if entry is None:
            if len(self._evidence) >= MAX_ENTRIES:
                self._counts["dropped"] += 1
                return None
            entry = {
                "exhibit": exhibit,
                "label": label,
                "source": source,
                "input": None,
                "since": _r(since),
                "until": None,
                "logged": False,
                "screens": [],
            }
            self._evidence.append(entry)
        return entry

    def _presented(self, body: EvidencePresented) -> None:
        entry = self._presentation(body.exhibit, body.label, body.source, body.time)
        if entry is not None and body.input is not None:
            entry["input"] = body.input
        self._see(body.time)

    def _logged(self, body: EvidenceLog) -> None:
        entry = self._presentation(body.exhibit, body.label, body.source, body.since)
        if entry is None:
            return
        entry.update(label=body.label, source=body.source, since=_r(body.since), logged=True)
        if body.input is not None:
            entry["input"] = body.input
        if body.until is not None:
            entry["until"] = _r(body.until)
        if body.screens:
            entry["screens"] = [
                {
                    "screen": s.screen,
                    "outcome": s.outcome,
                    "device": s.device,
                    "ms": None if s.ms is None else _r(s.ms),
                    "message": s.message,
                }
                for s in body.screens
            ]
        self._see(body.time)

    def _withdrawn(self, body: EvidenceWithdrawn) -> None:
        for entry in reversed(self._evidence):
            if entry["exhibit"] == body.exhibit and entry["since"] <= body.time:
                if entry["until"] is None:
                    entry["until"] = _r(body.time)
                break
        self._see(body.time)

    def _speaker(self, body: SpeakerChanged) -> None:
        self._speakers += 1
        if self._last_speaker is None or body.time >= self._last_speaker["time"]:
            self._last_speaker = {"channel": body.channel, "role": body.role, "time": _r(body.time)}
        self._see(body.time)

    def _display(self, body: DisplayReport) -> None:
        current = self._screens.get(body.screen)
        if current is None and len(self._screens) >= MAX_ENTRIES:
            self._counts["dropped"] += 1
            return
        if current is None or body.time >= current["time"]:
            self._screens[body.screen] = {
                "screen": body.screen,
                "pages": body.pages,
                "shown": body.shown,
                "latency_p50_ms": body.latency_p50_ms,
                "latency_p95_ms": body.latency_p95_ms,
                "latency_max_ms": body.latency_max_ms,
                "time": _r(body.time),
            }
        if body.pages == 0:
            blank = self._blank.setdefault(body.screen, [])
            if len(blank) < MAX_ENTRIES:
                blank.append(body.time)
        self._see(body.time)

    def _uploaded(self, body: UploadReport) -> None:
        if self._upload is None or body.time >= self._upload["time"]:
            self._upload = {
                "unacked": body.unacked,
                "lag_s": _r(body.lag_s),
                "connected": body.connected,
                "time": _r(body.time),
            }
        self._max_lag = max(self._max_lag, body.lag_s)
        self._max_unacked = max(self._max_unacked, body.unacked)
        self._see(body.time)

    def _ignore(self, body: Any) -> None:
        self._see(getattr(body, "time", None))

    # -- the report -----------------------------------------------------------

    def report(self, *, final: bool | None = None, now: float | None = None) -> dict[str, Any]:
        """The compliance report (shape in the module docstring).

        Args:
            final: whether the report is final; None: once 闭庭 is seen.
            now: the hearing time a provisional report speaks of; None: the
                latest time any event carried.
        """
        spans, closed = spans_of(self._marks, self._latest, now)
        is_final = closed if final is None else final
        end = spans[-1].end if spans else 0.0
        open_s = sum(s.end - s.start for s in spans if s.state != "recess")
        recess_s = sum(s.end - s.start for s in spans if s.state == "recess")
        state = "idle" if not spans else ("closed" if closed else spans[-1].state)
        sources = {
            name: coverage_of(name, self._sources[name], spans, self._incident_for)
            for name in sorted(self._sources)
        }
        facts = self._facts()
        incidents = sorted(self._incidents.values(), key=lambda i: (i["time"], i["id"]))
        by_part: dict[str, list[str]] = {p: [] for p in FIVE_SYNC_PARTS}
        for incident in incidents:
            by_part[incident["part"]].append(incident["id"])
        lights = {
            "recording": recording_light(facts, sources, open_s, by_part["recording"]),
            "transcript_display": transcript_light(
                facts, spans, open_s, by_part["transcript_display"]
            ),
            "evidence_display": evidence_light(facts, end, is_final, by_part["evidence_display"]),
            "video": video_light(facts, sources, open_s, by_part["video"]),
            "data_upload": upload_light(facts, is_final),
        }
        totals = {
            o: sum(c.get(o, 0) for c in self._actions.values())
            for o in ("confirmed", "unconfirmed", "unconfirmable", "failed")
        }
        return {
            "hearing_id": self.hearing_id,
            "final": is_final,
            "now": _r(end),
            "session": {
                "state": state,
                "open_s": _r(open_s),
                "recess_s": _r(recess_s),
                "opened_at": self._opened_at,
                "closed_at": self._closed_at,
            },
            "lights": lights,
            "interruptions": [interruption_of(s) for s in spans if s.state != "open"],
            "incidents": incidents,
            "open_incidents": sum(1 for i in incidents if i["state"] != "signed"),
            "actions": {
                "total": sum(totals.values()),
                **totals,
                "overhead_ms_p50": _percentile(self._overhead, 50),
                "overhead_ms_p95": _percentile(self._overhead, 95),
                "device_ms_p95": _percentile(self._device_ms, 95),
            },
            "events": dict(self._counts),
        }

    def _facts(self) -> Facts:
        return Facts(
            actions=self._actions,
            failures=self._failures,
            screens=self._screens,
            blank=self._blank,
            evidence=self._evidence,
            speakers=self._speakers,
            last_speaker=self._last_speaker,
            upload=self._upload,
            max_lag=self._max_lag,
            max_unacked=self._max_unacked,
            incidents=self._incidents,
        )

    def _incident_for(self, source: str, lo: float, hi: float) -> str | None:
        for incident in self._incidents.values():
            if incident["source"] == source and lo - END_GRACE_S <= incident["time"] <= hi + 60:
                return str(incident["id"])
        return None


_FOLD: Final[Mapping[type, Any]] = {
    HearingOpened: ComplianceLedger._opened,
    HearingRecessed: ComplianceLedger._recessed,
    HearingResumed: ComplianceLedger._resumed,
    HearingClosed: ComplianceLedger._closed,
    SourceState: ComplianceLedger._source,
    DeviceAction: ComplianceLedger._action,
    Incident: ComplianceLedger._incident,
    EvidencePresented: ComplianceLedger._presented,
    EvidenceLog: ComplianceLedger._logged,
    EvidenceWithdrawn: ComplianceLedger._withdrawn,
    SpeakerChanged: ComplianceLedger._speaker,
    DisplayReport: ComplianceLedger._display,
    UploadReport: ComplianceLedger._uploaded,
    BODY_TYPES["rule.fired"]: ComplianceLedger._ignore,
}
"""Body class → how it is folded (a table, not an ``if kind ==`` chain)."""


def compliance_report(
    events: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    final: bool | None = None,
    now: float | None = None,
    hearing_id: str | None = None,
) -> dict[str, Any]:
    """The compliance report of one hearing from its ledger events, in order.

    Args:
        events: ``(kind, body)`` pairs; kinds not in :data:`LEDGER_KINDS` are
            skipped, bodies are checked (invalid ones counted and skipped).
        final: force the report final or provisional; None: final once the
            hearing's 闭庭 (``hearing.closed`` not ``interrupted``) is seen.
        now: the hearing time of a provisional report (default: the latest
            time any event carried).
        hearing_id: the hearing (default: the first one the events name).

    Returns:
        The report; its shape is in the module docstring.
    """
    ledger = ComplianceLedger(hearing_id)
    for kind, body in events:
        ledger.add(kind, body)
    return ledger.report(final=final, now=now)
