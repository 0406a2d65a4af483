"""The courtroom camera follows the speaker: which seat to show, decided from microphone levels.

§2.4 视频同步摄录播放: when one seat carries the dominant speech for longer
than a hold time, the camera recalls that seat's preset; a short interjection
does not move it; the presiding judge's seat may be given priority.
:class:`SpeakerFollower` decides *when* to move and to *which* seat; it
returns :class:`SpeakerChanged` values and does nothing else (the agent
publishes them as ``speaker.changed`` and the rule engine recalls the
preset). It is pure and clock-free: fed the :class:`~av.levels.LevelReport`
of every tenth of a second of audio, it uses the hearing-clock times those
reports carry, so a file played faster than real time or a test gives the
same moves as a live hearing.

Each report is first reduced to one **block verdict**, from every channel's
RMS level:

* A channel is *speaking* when its level is at least ``speech_dbfs`` and at
  least ``above_floor_db`` above its own noise floor (tracked per channel:
  it falls at once to a quieter block and rises by at most
  ``floor_rise_db_per_s``), so a projector fan next to one microphone never
  becomes a speaker.
* Among the speaking channels, the loudest (level *L*) *dominates* when no
  other speaking channel is within ``dominance_db`` of it. A neighbour's
  microphone hears a speaker 20–30 dB down: it is never a contender.
* Channels within ``tie_db`` of *L* are *tied* — one microphone routed to two
  inputs, a speaker between two microphones. A tie is no contest: the seat
  is chosen by a fixed preference (a ``priority`` channel in its order, else
  the seat already followed, else the lowest channel), so equal channels
  never make the camera flap.
* Other contenders within ``dominance_db`` (two people talking at once)
  make the block *contested*: it goes to the highest ``priority`` channel
  among them (the presiding judge talking over a party takes the floor), or
  to nobody.

Blocks are then credited to **runs**, one per seat: a run starts at the
first block the seat dominates and survives up to ``max_gap_s`` of blocks
it does not dominate (the pauses of Mandarin speech, another seat's short
reply); a longer gap ends it. A run is *ripe* when it has lasted ``hold_s``
(``priority_hold_s`` for a ``priority`` channel) from its start to the end
of the current block, with the seat dominating at least ``min_voiced`` of
the last hold time. A run dominated for less than ``min_voiced`` of its
last hold time (of its whole life if younger) is *sparse* — a knock every
0.4 s is no speech — and starts afresh at the seat's next block, so
scattered noises never shorten the hold of the speech that follows them.
A ripe run of a seat other than the followed one moves the camera, in a
block that seat dominates, and only ``min_dwell_s`` after the previous
move, so the camera never oscillates. Nothing else moves it:
silence and contested blocks keep it on the last seat.

Transitions, one row per (phase, block verdict); the steps run in order
(``age``: end the runs whose gap exceeded ``max_gap_s``; ``credit``: extend
or start the dominant seat's run; ``move``: emit :class:`SpeakerChanged` if
that run is ripe and the dwell has passed)::

    phase       verdict     steps                   next phase
    ---------   ---------   ---------------------   -------------------------
    IDLE        SILENT      age                     IDLE
    IDLE        CONTESTED   age                     IDLE
    IDLE        OTHER       age, credit, move       FOLLOWING if moved
    FOLLOWING   SILENT      age                     FOLLOWING (same seat)
    FOLLOWING   CONTESTED   age                     FOLLOWING (same seat)
    FOLLOWING   FOLLOWED    age, credit             FOLLOWING (same seat)
    FOLLOWING   OTHER       age, credit, move       FOLLOWING (new seat if moved)

(IDLE has no followed seat, so no block is FOLLOWED there; the first move
out of IDLE waits for no dwell.) :meth:`SpeakerFollower.reset` returns to
IDLE with no runs and no floors: call it at recess (休庭) and close (闭庭),
where the next hearing clock may start again from zero.

Errors: :class:`SpeakerFollowError` (a :class:`~courtroom_core.errors.CourtroomError`
and a :class:`ValueError`) names the ``field`` at fault — a config value out of
range, a report with the wrong channel count, or time running backwards.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from av.levels import FLOOR_DBFS, LevelReport
from courtroom_core.errors import CourtroomError

__all__ = ["FollowConfig", "SpeakerChanged", "SpeakerFollowError", "SpeakerFollower"]

_EPS: Final = 1e-6
"""Slack on time comparisons: block times are sums of frame counts / rate."""

_MAX_CHANNELS: Final = 256


class SpeakerFollowError(CourtroomError, ValueError):
    """A config value or an observed report is unacceptable.

    Attributes:
        field: the name of the value at fault (``hold_s``, ``levels``, ``time`` …).
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _number(name: str, value: object, low: float, high: float) -> None:
    """Refuse a non-number, NaN, infinity or a value outside [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpeakerFollowError(name, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise SpeakerFollowError(name, "must be finite")
    if not low <= value <= high:
        raise SpeakerFollowError(name, f"must be between {low:g} and {high:g}, not {value!r}")


@dataclass(frozen=True, slots=True)
class FollowConfig:
    """Tuning of :class:`SpeakerFollower`. Levels in dB(FS), times in hearing seconds.

    Attributes:
        speech_dbfs: a quieter channel is never speaking (−96 to 0).
        above_floor_db: speech must exceed the channel's noise floor by this (0–60).
        floor_rise_db_per_s: how fast a channel's noise floor may rise (0.1–60).
        dominance_db: the dominant channel leads every other contender by this
            (0–60, above ``tie_db``).
        tie_db: channels this close to the loudest are the same sound (0 up to
            ``dominance_db``); the tie is settled by preference, not level.
        hold_s: how long a seat's run must last to move the camera (0.1–60).
        priority_hold_s: the same for a ``priority`` channel (0.1 up to ``hold_s``).
        max_gap_s: the longest pause that does not end a run (0 up to ``hold_s``).
        min_voiced: the share of the last hold time the seat must dominate (0.05–1).
        min_dwell_s: the least time between two moves (0–600).
        priority: channels that win a contested block and use
            ``priority_hold_s``, highest first (the presiding judge's seat).

    Raises:
        SpeakerFollowError: a value is not a finite number in its range; its
            ``field`` names it.
    """

    speech_dbfs: float = -45.0
    above_floor_db: float = 10.0
    floor_rise_db_per_s: float = 2.0
    dominance_db: float = 6.0
    tie_db: float = 2.0
    hold_s: float = 1.5
    priority_hold_s: float = 0.5
    max_gap_s: float = 0.5
    min_voiced: float = 0.5
    min_dwell_s: float = 3.0
    priority: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        _number("speech_dbfs", self.speech_dbfs, FLOOR_DBFS, 0.0)
        _number("above_floor_db", self.above_floor_db, 0.0, 60.0)
        _number("floor_rise_db_per_s", self.floor_rise_db_per_s, 0.1, 60.0)
        _number("dominance_db", self.dominance_db, 0.0, 60.0)
        _number("tie_db", self.tie_db, 0.0, self.dominance_db)
        if self.tie_db >= self.dominance_db:
            raise SpeakerFollowError("tie_db", "must be below dominance_db")
        _number("hold_s", self.hold_s, 0.1, 60.0)
        _number("priority_hold_s", self.priority_hold_s, 0.1, self.hold_s)
        _number("max_gap_s", self.max_gap_s, 0.0, self.hold_s)
        _number("min_voiced", self.min_voiced, 0.05, 1.0)
        _number("min_dwell_s", self.min_dwell_s, 0.0, 600.0)
        if not isinstance(self.priority, tuple):
            raise SpeakerFollowError("priority", "must be a tuple of channel indices")
        for channel in self.priority:
            if isinstance(channel, bool) or not isinstance(channel, int):
                raise SpeakerFollowError("priority", f"{channel!r} is not a channel index")
            if not 0 <= channel < _MAX_CHANNELS:
                raise SpeakerFollowError(
                    "priority", f"channel {channel} is not 0-{_MAX_CHANNELS - 1}"
                )
        if len(set(self.priority)) != len(self.priority):
            raise SpeakerFollowError("priority", "a channel is listed twice")

    def hold_for(self, channel: int) -> float:
        """The hold time of ``channel``'s seat."""
        return self.priority_hold_s if channel in self.priority else self.hold_s


@dataclass(frozen=True, slots=True)
class SpeakerChanged:
    """The camera should now show ``channel``'s seat.

    Attributes:
        time: hearing-clock seconds when the move was decided (the end of the
            block that made the run ripe).
        channel: the newly followed microphone channel.
        role: that channel's seat (审判长, 原告, …).
        previous: the channel followed until now; None out of IDLE.
        held_s: how long the seat's run had lasted (pauses included).
        voiced_s: how much of the last hold time the seat dominated.
    """

    time: float
    channel: int
    role: str
    previous: int | None
    held_s: float
    voiced_s: float

    def __post_init__(self) -> None:
        for name in ("time", "held_s", "voiced_s"):
            _number(name, getattr(self, name), 0.0, math.inf)
        if self.channel < 0 or self.channel == self.previous:
            raise SpeakerFollowError("channel", "must be >= 0 and differ from previous")

    def to_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 3),
            "channel": self.channel,
            "role": self.role,
            "previous": self.previous,
            "held_s": round(self.held_s, 3),
            "voiced_s": round(self.voiced_s, 3),
        }


