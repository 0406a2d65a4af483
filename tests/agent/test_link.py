"""HubLink against a real websockets server on loopback that speaks courtroom_core.wire.

``LoopbackHub`` behaves like the hub: checks the token (close 4401), answers
Welcome(highest gap-free seq), stores each (courtroom, seq) once and acks the
highest gap-free seq. Its store lives in ``HubStore``, outside the server, so
a "crashed" hub restarts on the same port with what it had persisted. Knobs
make it misbehave: store only up to a seq, withhold acks, send garbage, forge
a welcome or an ack claiming events the agent never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from courtroom_agent.link import HubLink
from courtroom_agent.spool import EventSpool, SpoolError
from courtroom_core import wire
from courtroom_core.backoff import BackoffPolicy

ROOM = "room-1"
TOKEN = "s3cret"
DEADLINE = 5.0
FAST = BackoffPolicy(initial=0.01, maximum=0.05, factor=2.0, jitter=0.5)


@dataclass
class HubStore:
    """What the hub has persisted, plus what the test wants to observe."""

    events: dict[str, dict[int, wire.Event]] = field(default_factory=dict)
    stored_order: list[int] = field(default_factory=list)
    frames: list[wire.Message] = field(default_factory=list)
    agent_close_codes: list[int | None] = field(default_factory=list)
    connections: int = 0

    def acked(self, courtroom: str) -> int:
        held = self.events.get(courtroom, {})
        seq = 0
        while seq + 1 in held:
            seq += 1
        return seq


class LoopbackHub:
    def __init__(self, store: HubStore, *, token: str = TOKEN) -> None:
        self.store = store
        self.token = token
        self.store_limit: int | None = None  # drop events above this seq
        self.acks = True
        self.garbage: list[str | bytes] = []  # sent after Welcome, one per connection
        self.forged_welcomes: list[int] = []  # acked_seq claimed instead, one per connection
        self.forged_ack: tuple[int, int] | None = None  # (after event seq, claimed seq), once
        self.crash_at: int | None = None  # drop the connection right after storing this seq
        self.close_on: tuple[int, int, str] | None = None  # (seq, close code, reason) on receipt
        self.crashed = asyncio.Event()
        self.port = 0
        self._server: Server | None = None

    async def start(self) -> int:
        self._server = await serve(
            self._handler, "127.0.0.1", self.port, max_size=wire.MAX_FRAME_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def kill(self) -> None:
        """Drop every connection without a close frame and stop listening."""
        assert self._server is not None
        for conn in list(self._server.connections):
            conn.transport.abort()
        self._server.close(close_connections=False)
        await self._server.wait_closed()
        self._server = None

    async def ack_all(self) -> None:
        assert self._server is not None
        for conn in list(self._server.connections):
            await conn.send(wire.encode(wire.Ack(seq=self.store.acked(ROOM))))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/agent"

    async def _handler(self, ws: ServerConnection) -> None:
        self.store.connections += 1
        try:
            hello = wire.decode(await ws.recv())
            if not isinstance(hello, wire.Hello) or hello.token != self.token:
                await ws.close(wire.CLOSE_UNAUTHORIZED, "bad token")
                return
            room = hello.courtroom
            acked = self.forged_welcomes.pop(0) if self.forged_welcomes else self.store.acked(room)
            await ws.send(wire.encode(wire.Welcome(acked_seq=acked)))
            if self.garbage:
                await ws.send(self.garbage.pop(0))
            async for frame in ws:
                message = wire.decode(frame)
                self.store.frames.append(message)
                if not isinstance(message, wire.Event):
                    continue
                if self.close_on is not None and message.seq == self.close_on[0]:
                    await ws.close(self.close_on[1], self.close_on[2])
                    return
                held = self.store.events.setdefault(room, {})
                limit = self.store_limit
                if message.seq not in held and (limit is None or message.seq <= limit):
                    held[message.seq] = message
                    self.store.stored_order.append(message.seq)
                if self.forged_ack is not None and message.seq == self.forged_ack[0]:
                    await ws.send(wire.encode(wire.Ack(seq=self.forged_ack[1])))
                    self.forged_ack = None
                    continue
                if message.seq == self.crash_at:
                    self.crashed.set()
                    ws.transport.abort()  # stored, not acked: the worst moment
                    return
                if self.acks:
                    await ws.send(wire.encode(wire.Ack(seq=self.store.acked(room))))
        except ConnectionClosed:
            pass
        finally:
            self.store.agent_close_codes.append(ws.close_code)


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait up to DEADLINE for ``predicate``, which reads state of the link or hub."""
    async with asyncio.timeout(DEADLINE):
        # Polling: the predicates span two independent parts with no shared event.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
