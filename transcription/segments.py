"""Results of streaming recognition, stamped on the hearing clock.

The hearing clock counts seconds since the hearing opened, derived from the
number of audio samples captured, never from wall time. Every segment names
the microphone channel it came from and the role (seat) mapped to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its span on the hearing clock."""

    word: str
    start: float
    end: float
    conf: float

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"word {self.word!r} ends before it starts")

    def to_json(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "conf": round(self.conf, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Word:
        return cls(
            word=str(data["word"]),
            start=float(data["start"]),
            end=float(data["end"]),
            conf=float(data.get("conf", 1.0)),
        )


@dataclass(frozen=True, slots=True)
class Partial:
    """An utterance still being spoken: its text may change until its Final."""

    channel: int
    role: str
    start: float
    text: str
    end: float = 0.0
    """Hearing-clock time of the last audio sample this hypothesis reflects."""


@dataclass(frozen=True, slots=True)
class Final:
    """A finished utterance. It will not change; clerks may correct it later."""

    channel: int
    role: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default=())
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("segment ends before it starts")
        if self.channel < 0:
            raise ValueError("channel must be >= 0")

    def to_json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "channel": self.channel,
            "role": self.role,
            "text": self.text,
            "confidence": round(self.confidence, 3),
            "words": [w.to_json() for w in self.words],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Final:
        return cls(
            channel=int(data["channel"]),
            role=str(data["role"]),
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data["text"]),
            words=tuple(Word.from_json(w) for w in data.get("words", [])),
            confidence=float(data.get("confidence", 1.0)),
        )
