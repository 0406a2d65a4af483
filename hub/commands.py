"""Hub → agent commands over a courtroom's agent connection (protocol 2).

An :class:`AgentLink` is one connected agent as the rest of the hub sees it:
its courtroom, the protocol it speaks, and a way to send it a
:class:`courtroom_core.wire.Command` and await the
:class:`courtroom_core.wire.Result` of the same id. :class:`hub.live.StatusBoard`
holds the current link of each courtroom.

Never queued, bounded, and what each refusal means (``status`` is the HTTP
answer of ``POST /api/courtrooms/{id}/hearing``)::

    CommandError                   the command was not carried out by the hub's doing
    ├── AgentOffline        503    no agent connected: refused at once
    ├── AgentTooOld         503    the agent speaks protocol 1 (no commands)
    ├── CommandsBusy        429    MAX_PENDING commands already await results
    ├── AgentGone           503    the connection dropped before the result came
    └── CommandTimeout      504    no result within the timeout; the agent may
                                   still carry it out (its events will tell)

A result whose id is not pending (unknown, or answered after its timeout) is
logged and ignored. Sends are serialised by one lock per link, shared with
the connection's acks, so frames never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from courtroom_core.wire import COMMAND_NAMES, Command, CommandBody, Result, encode
from hub.errors import HubError

__all__ = [
    "MAX_PENDING",
    "AgentGone",
    "AgentLink",
    "AgentOffline",
    "AgentTooOld",
    "CommandError",
    "CommandTimeout",
    "CommandsBusy",
]

log = logging.getLogger(__name__)

MAX_PENDING: Final = 4
"""Commands of one courtroom awaiting their results at most (then 429)."""
COMMANDS_PROTOCOL: Final = 2
"""The oldest protocol that carries commands."""


class CommandError(HubError):
    """A command the hub could not get answered. ``status``: the HTTP answer."""

    status: int = 503

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AgentOffline(CommandError):
    status = 503


class AgentTooOld(CommandError):
    status = 503


class CommandsBusy(CommandError):
    status = 429


class AgentGone(CommandError):
    status = 503


class CommandTimeout(CommandError):
    status = 504


Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


class AgentLink:
    """One agent connection: protocol, serialised sends, pending commands.

    Args:
        courtroom: the courtroom id the agent said hello for.
        protocol: the protocol both speak (``min(agent, hub)``).
        send: sends one text frame (the websocket's).
        close: closes the connection with a code and reason.
        max_pending: commands awaiting results at most.
    """

    def __init__(
        self,
        *,
        courtroom: str,
        protocol: int,
        send: Send,
        close: Close,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.courtroom = courtroom
        self.protocol = protocol
        self._send = send
        self._close = close
        self._max = max_pending
        self._lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[Result]] = {}
        self._gone = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def send_text(self, frame: str) -> None:
        """Send one frame, never interleaved with another."""
        async with self._lock:
            await self._send(frame)

    async def close(self, code: int, reason: str) -> None:
        """Close the connection; pending commands fail with :class:`AgentGone`."""
        self.drop()
        await self._close(code, reason)

    async def command(self, order: CommandBody, *, within: float) -> Result:
        """Send ``order`` (a ``hearing`` or ``evidence`` command) and wait for its result.

        Raises:
            AgentTooOld: the agent speaks a protocol without commands.
            CommandsBusy: :data:`MAX_PENDING` commands already pending.
            AgentGone: the connection dropped (before or while waiting).
            CommandTimeout: no result within ``within`` seconds.
        """
        if self.protocol < COMMANDS_PROTOCOL:
            raise AgentTooOld(
                f"法庭终端版本过旧，不支持远程指令 · the courtroom agent is too old "
                f"(protocol {self.protocol}) for commands; upgrade it"
            )
        if self._gone:
            raise AgentGone("法庭终端已断开 · the courtroom agent disconnected")
        if len(self._pending) >= self._max:
            raise CommandsBusy(
                f"已有 {self._max} 条指令等待应答，请稍后再试 · "
                f"{self._max} commands already await the agent's answer; retry shortly",
                retry_after=1,
            )
        command = Command(
            id=uuid.uuid4().hex, name=COMMAND_NAMES[type(order)], body=order.to_json()
        )
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[command.id] = future
        try:
            try:
                await self.send_text(encode(command))
            except Exception as exc:  # the socket is gone; starlette/uvicorn raise various
                raise AgentGone("法庭终端已断开 · the courtroom agent disconnected") from exc
            try:
                async with asyncio.timeout(within):
                    return await future
            except TimeoutError:
                raise CommandTimeout(
                    f"法庭终端 {within:g} 秒内未应答，指令可能仍会执行，请查看庭审状态 · "
                    f"the agent did not answer within {within:g} s; it may still carry "
                    f"the order out: check the hearing state"
                ) from None
        finally:
            self._pending.pop(command.id, None)

    def resolve(self, result: Result) -> bool:
        """Hand ``result`` to the command awaiting it; False (logged) when none is."""
        future = self._pending.get(result.id)
        if future is None or future.done():
            log.warning(
                "courtroom %s: result %r answers no pending command (late or unknown), ignored",
                self.courtroom,
                result.id[:64],
            )
            return False
        future.set_result(result)
        return True

    def drop(self) -> None:
        """The connection is gone: every pending command fails with :class:`AgentGone`."""
        self._gone = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    AgentGone("法庭终端在应答前断开 · the agent disconnected before answering")
                )
