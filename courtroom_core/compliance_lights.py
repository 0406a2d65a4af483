"""How each of the five lights is judged (the rules are in :mod:`courtroom_core.compliance`).

Functions of the facts the fold gathered (:class:`Facts`), each returning one
light: ``{"status", "label", "summary", "reasons", …figures}``. The worst
finding sets the status; the first finding of that status is the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from courtroom_core.compliance_spans import Span, rounded

__all__ = [
    "AMBER_LAG_S",
    "DISPLAY_TARGET_MS",
    "EVIDENCE_LOG_S",
    "NO_REPORT_S",
    "PART_LABELS",
    "RED_CAMERA_GAP_S",
    "RED_GAP_S",
    "RED_LAG_S",
    "Facts",
    "Light",
    "evidence_light",
    "recording_light",
    "transcript_light",
    "upload_light",
    "video_light",
]

RED_GAP_S: Final = 1.0
"""An unlawful gap this long in a seat or a recorder makes recording red."""
RED_CAMERA_GAP_S: Final = 10.0
"""A camera's unlawful gaps adding up to this make video red."""
DISPLAY_TARGET_MS: Final = 1000.0
"""A final must be on the courtroom screens within 1 s (issue 13 §2.2)."""
NO_REPORT_S: Final = 10.0
"""Open time after which a hearing with no display report is amber."""
EVIDENCE_LOG_S: Final = 5.0
"""A presentation's screens must be logged within this (hearing seconds)."""
AMBER_LAG_S: Final = 5.0
RED_LAG_S: Final = 60.0
PART_LABELS: Final[Mapping[str, str]] = {
    "recording": "录音录像 · recording",
    "transcript_display": "笔录展示 · transcript display",
    "evidence_display": "证据展示 · evidence display",
    "video": "视频摄录 · video",
    "data_upload": "数据上传 · data upload",
}
RANK: Final = {"green": 0, "amber": 1, "red": 2}


@dataclass(frozen=True, slots=True)
class Facts:
    """What the fold gathered, as the judging functions read it (not copied: views)."""

    actions: Mapping[str, Mapping[str, int]]
    """part → outcome → count."""
    failures: Mapping[str, Sequence[dict[str, Any]]]
    """part → the latest failed or unconfirmed actions."""
    screens: Mapping[str, dict[str, Any]]
    blank: Mapping[str, Sequence[float]]
    """screen → hearing times it reported no page."""
    evidence: Sequence[dict[str, Any]]
    speakers: int
    last_speaker: dict[str, Any] | None
    upload: dict[str, Any] | None
    max_lag: float
    max_unacked: int
    incidents: Mapping[str, dict[str, Any]]


@dataclass(slots=True)
class Light:
    """One light being judged: the worst finding wins."""

    status: str = "green"
    reasons: list[str] = field(default_factory=list)
    worst: str = ""
    """The first reason of the worst status: the summary."""

    def lower(self, status: str, reason: str) -> None:
        if RANK[status] > RANK[self.status] or not self.worst:
            self.status, self.worst = status, reason
        if len(self.reasons) < 20:
            self.reasons.append(reason)

    def to_json(self, part: str, ok: str, figures: dict[str, Any]) -> dict[str, Any]:
        summary = ok if self.status == "green" else self.worst
        return {
            "status": self.status,
            "label": PART_LABELS[part],
            "summary": summary,
            "reasons": list(self.reasons),
            **figures,
        }


def outcomes(facts: Facts, light: Light, part: str, *, unconfirmable: bool) -> dict[str, int]:
    counts = facts.actions[part]
    first = {f["outcome"]: f for f in reversed(facts.failures[part])}
    for outcome, status, zh, en in (
        ("failed", "red", "失败", "failed"),
        ("unconfirmed", "amber", "未确认", "unconfirmed"),
    ):
        n = counts.get(outcome, 0)
        if not n:
            continue
        what = first.get(outcome)
        name = f"{what['device']} {what['verb']} " if what else ""
        light.lower(status, f"{name}{zh}（{n} 次）· {name}{en} ({n}×)")
    if unconfirmable and counts.get("unconfirmable"):
        light.lower("amber", f"{counts['unconfirmable']} 个设备无法确认 · cannot confirm")
    return {o: counts.get(o, 0) for o in ("confirmed", "unconfirmed", "unconfirmable", "failed")}