class _Phase(enum.Enum):
    IDLE = "idle"
    FOLLOWING = "following"


class _Verdict(enum.Enum):
    SILENT = "silent"
    CONTESTED = "contested"
    FOLLOWED = "followed"
    OTHER = "other"


class _Step(enum.Enum):
    AGE = "age"
    CREDIT = "credit"
    MOVE = "move"


_A, _C, _M = _Step.AGE, _Step.CREDIT, _Step.MOVE

_TRANSITIONS: Final[dict[tuple[_Phase, _Verdict], tuple[_Step, ...]]] = {
    (_Phase.IDLE, _Verdict.SILENT): (_A,),
    (_Phase.IDLE, _Verdict.CONTESTED): (_A,),
    (_Phase.IDLE, _Verdict.OTHER): (_A, _C, _M),
    (_Phase.FOLLOWING, _Verdict.SILENT): (_A,),
    (_Phase.FOLLOWING, _Verdict.CONTESTED): (_A,),
    (_Phase.FOLLOWING, _Verdict.FOLLOWED): (_A, _C),
    (_Phase.FOLLOWING, _Verdict.OTHER): (_A, _C, _M),
}
"""The table of the module docstring; a missing key is a bug, not an input error."""


_MAX_BLOCKS: Final = 2048
"""Blocks a run remembers: 60 s (the longest hold) of 100-ms reports, with room
for the short blocks next to source gaps. On overflow the oldest block is
forgotten, which can only under-count the voiced time (a later move, never a
spurious one)."""


