"""A websocket test agent that answers hub commands as a real agent does.

It speaks protocol 2, decides each ``hearing`` command with the real
transition table (:func:`courtroom_core.hearing.next_state`), sends the
lifecycle event and its ``command`` ledger event (each acknowledged) and only
then the :class:`Result` — the order a real agent keeps, so the hub's state
already follows when the answer arrives. ``answer`` picks its behaviour:
``table`` (the above), ``fail`` (every command fails like a broken recorder),
``silent`` (never answers).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any, Literal

import websockets
from websockets.exceptions import ConnectionClosed

from courtroom_core.hearing import (
    HearingAction,
    HearingState,
    InterruptionReason,
    TransitionRefused,
    next_state,
)
from courtroom_core.wire import (
    Ack,
    Command,
    Event,
    EvidenceOrder,
    Hello,
    Result,
    Welcome,
    decode,
    encode,
)
from tests.hub.conftest import COURT, COURT_TOKEN, TIMEOUT, RunningHub

Answer = Literal["table", "fail", "silent"]
FAILURE = "录音设备无响应 · recorder did not respond (hw:1,0: I/O error)"


def now() -> str:
    return datetime.now(UTC).isoformat()


class CommandAgent:
    """One connected protocol-2 agent; use as ``async with``."""

    def __init__(
        self, ws: websockets.ClientConnection, welcome: Welcome, *, answer: Answer = "table"
    ) -> None:
        self.ws = ws
        self.welcome = welcome
        self.answer = answer
        self.seq = welcome.acked_seq
        self.state = HearingState.IDLE
        self.reason: InterruptionReason | None = None
        self.hearing_id: str | None = None
        self.hearings = 0
        self.commands: list[Command] = []
        self.received = asyncio.Condition()
        self._acks: asyncio.Queue[int] = asyncio.Queue()
        self._orders: asyncio.Queue[Command] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> CommandAgent:
        self._tasks = [
            asyncio.create_task(self._read(), name="test-agent-read"),
            asyncio.create_task(self._work(), name="test-agent-work"),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()

    async def wait_commands(self, count: int) -> list[Command]:
        """Wait until ``count`` commands have arrived."""
        async with asyncio.timeout(TIMEOUT):
            async with self.received:
                await self.received.wait_for(lambda: len(self.commands) >= count)
        return self.commands[:count]

    async def send_event(self, kind: str, body: dict[str, Any]) -> int:
        """Send the next event and wait for its ack; returns its seq."""
        self.seq += 1
        await self.ws.send(encode(Event(seq=self.seq, kind=kind, body=body)))
        async with asyncio.timeout(TIMEOUT):
            while (await self._acks.get()) < self.seq:
                pass
        return self.seq

    def state_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state.value}
        if self.reason is not None:
            out["reason"] = self.reason.value
        if self.hearing_id is not None:
            out["hearing_id"] = self.hearing_id
        return out

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                message = decode(frame)
                if isinstance(message, Ack):
                    self._acks.put_nowait(message.seq)
                elif isinstance(message, Command):
                    async with self.received:
                        self.commands.append(message)
                        self.received.notify_all()
                    if self.answer != "silent":
                        self._orders.put_nowait(message)

    async def _work(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._carry_out(await self._orders.get())

    async def _carry_out(self, command: Command) -> None:
        order = command.data
        if isinstance(order, EvidenceOrder):
            await self._evidence(command, order)
            return
        action = HearingAction(order.action)
        reason = None if order.reason is None else InterruptionReason(order.reason)
        outcome, message = "done", ""
        try:
            after = next_state(self.state, action, reason)
        except TransitionRefused as exc:
            outcome, message = "refused", str(exc)
        else:
            if self.answer == "fail":
                outcome, message = "failed", FAILURE
            else:
                await self._step(action, after, reason, order.by, order.to_json())
        ledger = {
            "id": command.id,
            "action": action.value,
            "by": order.by,
            "source": "hub",
            "outcome": outcome,
            "at": now(),
            "state": self.state.value,
            "message": message,
        }
        if self.hearing_id is not None:
            ledger["hearing_id"] = self.hearing_id
        await self.send_event("command", ledger)
        result = Result(id=command.id, outcome=outcome, message=message, state=self.state_json())
        await self.ws.send(encode(result))

    async def _evidence(self, command: Command, order: EvidenceOrder) -> None:
        """举证 as an agent answers it: only in session; ``fail`` like a silent matrix."""
        if self.state is not HearingState.OPEN:
            outcome, message = "refused", "庭审未进行，不能举证 · no hearing in session"
        elif self.answer == "fail":
            outcome, message = "failed", FAILURE
        else:
            outcome, message = "done", ""
        result = Result(id=command.id, outcome=outcome, message=message, state=self.state_json())
        await self.ws.send(encode(result))

    async def _step(
        self,
        action: HearingAction,
        after: HearingState,
        reason: InterruptionReason | None,
        by: str,
        order: dict[str, Any],
    ) -> None:
        if action is HearingAction.OPEN:
            join = order.get("join")
            self.hearings += 1
            self.hearing_id = join["hearing_id"] if join else f"h-{self.hearings}"
            case = order.get("case") or {}
            body: dict[str, Any] = {
                "hearing_id": self.hearing_id,
                "title": case.get("title", ""),
                "opened_at": join["opened_at"] if join else now(),
                "ordered_by": by,
            }
            if case:
                body["case"] = case
            if join:
                body["joined"] = True
            await self.send_event("hearing.opened", body)
        elif action is HearingAction.CLOSE:
            body = {"hearing_id": self.hearing_id, "closed_at": now(), "ordered_by": by}
            await self.send_event("hearing.closed", body)
            self.hearing_id = None
        else:
            kind = "hearing.recessed" if action is HearingAction.RECESS else "hearing.resumed"
            ended = reason or self.reason
            assert ended is not None
            body = {
                "hearing_id": self.hearing_id,
                "reason": ended.value,
                "time": 12.5,
                "at": now(),
                "ordered_by": by,
            }
            await self.send_event(kind, body)
        self.state = after
        self.reason = reason if after is HearingState.RECESS else None


async def connect(
    hub: RunningHub,
    *,
    courtroom: str = COURT,
    token: str = COURT_TOKEN,
    version: int | None = 2,
    answer: Answer = "table",
) -> CommandAgent:
    """Connect a command-answering agent (not yet started: ``async with`` it)."""
    ws = await websockets.connect(hub.ws("/ws/agent"), open_timeout=TIMEOUT)
    await ws.send(encode(Hello(courtroom=courtroom, token=token, version=version)))
    welcome = decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert isinstance(welcome, Welcome), welcome
    return CommandAgent(ws, welcome, answer=answer)