def incidents_lower(light: Light, ids: list[str]) -> None:
    if ids:
        light.lower("red", f"{len(ids)} 起故障事件 · incident(s): {', '.join(ids[:5])}")


def recording_light(
    facts: Facts, sources: dict[str, dict[str, Any]], open_s: float, incidents: list[str]
) -> dict[str, Any]:
    light = Light()
    if open_s > 0 and not sources:
        light.lower("amber", "无录制来源报告 · no recorded source reported")
    for name, source in sources.items():
        strict = not name.startswith("camera:")
        gap = source["unlawful_gap_s"]
        if strict and source["longest_gap_s"] >= RED_GAP_S:
            light.lower(
                "red",
                f"{name} 中断 {gap:g} 秒 · unlawful gap of {gap:g} s",
            )
        elif source["unlawful_gap_s"] > 0:
            light.lower(
                "amber",
                f"{name} 短暂中断 {gap:g} 秒 · gap of {gap:g} s",
            )
    actions = outcomes(facts, light, "recording", unconfirmable=True)
    incidents_lower(light, incidents)
    coverage = min((s["coverage"] for s in sources.values()), default=None)
    ok = (
        "无庭审时间 · nothing recorded yet"
        if open_s <= 0
        else f"{len(sources)} 路全程录制 · {len(sources)} source(s) recorded throughout"
    )
    return light.to_json(
        "recording",
        ok,
        {
            "coverage_min": coverage,
            "sources": list(sources.values()),
            "actions": actions,
            "failures": list(facts.failures["recording"]),
        },
    )


def transcript_light(
    facts: Facts, spans: list[Span], open_s: float, incidents: list[str]
) -> dict[str, Any]:
    light = Light()
    actions = outcomes(facts, light, "transcript_display", unconfirmable=False)
    incidents_lower(light, incidents)
    open_spans = [s for s in spans if s.state != "recess"]
    for screen, times in sorted(facts.blank.items()):
        if any(s.start <= t <= s.end for t in times for s in open_spans):
            light.lower("red", f"{screen} 庭审中无页面 · no page while in session")
    p95s = []
    for row in facts.screens.values():
        p95, worst = row["latency_p95_ms"], row["latency_max_ms"]
        if p95 is not None:
            p95s.append(p95)
            if p95 > DISPLAY_TARGET_MS:
                light.lower(
                    "red",
                    f"{row['screen']} 延迟 p95 {p95:.0f} ms > 1 s · latency p95 over 1 s",
                )
        if (
            worst is not None
            and worst > DISPLAY_TARGET_MS
            and (p95 is None or p95 <= DISPLAY_TARGET_MS)
        ):
            light.lower("amber", f"{row['screen']} 个别笔录超过 1 秒 · some finals over 1 s")
    if not facts.screens and open_s >= NO_REPORT_S:
        light.lower("amber", "无展示屏报告 · no screen reported")
    shown = sum(s["shown"] for s in facts.screens.values())
    n = len(facts.screens)
    p95_max = max(p95s, default=None)
    ok = (
        "尚无展示屏报告 · no screen reported yet"
        if not facts.screens
        else f"{n} 屏同步显示 {shown} 条 · {n} screen(s), {shown} finals shown"
    )
    return light.to_json(
        "transcript_display",
        ok,
        {
            "screens": sorted(facts.screens.values(), key=lambda s: s["screen"]),
            "shown": shown,
            "latency_p95_ms": p95_max,
            "target_ms": DISPLAY_TARGET_MS,
            "actions": actions,
            "failures": list(facts.failures["transcript_display"]),
        },
    )