@dataclass(slots=True)
class _Run:
    """One seat's speech, pauses of up to ``max_gap_s`` included."""

    since: float
    last: float
    blocks: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=_MAX_BLOCKS))
    """(start, end) of each block the seat dominated within the longest hold."""

    def add(self, start: float, end: float, *, keep: float) -> None:
        self.last = end
        self.blocks.append((start, end))
        while self.blocks and self.blocks[0][1] <= end - keep:
            self.blocks.popleft()

    def voiced(self, since: float) -> float:
        """Seconds of dominated blocks after ``since``."""
        return sum(end - max(start, since) for start, end in self.blocks if end > since)


class SpeakerFollower:
    """Decides, one level report at a time, which seat the camera follows.

    Args:
        roles: the seat of each channel, in channel order (the meter's roles).
        config: thresholds and times.

    Raises:
        SpeakerFollowError: ``roles`` is empty or too long, or a ``priority``
            channel does not exist.
    """

    def __init__(self, *, roles: Sequence[str], config: FollowConfig = FollowConfig()) -> None:
        if not 1 <= len(roles) <= _MAX_CHANNELS:
            raise SpeakerFollowError("roles", f"needs 1-{_MAX_CHANNELS} channels, got {len(roles)}")
        for channel in config.priority:
            if channel >= len(roles):
                raise SpeakerFollowError("priority", f"channel {channel} of {len(roles)} channels")
        self.roles = tuple(roles)
        self.config = config
        self._rank = {channel: rank for rank, channel in enumerate(config.priority)}
        self.reset()

    @property
    def followed(self) -> int | None:
        """The channel whose seat the camera shows, or None before the first move."""
        return self._followed

    def reset(self) -> None:
        """Back to IDLE: no seat followed, no runs, floors and time forgotten (休庭, 闭庭)."""
        self._phase = _Phase.IDLE
        self._followed: int | None = None
        self._last_move: float | None = None
        self._runs: dict[int, _Run] = {}
        self._floors: list[float] | None = None
        self._time: float | None = None

    def observe(self, report: LevelReport) -> list[SpeakerChanged]:
        """Feed one meter report; return the move it decides (at most one).

        Raises:
            SpeakerFollowError: the report's channels are not this follower's,
                or it does not come after the previous one.
        """
        return self.observe_levels(
            time=report.hearing_time,
            duration=report.duration,
            levels=[c.rms_dbfs for c in report.channels],
        )

    def observe_levels(
        self, *, time: float, duration: float, levels: Sequence[float]
    ) -> list[SpeakerChanged]:
        """Feed one block's RMS level of every channel, ending at hearing-clock ``time``.

        Blocks must follow each other in time (a block may start after the
        previous one ended — audio the source dropped — never before).

        Raises:
            SpeakerFollowError: a value is not finite or out of range, the
                channel count is wrong, or the block overlaps the previous one.
        """
        _number("duration", duration, _EPS, 60.0)
        _number("time", time, duration - _EPS, math.inf)
        if len(levels) != len(self.roles):
            raise SpeakerFollowError(
                "levels", f"expected {len(self.roles)} channels, got {len(levels)}"
            )
        for level in levels:
            _number("levels", level, FLOOR_DBFS, 0.0)
        start = time - duration
        if self._time is not None and start < self._time - _EPS:
            raise SpeakerFollowError(
                "time", f"block starts at {start:.3f} s, before {self._time:.3f} s"
            )
        self._time = time
        winner, verdict = self._verdict(levels, duration)
        moves: list[SpeakerChanged] = []
        for step in _TRANSITIONS[self._phase, verdict]:
            if step is _Step.AGE:
                self._age(time, spare=winner)
            elif step is _Step.CREDIT:
                assert winner is not None
                self._credit(winner, start, time, duration)
            else:
                assert winner is not None
                moves.extend(self._move(winner, time))
        return moves

    # -- the block verdict -------------------------------------------------------

    def _verdict(self, levels: Sequence[float], duration: float) -> tuple[int | None, _Verdict]:
        """The seat that dominates this block (None if none does), and the verdict."""
        cfg = self.config
        if self._floors is None:
            self._floors = list(levels)
        rise = cfg.floor_rise_db_per_s * duration
        speaking: list[int] = []
        for channel, level in enumerate(levels):
            self._floors[channel] = max(FLOOR_DBFS, min(self._floors[channel] + rise, level))
            if level >= cfg.speech_dbfs and level >= self._floors[channel] + cfg.above_floor_db:
                speaking.append(channel)
        if not speaking:
            return None, _Verdict.SILENT
        loudest = max(levels[c] for c in speaking)
        contenders = [c for c in speaking if levels[c] > loudest - cfg.dominance_db]
        tied = [c for c in contenders if levels[c] >= loudest - cfg.tie_db]
        if len(tied) < len(contenders):
            # Two people at once: only a priority seat takes such a block.
            tied = [c for c in contenders if c in self._rank]
            if not tied:
                return None, _Verdict.CONTESTED
        winner = min(tied, key=self._preference)
        return winner, _Verdict.FOLLOWED if winner == self._followed else _Verdict.OTHER

    def _preference(self, channel: int) -> tuple[int, int, int]:
        """Sort key among tied seats: priority rank, then the followed seat, then the lowest."""
        return (self._rank.get(channel, _MAX_CHANNELS), channel != self._followed, channel)

    # -- the steps of the table --------------------------------------------------

    def _age(self, time: float, *, spare: int | None) -> None:
        limit = self.config.max_gap_s + _EPS
        for channel in [
            c for c, run in self._runs.items() if c != spare and time - run.last > limit
        ]:
            del self._runs[channel]

    def _credit(self, channel: int, start: float, time: float, duration: float) -> None:
        run = self._runs.get(channel)
        cfg = self.config
        hold = cfg.hold_for(channel)
        span = 0.0 if run is None else min(hold, start - run.since)
        if (
            run is None
            or start - run.last > cfg.max_gap_s + _EPS
            # Sparse: scattered noises are no speech, and must not shorten the hold.
            or run.voiced(start - span) < cfg.min_voiced * span - _EPS
        ):
            run = self._runs[channel] = _Run(since=start, last=time)
        run.add(start, time, keep=self.config.hold_s)

    def _move(self, channel: int, time: float) -> list[SpeakerChanged]:
        cfg = self.config
        run = self._runs[channel]
        held, hold = time - run.since, cfg.hold_for(channel)
        voiced = run.voiced(time - hold)
        ripe = held >= hold - _EPS and voiced >= cfg.min_voiced * hold - _EPS
        dwelt = self._last_move is None or time - self._last_move >= cfg.min_dwell_s - _EPS
        if not (ripe and dwelt):
            return []
        change = SpeakerChanged(
            time=time,
            channel=channel,
            role=self.roles[channel],
            previous=self._followed,
            held_s=held,
            voiced_s=voiced,
        )
        self._phase = _Phase.FOLLOWING
        self._followed = channel
        self._last_move = time
        return [change]