def store() -> HubStore:
    return HubStore()


@pytest.fixture
async def hub(store: HubStore) -> AsyncIterator[LoopbackHub]:
    server = LoopbackHub(store)
    await server.start()
    yield server
    if server._server is not None:
        await server.kill()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[EventSpool]:
    with EventSpool.open(tmp_path / "spool.db", courtroom=ROOM) as opened:
        yield opened


@contextlib.asynccontextmanager
async def running(link: HubLink) -> AsyncIterator[HubLink]:
    async with link:
        task = asyncio.create_task(link.run(), name="hub-link")
        try:
            yield link
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def make_link(
    hub: LoopbackHub,
    spool: EventSpool,
    *,
    token: str = TOKEN,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    window: int = 256,
) -> HubLink:
    return HubLink(
        url=hub.url,
        token=token,
        spool=spool,
        backoff=FAST,
        sleep=sleep,
        clock=lambda: 1234.5,
        window=window,
        page=16,
        open_timeout=2.0,
        welcome_timeout=2.0,
    )


def final(n: int, channel: int = 0) -> dict[str, object]:
    segment = {"start": float(n), "end": n + 1.0, "channel": channel, "role": "judge"}
    return {"hearing_id": "h1", "segment": segment | {"text": f"第{n}句"}}


def partial(text: str, channel: int = 0) -> wire.Partial:
    return wire.Partial(hearing_id="h1", channel=channel, role="judge", start=1.0, text=text)


def stored(store: HubStore) -> list[wire.Event]:
    held = store.events.get(ROOM, {})
    return [held[seq] for seq in sorted(held)]