def evidence_light(facts: Facts, now: float, final: bool, incidents: list[str]) -> dict[str, Any]:
    light = Light()
    actions = outcomes(facts, light, "evidence_display", unconfirmable=False)
    incidents_lower(light, incidents)
    log = sorted(facts.evidence, key=lambda e: (e["since"], e["exhibit"]))
    for entry in log:
        shown = [s["outcome"] for s in entry["screens"]]
        if "failed" in shown:
            light.lower("red", f"{entry['exhibit']} 有屏幕未显示 · a screen failed")
        elif "unconfirmed" in shown:
            light.lower("amber", f"{entry['exhibit']} 有屏幕未确认 · a screen unconfirmed")
        elif not entry["logged"] and (final or now - entry["since"] > EVIDENCE_LOG_S):
            light.lower("amber", f"{entry['exhibit']} 无展示记录 · screens not logged")
    ok = (
        "无举证 · no exhibits"
        if not log
        else f"{len(log)} 次举证全部确认 · {len(log)} exhibit(s) shown, all confirmed"
    )
    return light.to_json(
        "evidence_display",
        ok,
        {
            "presentations": len(log),
            "log": log,
            "actions": actions,
            "failures": list(facts.failures["evidence_display"]),
        },
    )


def video_light(
    facts: Facts, sources: dict[str, dict[str, Any]], open_s: float, incidents: list[str]
) -> dict[str, Any]:
    light = Light()
    actions = outcomes(facts, light, "video", unconfirmable=False)
    incidents_lower(light, incidents)
    cameras = [s for name, s in sources.items() if name.startswith("camera:")]
    for camera in cameras:
        gap = camera["unlawful_gap_s"]
        if gap >= RED_CAMERA_GAP_S:
            light.lower("red", f"{camera['source']} 中断 {gap:g} 秒 · unlawful gap of {gap:g} s")
        elif gap > 0:
            light.lower("amber", f"{camera['source']} 短暂中断 {gap:g} 秒 · gap of {gap:g} s")
    if open_s > 0 and not cameras:
        light.lower("amber", "无摄像机录制报告 · no camera reported")
    moves = sum(actions.values())
    n, turns = len(cameras), facts.speakers
    ok = (
        "无庭审时间 · nothing recorded yet"
        if open_s <= 0
        else f"{n} 台摄像机, 跟随发言 {turns} 次 · {n} camera(s), {turns} speaker change(s)"
    )
    return light.to_json(
        "video",
        ok,
        {
            "cameras": [c["source"] for c in cameras],
            "coverage_min": min((c["coverage"] for c in cameras), default=None),
            "speaker_changes": facts.speakers,
            "last_speaker": facts.last_speaker,
            "moves": moves,
            "unconfirmable": actions["unconfirmable"],
            "actions": actions,
            "failures": list(facts.failures["video"]),
        },
    )


def upload_light(facts: Facts, final: bool) -> dict[str, Any]:
    light = Light()
    incidents_lower(
        light, [i["id"] for i in facts.incidents.values() if i["part"] == "data_upload"]
    )
    latest, lag = facts.upload, facts.max_lag
    if facts.max_lag >= RED_LAG_S:
        light.lower(
            "red",
            f"上传延迟 {lag:.0f} 秒 ≥ 60 秒 · upload lag reached {lag:.0f} s",
        )
    elif facts.max_lag > AMBER_LAG_S:
        light.lower(
            "amber",
            f"上传延迟 {facts.max_lag:.0f} 秒 · upload lag reached {facts.max_lag:.0f} s",
        )
    if latest is not None and not latest["connected"]:
        if final and latest["unacked"] > 0:
            light.lower(
                "red",
                f"闭庭时断开, {latest['unacked']} 条未上传 · disconnected at close, data left",
            )
        elif not final:
            light.lower("amber", "与中心断开 · disconnected from the hub")
    ok = (
        "无上传报告 · nothing reported"
        if latest is None
        else f"延迟 ≤ {facts.max_lag:.1f} 秒 · lag at most {facts.max_lag:.1f} s"
    )
    return light.to_json(
        "data_upload",
        ok,
        {
            "max_lag_s": rounded(facts.max_lag),
            "max_unacked": facts.max_unacked,
            "unacked": None if latest is None else latest["unacked"],
            "lag_s": None if latest is None else latest["lag_s"],
            "connected": None if latest is None else latest["connected"],
        },
    )
