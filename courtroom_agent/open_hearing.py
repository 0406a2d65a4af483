"""The hearing an agent has open, remembered across a crash.

A hearing runs from 宣布开庭 to 闭庭. If the agent dies in between (``kill
-9``, power cut, a crash), the hearing has not ended: the restarted agent
must carry on with the same hearing id, so the recording continues in the
same directory with the interruption declared as a gap, and the transcript
and events continue on the same hearing clock. The agent writes
``open-hearing.json`` (atomically, fsynced) when a hearing opens and removes
it when the hearing closes; a file found at start-up is a hearing the agent
did not close.

A hearing left open longer than ``resume_within`` is not resumed (the
courtroom has moved on): the agent closes it as interrupted and opens a new
one. A file that cannot be read is kept aside (renamed, never deleted) and
a new hearing is opened.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "OPEN_HEARING_NAME",
    "OpenHearing",
    "forget_open_hearing",
    "load_open_hearing",
    "take_over",
]

logger = logging.getLogger(__name__)

OPEN_HEARING_NAME = "open-hearing.json"


@dataclass(frozen=True, slots=True)
class OpenHearing:
    """What a restarted agent needs to continue a hearing.

    Attributes:
        hearing_id: the hearing's id (its recording directory's name).
        opened_at: wall time of hearing second 0 (timezone-aware).
        title: hearing title.
        roles: channel roles; a hearing is resumed only with the same seats.
    """

    hearing_id: str
    opened_at: datetime
    title: str
    roles: tuple[str, ...]
    recess: str | None = None
    """The reason code of the recess under way (the agent comes back in recess)."""
    case: dict[str, Any] | None = None
    """The case (:class:`courtroom_core.wire.Case` as JSON)."""
    joined: bool = False
    """This site joined a hearing another site opened."""

    def to_json(self) -> dict[str, Any]:
        return {
            "hearing_id": self.hearing_id,
            "opened_at": self.opened_at.isoformat(),
            "title": self.title,
            "roles": list(self.roles),
            "recess": self.recess,
            "case": self.case,
            "joined": self.joined,
        }

    @classmethod
    def from_json(cls, data: object) -> OpenHearing:
        """Raises: ValueError: not a valid open-hearing record."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            opened_at = datetime.fromisoformat(str(data["opened_at"]))
            hearing_id, title, roles = data["hearing_id"], data["title"], data["roles"]
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]} is missing") from None
        if opened_at.tzinfo is None:
            raise ValueError("opened_at has no timezone")
        if not isinstance(hearing_id, str) or not hearing_id or not isinstance(title, str):
            raise ValueError("hearing_id and title must be strings")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError("roles must be a list of strings")
        # Written by an agent before hearing control: no recess, case or site.
        recess, case, joined = data.get("recess"), data.get("case"), data.get("joined", False)
        if recess is not None and not isinstance(recess, str):
            raise ValueError("recess must be a reason code")
        if case is not None and not isinstance(case, dict):
            raise ValueError("case must be an object")
        if not isinstance(joined, bool):
            raise ValueError("joined must be true or false")
        return cls(hearing_id, opened_at, title, tuple(roles), recess, case, joined)

    def save(self, path: Path) -> None:
        """Write atomically and durably.

        Raises:
            OSError: the file cannot be written (the hearing is then not resumable).
        """
        temporary = path.with_name(f".{path.name}.tmp")
        body = json.dumps(self.to_json(), ensure_ascii=False, indent=2).encode()
        with open(temporary, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_open_hearing(path: Path) -> OpenHearing | None:
    """The hearing left open at ``path``, or None.

    An unreadable or invalid file is renamed to ``<name>.bad-<n>`` (kept for
    the IT staff, never deleted), logged, and None returned.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.error("%s: cannot read the open hearing: %s", path, exc)
        return None
    try:
        return OpenHearing.from_json(json.loads(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        aside = _aside(path)
        path.rename(aside)
        logger.error("%s: not a valid open-hearing record (%s); kept as %s", path, exc, aside)
        return None


def take_over(
    path: Path, new: OpenHearing, *, now: datetime, resume_within: float
) -> tuple[OpenHearing, OpenHearing | None]:
    """The hearing to run: the one left open at ``path`` if it may be continued, else ``new``.

    Returns ``(hearing, abandoned)``: ``hearing`` is the record found (continue
    it) or ``new`` (remembered at ``path``); ``abandoned`` is a hearing left
    open that may not be continued (other seats, or older than
    ``resume_within`` seconds) — the caller closes it as interrupted.
    """
    left = load_open_hearing(path)
    if left is not None:
        age = (now - left.opened_at).total_seconds()
        if left.roles != new.roles:
            logger.error(
                "hearing %s was left open with seats %s, now %s: not continued",
                left.hearing_id, list(left.roles), list(new.roles),
            )  # fmt: skip
        elif not 0 <= age <= resume_within:
            logger.error("hearing %s was left open %.0f s ago: not continued", left.hearing_id, age)
        else:
            logger.warning(
                "continuing hearing %s, left open %.1f s ago (the agent stopped without 闭庭)",
                left.hearing_id, age,
            )  # fmt: skip
            return left, None
    try:
        new.save(path)
    except OSError as exc:
        logger.error("%s: cannot remember the open hearing (%s); a crash would "
                     "start a new one", path, exc)  # fmt: skip
    return new, left


def forget_open_hearing(path: Path) -> None:
    """The hearing closed normally: nothing to resume."""
    path.unlink(missing_ok=True)


def _aside(path: Path) -> Path:
    n = 1
    while (candidate := path.with_name(f"{path.name}.bad-{n}")).exists():
        n += 1
    return candidate