async def test_link_delivers_events_in_order_and_drains_spool(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    async with running(make_link(hub, spool)) as link:
        published = [link.publish("transcript.final", final(n)) for n in range(300)]
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
        state = link.state
    assert stored(store) == published
    assert store.stored_order == list(range(1, 301))
    assert spool.pending_count == 0
    assert (state.connected, state.acked_seq, state.pending) == (True, 300, 0)
    assert state.last_connected_at == 1234.5
    assert state.last_error is None
    assert store.connections == 1


async def test_link_hub_killed_mid_stream_stores_every_event_exactly_once(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    hub.crash_at = 40
    async with running(make_link(hub, spool)) as link:
        published = [link.publish("transcript.final", final(n)) for n in range(200)]
        await hub.crashed.wait()
        await hub.kill()
        await eventually(lambda: not link.connected)
        assert link.acked_seq < 40
        published += [link.publish("transcript.final", final(n)) for n in range(200, 260)]
        assert link.pending > 220
        await asyncio.sleep(0.1)  # several reconnects refused
        assert link.state.failures >= 1
        assert "cannot reach hub" in (link.last_error or "")
        hub.crash_at = None
        await hub.start()  # same port, same store
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
    assert stored(store) == published
    assert store.stored_order == list(range(1, 261))
    assert spool.pending_count == 0
    assert store.connections >= 2


async def test_link_hub_storing_only_some_events_gets_rest_resent(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    hub.store_limit = 25
    async with running(make_link(hub, spool)) as link:
        published = [link.publish("transcript.final", final(n)) for n in range(40)]
        await eventually(lambda: sum(isinstance(f, wire.Event) for f in store.frames) >= 40)
        await eventually(lambda: link.acked_seq == 25)
        assert spool.pending_count == 15
        assert [e.seq for e in spool.pending(after_seq=0, limit=100)] == list(range(26, 41))
        hub.store_limit = None
        await hub.kill()
        await hub.start()
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
    assert stored(store) == published
    assert store.stored_order == list(range(1, 41))


async def test_link_window_bounds_unacked_events(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    hub.acks = False
    async with running(make_link(hub, spool, window=16)) as link:
        for n in range(100):
            link.publish("transcript.final", final(n))
        await eventually(lambda: len(store.frames) >= 16)
        await asyncio.sleep(0.05)
        assert len(store.frames) == 16
        await hub.ack_all()
        await eventually(lambda: len(store.frames) >= 32)
        await asyncio.sleep(0.05)
        assert len(store.frames) == 32
        assert link.acked_seq == 16
        hub.acks = True
        await hub.ack_all()
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
    assert store.stored_order == list(range(1, 101))


async def test_link_wrong_token_is_reported_and_recovers_when_hub_fixed(
    hub: LoopbackHub, store: HubStore, spool: EventSpool, caplog: pytest.LogCaptureFixture
) -> None:
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0.005)

    caplog.set_level(logging.DEBUG, logger="courtroom_agent.link")
    async with running(make_link(hub, spool, token="wrong", sleep=sleep)) as link:
        link.publish("status", {"state": "ok"})
        await eventually(lambda: len(delays) >= 3)
        state = link.state
        assert not state.connected
        assert state.rejected
        assert "4401" in (state.last_error or "")
        assert all(delay == FAST.maximum for delay in delays)
        assert state.pending == 1
        hub.token = "wrong"  # operator fixes the hub's configuration
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
        assert link.connected
        assert not link.state.rejected
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "wrong" not in caplog.text  # the token is never logged


@pytest.mark.parametrize(
    "garbage",
    ["{not json", b"\x00binary", wire.encode(wire.Welcome(acked_seq=0)), '{"type":"ack","seq":99}'],
    ids=["not-json", "binary", "second-welcome", "ack-beyond-last"],
)
async def test_link_garbage_frame_from_hub_closes_1007_and_reconnects(
    hub: LoopbackHub, store: HubStore, spool: EventSpool, garbage: str | bytes
) -> None:
    hub.garbage = [garbage]
    async with running(make_link(hub, spool)) as link:
        published = [link.publish("transcript.final", final(n)) for n in range(5)]
        async with asyncio.timeout(DEADLINE):
            await link.wait_delivered()
        assert "invalid frame" in (link.last_error or "")
    assert store.agent_close_codes[0] == wire.CLOSE_INVALID
    assert store.connections == 2
    # An ack beyond what was sent also raises the hub_untrusted alarm (test_link_trust.py).
    assert [e for e in stored(store) if e.kind != "av.alarm"] == published


async def test_link_partial_dropped_while_disconnected_and_sent_when_connected(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    await hub.kill()
    async with running(make_link(hub, spool)) as link:
        assert link.send_partial(partial("lost")) is False
        await hub.start()
        await eventually(lambda: link.connected)
        assert link.send_partial(partial("live")) is True
        await eventually(lambda: len(store.frames) >= 1)
    assert store.frames == [partial("live")]


async def test_link_partials_coalesce_per_channel_and_never_overtake_finals(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    async with running(make_link(hub, spool)) as link:
        await eventually(lambda: link.connected)
        # No await in between: the sender sees only the latest per channel.
        link.send_partial(partial("现在", 0))
        link.send_partial(partial("原告", 1))
        link.send_partial(partial("现在开庭", 0))
        await eventually(lambda: len(store.frames) >= 2)
        # A preview queued before a final goes out before it.
        link.send_partial(partial("请坐", 0))
        first = link.publish("transcript.final", final(1))
        link.send_partial(partial("被告", 1))
        await eventually(lambda: len(store.frames) >= 5)
        # A preview replaced after a final is dropped: the final supersedes it.
        link.send_partial(partial("下", 0))
        second = link.publish("transcript.final", final(2))
        link.send_partial(partial("下一句", 0))
        await eventually(lambda: len(store.frames) >= 7)
        await asyncio.sleep(0.02)
    assert store.frames == [
        partial("现在开庭", 0),
        partial("原告", 1),
        partial("请坐", 0),
        first,
        partial("被告", 1),
        second,
        partial("下一句", 0),
    ]


async def test_link_logs_first_failure_and_recovery_only(
    hub: LoopbackHub, store: HubStore, spool: EventSpool, caplog: pytest.LogCaptureFixture
) -> None:
    await hub.kill()
    caplog.set_level(logging.INFO, logger="courtroom_agent.link")
    async with running(make_link(hub, spool)) as link:
        await eventually(lambda: link.state.failures >= 4)
        await hub.start()
        await eventually(lambda: link.connected)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    restored = [r for r in caplog.records if "restored" in r.getMessage()]
    assert len(warnings) == 1
    assert "down" in warnings[0].getMessage()
    assert len(restored) == 1


def test_link_rejects_bad_url_and_empty_token(spool: EventSpool) -> None:
    with pytest.raises(ValueError, match="url"):
        HubLink(url="http://hub/ws/agent", token=TOKEN, spool=spool)
    with pytest.raises(ValueError, match="token"):
        HubLink(url="ws://hub/ws/agent", token="", spool=spool)


async def test_link_spool_failure_is_fatal_and_propagates(
    hub: LoopbackHub, store: HubStore, spool: EventSpool
) -> None:
    hub.acks = False
    async with make_link(hub, spool) as link:
        task = asyncio.create_task(link.run(), name="hub-link")
        link.publish("status", {"state": "ok"})
        await eventually(lambda: len(store.frames) == 1)
        spool.close()  # e.g. the disk went away under the agent
        await hub.ack_all()
        with pytest.raises(SpoolError):
            async with asyncio.timeout(DEADLINE):
                await task
    assert not link.connected
    assert "SpoolError" in (link.last_error or "")
