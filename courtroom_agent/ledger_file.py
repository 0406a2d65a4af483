"""The hearing's local ledger: every event the agent published for it, one JSON line each.

The hub archives a hearing's events, but the courtroom must be able to say
whether a hearing complied (``courtroom hearing report``) with the hub or
the WAN down. So the agent also appends each published event of a hearing to
``<directory>/<hearing_id>.jsonl``::

    {"kind": "source.state", "body": {...}}

(the directory is ``<data dir>/agent/<courtroom id>/ledger/``, beside the
spool and the control socket: :func:`ledger_directory`).

Durability: each line is written and flushed to the OS at once (a crash of
the agent loses nothing the kernel holds); the file is fsynced when the
hearing's ``hearing.closed`` is appended and on :meth:`LedgerFile.close`, so
a closed hearing's ledger survives a power cut.

Bound and overflow policy: one hearing's file grows to at most ``max_bytes``
(default 50 MB — a long day's ledger is a few MB). Beyond it, an event is
dropped and counted (:meth:`LedgerFile.dropped`; the first drop of a hearing
is logged) — except the events the report cannot do without
(:data:`ESSENTIAL_KINDS`: the hearing's states and its incidents), which may
use a further :data:`RESERVE_BYTES`. Nothing is ever rewritten or truncated.

Reading validates every line with :func:`courtroom_core.wire_bodies.parse_body`;
a line that is not JSON, too long, of an unknown kind or with an invalid body
is skipped and counted as corrupt (a torn last line after a crash is one).

Errors::

    CourtroomError
    └── LedgerError   a hearing id unfit for a file name, or the file cannot be written
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from courtroom_core.errors import CourtroomError
from courtroom_core.wire_bodies import EVENT_KINDS, WireError, parse_body

if TYPE_CHECKING:
    from courtroom_agent.config import AgentConfig

__all__ = [
    "ESSENTIAL_KINDS",
    "LEDGER_DIR",
    "MAX_BYTES",
    "MAX_LINE",
    "RESERVE_BYTES",
    "LedgerError",
    "LedgerFile",
    "ledger_directory",
]

logger = logging.getLogger(__name__)

LEDGER_DIR: Final = "ledger"
MAX_BYTES: Final = 50 * 1024 * 1024
"""Default bound of one hearing's ledger file."""
RESERVE_BYTES: Final = 1024 * 1024
"""Room kept beyond ``max_bytes`` for :data:`ESSENTIAL_KINDS`."""
MAX_LINE: Final = 1024 * 1024
"""Longest line read back; a longer one is corrupt (no event body comes near)."""
MAX_OPEN: Final = 4
"""Most hearings' files held open at once (the least recently used is closed)."""
ESSENTIAL_KINDS: Final = frozenset(
    {"hearing.opened", "hearing.recessed", "hearing.resumed", "hearing.closed", "incident"}
)
"""Kinds still appended, into the reserve, once a ledger is full."""


class LedgerError(CourtroomError):
    """A hearing id that cannot name a file, or the ledger file cannot be written.

    The agent logs it and goes on: the hub's archive still holds the events.
    """


def ledger_directory(config: AgentConfig, *, data_dir: Path) -> Path:
    """``<data dir>/agent/<courtroom id>/ledger/``: beside the spool and the control socket."""
    from courtroom_agent.config import spool_path

    return spool_path(config, data_dir=data_dir).parent / LEDGER_DIR


def _file_name(hearing_id: str) -> str:
    """Raises: LedgerError: not 1-128 letters, digits, '-', '_', '.' (no path tricks)."""
    if (
        not isinstance(hearing_id, str)
        or not 0 < len(hearing_id) <= 128
        or hearing_id.startswith(".")
        or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in hearing_id)
    ):
        raise LedgerError(
            f"hearing id {str(hearing_id)[:40]!r} must be 1-128 letters, digits, '-', '_' or '.'"
        )
    return f"{hearing_id}.jsonl"


