"""The agent's local control socket: how the courtroom PC drives the hearing.

``courtroom hearing open|recess|resume|close|status`` talks to the running
agent through a Unix socket next to its spool
(``<data dir>/agent/<courtroom>/control.sock``). Nothing new listens on the
network: the socket's directory is the agent user's (mode 0700) and the
socket itself is mode 0600, so only that user (and root) may connect. The
operator is named by the kernel (``SO_PEERCRED``), never by the client:
``local:<user name>`` is who ordered it in the ledger.

One request per connection, one JSON object per line each way::

    → {"action": "open", "case": {"number": "(2026)京0105民初1号", "title": "…",
       "parties": [{"role": "原告", "name": "…", "channel": 2}]}}
    → {"action": "recess", "reason": "mediation"}
    → {"action": "resume"} | {"action": "close"} | {"action": "status"}
    → {"action": "present", "exhibit": "证据1", "file": "contract.pdf", "page": 2, "zoom": 1.5}
    → {"action": "present", "exhibit": "物证2", "input": "doc-camera"}
    → {"action": "withdraw", "exhibit": "证据1"}
    ← {"outcome": "done" | "refused" | "failed" | "invalid", "message": "…",
       "state": {"state": "idle" | "open" | "recess", "reason"?, "hearing_id"?, …}}

A request is at most :data:`MAX_REQUEST` bytes and must arrive within
:data:`REQUEST_TIMEOUT` seconds; anything else is answered ``invalid`` naming
the field, and the connection closed. At most :data:`MAX_CLIENTS`
connections are served at once; further ones are closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from courtroom_core import wire
from courtroom_core.errors import CourtroomError

__all__ = [
    "MAX_REQUEST",
    "SOCKET_NAME",
    "ControlError",
    "ControlServer",
    "request",
    "unix_path",
]

logger = logging.getLogger(__name__)

SOCKET_NAME: Final = "control.sock"
MAX_REQUEST: Final = 64 * 1024
"""Largest request line (bytes)."""
REQUEST_TIMEOUT: Final = 10.0
"""Seconds a client has to send its request."""
MAX_CLIENTS: Final = 8
"""Most connections served at once."""
_UNIX_PATH_MAX: Final = 100  # sun_path is 108 bytes with the NUL; keep a margin

Order = Callable[[wire.HearingOrder], Awaitable[wire.Result]]
"""Carries out an order from the courtroom PC (``CourtroomAgent.order``, source local)."""
Evidence = Callable[[wire.EvidenceOrder], Awaitable[dict[str, Any]]]
"""Presents or withdraws an exhibit (``FiveSync.command``, source local)."""
_EVIDENCE_FIELDS: Final = frozenset({"exhibit", "label", "file", "input", "page", "zoom"})
State = Callable[[], dict[str, Any]]


class ControlError(CourtroomError):
    """The control socket cannot be served or reached."""


@contextlib.contextmanager
def unix_path(path: Path) -> Iterator[str]:
    """A name for ``path`` short enough for ``AF_UNIX`` (108 bytes).

    A long path (a deep data directory) is reached through the directory's
    descriptor: ``/proc/self/fd/N/control.sock`` names the same file.
    """
    text = os.fsencode(path)
    if len(text) <= _UNIX_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _operator(writer: asyncio.StreamWriter) -> str:
    """``local:<user>`` of the connected process, from the kernel."""
    sock = writer.get_extra_info("socket")
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        name = pwd.getpwuid(uid).pw_name
    except (OSError, KeyError):
        return "local"
    return f"local:{name}"[: wire.MAX_NAME]


class ControlServer:
    """Serves the control socket while entered.

    Args:
        path: the socket's path (its directory is created mode 0700).
        order: carries out an order (``CourtroomAgent.order`` with source local).
        state: the hearing state now (``CourtroomAgent.hearing_state``).
        evidence: carries out ``present`` / ``withdraw`` (``FiveSync.command``).

    Raises (on entry):
        ControlError: another agent is already serving ``path``, or it
            cannot be created.
    """

    def __init__(
        self, path: Path, *, order: Order, state: State, evidence: Evidence | None = None
    ) -> None:
        self.path = path
        self._order = order
        self._evidence = evidence
        self._state = state
        self._server: asyncio.Server | None = None
        self._clients = 0

    async def __aenter__(self) -> Self:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path.parent, 0o700)
            await self._clear_stale()
            with unix_path(self.path) as name:
                self._server = await asyncio.start_unix_server(
                    self._serve, path=name, limit=MAX_REQUEST + 1
                )
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise ControlError(f"{self.path}: cannot serve the control socket: {exc}") from exc
        logger.info("control socket %s", self.path)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _clear_stale(self) -> None:
        """Remove a socket left by an agent that died; refuse one still served."""
        if not self.path.exists():
            return
        try:
            with unix_path(self.path) as name:
                _, writer = await asyncio.wait_for(asyncio.open_unix_connection(name), 2.0)
        except (OSError, TimeoutError):
            self.path.unlink()
            return
        writer.close()
        raise ControlError(f"{self.path}: another agent is running and serves it")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._clients >= MAX_CLIENTS:
            writer.close()
            return
        self._clients += 1
        try:
            answer = await self._answer(reader, _operator(writer))
            writer.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except Exception:  # task boundary: one bad client never stops the agent
            logger.exception("control socket request failed")
        finally:
            self._clients -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, operator: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                line = await reader.readuntil(b"\n")
        except TimeoutError:
            return self._invalid(f"no request within {REQUEST_TIMEOUT:g} s")
        except asyncio.LimitOverrunError:
            return self._invalid(f"request exceeds {MAX_REQUEST} bytes")
        except asyncio.IncompleteReadError:
            return self._invalid("request must end with a newline")
        try:
            request = json.loads(line, parse_constant=_refuse_constant)
            if not isinstance(request, dict):
                raise wire.WireError("request must be a JSON object")
            evidence = request.get("action") in wire.EVIDENCE_ACTIONS
            allowed = {"action"} | (_EVIDENCE_FIELDS if evidence else {"reason", "case"})
            extra = set(request) - allowed
            if extra:
                raise wire.WireError(f"request: unexpected fields {sorted(extra)[:8]}")
            if request.get("action") == "status":
                return {"outcome": "done", "message": "", "state": self._state()}
            if evidence:
                exhibit = wire.EvidenceOrder.from_json(request | {"by": operator}, "request")
            else:
                order = wire.HearingOrder.from_json(request | {"by": operator}, "request")
        except (ValueError, RecursionError) as exc:
            return self._invalid(str(exc))
        if evidence:
            if self._evidence is None:
                return self._invalid("this agent has no evidence display 未配置证据展示")
            answer = await self._evidence(exhibit)
            return answer | {"state": self._state()}
        result = await self._order(order)
        return {"outcome": result.outcome, "message": result.message, "state": result.state}

    def _invalid(self, message: str) -> dict[str, Any]:
        return {"outcome": "invalid", "message": message, "state": self._state()}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


async def request(path: Path, body: dict[str, Any], *, wait: float = 30.0) -> dict[str, Any]:
    """Send one request to the agent at ``path``; its answer.

    Raises:
        ControlError: no agent serves ``path`` (not running, or another
            user's), or it answered nothing readable within ``timeout``.
    """
    try:
        with unix_path(path) as name:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(name), wait)
    except FileNotFoundError:
        raise ControlError(f"{path}: no agent is running (no control socket)") from None
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"{path}: cannot reach the agent: {exc}") from exc
    try:
        writer.write(json.dumps(body, ensure_ascii=False).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), wait)
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"{path}: the agent did not answer: {exc}") from exc
    finally:
        writer.close()
    try:
        answer = json.loads(line)
    except ValueError as exc:
        raise ControlError(f"{path}: unreadable answer from the agent") from exc
    if not isinstance(answer, dict):
        raise ControlError(f"{path}: unreadable answer from the agent")
    return answer