class LedgerFile:
    """Appends and reads hearings' ledgers in one directory (created on first append).

    Args:
        directory: where ``<hearing_id>.jsonl`` files live.
        max_bytes: bound of one hearing's file (see the overflow policy above).
    """

    def __init__(self, directory: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._open: dict[str, IO[bytes]] = {}
        self._sizes: dict[str, int] = {}
        self._dropped: dict[str, int] = {}

    def path(self, hearing_id: str) -> Path:
        """The hearing's file. Raises: LedgerError: an unfit hearing id."""
        return self.directory / _file_name(hearing_id)

    def append(self, hearing_id: str, kind: str, body: Mapping[str, Any]) -> bool:
        """Append one event; False when the ledger is full and it was dropped.

        ``hearing.closed`` fsyncs and closes the file.

        Raises:
            LedgerError: an unfit hearing id, a body that is not JSON, or the
                file cannot be written (disk full, permissions).
        """
        path = self.path(hearing_id)
        try:
            line = json.dumps({"kind": kind, "body": body}, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"{kind} body for hearing {hearing_id} is not JSON: {exc}") from exc
        data = (line + "\n").encode()
        try:
            handle = self._handle(hearing_id, path)
            size = self._sizes[hearing_id]
            limit = self.max_bytes + (RESERVE_BYTES if kind in ESSENTIAL_KINDS else 0)
            if size + len(data) > limit:
                dropped = self._dropped.get(hearing_id, 0)
                if not dropped:
                    logger.error("ledger %s full (%d bytes): dropping events", path, size)
                self._dropped[hearing_id] = dropped + 1
                return False
            handle.write(data)
            handle.flush()
            self._sizes[hearing_id] = size + len(data)
            if kind == "hearing.closed":
                self.close(hearing_id)
        except OSError as exc:
            self._forget(hearing_id)
            raise LedgerError(f"cannot write ledger {path}: {exc}") from exc
        return True

    def _handle(self, hearing_id: str, path: Path) -> IO[bytes]:
        handle = self._open.pop(hearing_id, None)
        if handle is None:
            while len(self._open) >= MAX_OPEN:
                self.close(next(iter(self._open)))
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("ab")
            self._sizes[hearing_id] = handle.tell()
        self._open[hearing_id] = handle  # most recently used last
        return handle

    def _forget(self, hearing_id: str) -> None:
        handle = self._open.pop(hearing_id, None)
        if handle is not None:
            try:
                handle.close()
            except OSError:
                logger.exception("ledger of %s: close failed", hearing_id)

    def close(self, hearing_id: str | None = None) -> None:
        """fsync and close one hearing's file (None: every open one).

        Raises:
            LedgerError: the fsync failed (the data may not be on disk).
        """
        for name in [hearing_id] if hearing_id is not None else list(self._open):
            handle = self._open.pop(name, None)
            if handle is None:
                continue
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise LedgerError(f"cannot sync ledger of {name}: {exc}") from exc
            finally:
                handle.close()

    def dropped(self, hearing_id: str) -> int:
        """Events dropped from the hearing's full ledger since this object was made."""
        return self._dropped.get(hearing_id, 0)

    def scan(self, hearing_id: str) -> tuple[list[tuple[str, dict[str, Any]]], int]:
        """(the hearing's valid events in file order, how many lines were corrupt).

        At most ``max_bytes`` + :data:`RESERVE_BYTES` are read. A missing
        file is an empty ledger.

        Raises:
            LedgerError: an unfit hearing id, or the file cannot be read.
        """
        path = self.path(hearing_id)
        events: list[tuple[str, dict[str, Any]]] = []
        corrupt = 0
        budget = self.max_bytes + RESERVE_BYTES
        try:
            with path.open("rb") as handle:
                while budget > 0:
                    raw = handle.readline(min(MAX_LINE, budget) + 1)
                    if not raw:
                        break
                    budget -= len(raw)
                    if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
                        corrupt += 1
                        if len(raw) > MAX_LINE:  # skip the rest of the long line
                            while raw and not raw.endswith(b"\n"):
                                raw = handle.readline(MAX_LINE)
                                budget -= len(raw)
                        continue
                    event = _event(raw)
                    if event is None:
                        corrupt += 1
                    else:
                        events.append(event)
        except FileNotFoundError:
            return [], 0
        except OSError as exc:
            raise LedgerError(f"cannot read ledger {path}: {exc}") from exc
        return events, corrupt

    def read(self, hearing_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The hearing's valid events in file order (corrupt lines skipped: see :meth:`scan`)."""
        return self.scan(hearing_id)[0]

    def hearings(self) -> list[str]:
        """The hearing ids with a ledger here, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.jsonl"))


def _event(raw: bytes) -> tuple[str, dict[str, Any]] | None:
    """One line's (kind, body), or None when it is not a valid event."""
    try:
        line = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(line, dict) or set(line) != {"kind", "body"}:
        return None
    kind, body = line["kind"], line["body"]
    if not isinstance(kind, str) or kind not in EVENT_KINDS or not isinstance(body, dict):
        return None
    try:
        parse_body(kind, body, "body")
    except WireError:
        return None
    return kind, body
