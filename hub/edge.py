"""Connection-level defences of the hub against hostile HTTP clients.

uvicorn times nothing before a request head is complete and bounds no
connection count, so 1100 clients each sending a header byte now and then
exhaust the hub's file descriptors. This module adds, under uvicorn's own h11
protocol (``uvicorn.Config(http=guarded_protocol(guard))``):

- **a request timeout**: a connection must deliver a complete request head,
  and the body that follows it, within ``header_timeout_s`` of connecting, and
  of its previous response when kept alive; otherwise it gets ``408`` and is
  closed. Only the request is timed: once a websocket is upgraded (``/ws/agent``,
  ``/ws/live``) or a request has been read, the timer is off;
- **a per-client bound**: one client address may hold at most
  ``max_connections_per_client`` HTTP connections (a websocket stops counting
  once upgraded, as it has authenticated); beyond it the newcomer gets ``503``;
- **a connection bound**: at most ``max_connections`` open connections (HTTP
  and websocket). A newcomer beyond it first *evicts* the connection that has
  waited longest for its request head (so slow clients cannot crowd out
  ``/healthz`` or a clerk); if none is waiting, the newcomer is refused with
  ``503`` + ``Retry-After`` + ``Connection: close``, written at once, and closed.
  The bound is lowered at startup to fit the open-file limit
  (:func:`fit_to_fd_limit`) and accepts come in bursts of at most
  :data:`ACCEPT_BACKLOG`, so ``accept()`` does not meet ``EMFILE`` because of
  clients (if it does, asyncio pauses accepting for 1 s and logs once);
- **a lingering close**: when the hub answers before reading a request's
  body (``413`` from :mod:`hub.edge_asgi`) it half-closes, then reads and
  discards for up to :data:`LINGER_S` / :data:`LINGER_BYTES` before closing,
  so the client reads the answer instead of a TCP reset — at most
  :data:`LINGERS_PER_CLIENT` times per :data:`LINGER_WINDOW_S` per address,
  then it is cut at once (draining a body flood would cost the hub its CPU);
- **rate-limited error logging** (:class:`RepeatedLogFilter`): the first line of
  a kind passes, repeats are counted and one line per window says how many
  were suppressed, so no error can fill the disk.

The overflow policy in one line: *evict the slowest head, else refuse the
newest*; a client that sends its head promptly is never evicted unless
``max_connections`` newer connections arrive before it does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_remote_addr
from uvicorn.server import ServerState

from hub.ratelimit import SlidingWindows

__all__ = [
    "ACCEPT_BACKLOG",
    "FD_RESERVE",
    "ConnectionGuard",
    "EdgeLimits",
    "GuardedH11Protocol",
    "RepeatedLogFilter",
    "fit_to_fd_limit",
    "guarded_protocol",
    "install_log_limits",
]

log = logging.getLogger(__name__)

RETRY_AFTER_S: Final = 5
"""Seconds a refused client is told to wait (``Retry-After``)."""

FD_RESERVE: Final = 64
"""File descriptors kept for the archive, logs and the listening socket."""

ACCEPT_BACKLOG: Final = 64
"""Listen backlog, which is also the most connections asyncio accepts in one go
before the guard sees them; pass it as ``uvicorn.Config(backlog=…)``."""

_HEADROOM: Final = FD_RESERVE + 2 * ACCEPT_BACKLOG  # one burst arriving, one closing

LINGER_S: Final = 2.0
"""Seconds a connection closed mid-body keeps draining the client's bytes."""

LINGER_BYTES: Final = 4 * 1024 * 1024
"""Bytes drained at most during a lingering close."""

LINGERS_PER_CLIENT: Final = 4
"""Lingering closes one client address gets per :data:`LINGER_WINDOW_S`; beyond
them its oversized requests are cut at once (a client posting oversized bodies
again and again is a flood, not a mistake to explain)."""
LINGER_WINDOW_S: Final = 10.0
_LINGER_CLIENTS: Final = 10_000  # addresses remembered, least recently used dropped

_FD_CEILING: Final = 65536  # soft limit asked for when the hard limit is unlimited


def _plain_response(status: bytes, text: str, *extra: bytes) -> bytes:
    body = text.encode()
    head = [
        b"HTTP/1.1 " + status,
        b"content-type: text/plain; charset=utf-8",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        b"x-content-type-options: nosniff",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


BUSY_RESPONSE: Final = _plain_response(
    b"503 Service Unavailable",
    "too many connections, retry later 连接过多，请稍后重试\n",
    b"retry-after: " + str(RETRY_AFTER_S).encode(),
)
HEAD_TIMEOUT_RESPONSE: Final = _plain_response(
    b"408 Request Timeout", "request too slow 请求超时\n"
)


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """The connection bounds one hub enforces.

    Raises:
        ValueError: a timeout is not a positive finite number, or
            a connection bound is below 1.
    """

    header_timeout_s: float
    max_connections: int
    max_connections_per_client: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.header_timeout_s) and self.header_timeout_s > 0):
            raise ValueError(f"header_timeout_s must be positive, not {self.header_timeout_s}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")
        if self.max_connections_per_client < 1:
            raise ValueError(
                "max_connections_per_client must be at least 1, "
                f"not {self.max_connections_per_client}"
            )


class ConnectionGuard:
    """Admits connections, and knows which ones are still waiting for a request head.

    One guard per server; its protocols call it from the event loop only.
    ``refused``, ``evicted`` and ``timed_out`` count what it did (tests, bench).
    """

    def __init__(self, limits: EdgeLimits) -> None:
        self.limits = limits
        self._waiting: dict[GuardedH11Protocol, None] = {}  # insertion order = oldest first
        self._per_client: dict[str, int] = {}
        self._lingers = SlidingWindows(
            limit=LINGERS_PER_CLIENT, window=LINGER_WINDOW_S, max_keys=_LINGER_CLIENTS
        )
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    def admit(self, open_connections: int, client: str) -> bool:
        """Make room for one more connection from ``client``; False means refuse it.

        A True answer counts against ``client`` until :meth:`release`.
        """
        held = self._per_client.get(client, 0)
        if held >= self.limits.max_connections_per_client:
            self.refused += 1
            return False
        if open_connections >= self.limits.max_connections:
            oldest = next(iter(self._waiting), None)
            if oldest is None:
                self.refused += 1
                return False
            self.evicted += 1
            oldest.evict()
        self._per_client[client] = held + 1
        return True

    def may_linger(self, client: str, now: float) -> bool:
        """True if ``client`` may have one more lingering close at ``now``."""
        if self._lingers.retry_after(client, now) > 0:
            return False
        self._lingers.add(client, now)
        return True

    def release(self, client: str) -> None:
        """One connection of ``client`` closed or became a websocket."""
        held = self._per_client.pop(client, 0) - 1
        if held > 0:
            self._per_client[client] = held

    def waiting(self, protocol: GuardedH11Protocol) -> None:
        """``protocol`` now waits for a request head (moves to the newest end)."""
        self._waiting.pop(protocol, None)
        self._waiting[protocol] = None

    def done_waiting(self, protocol: GuardedH11Protocol) -> None:
        self._waiting.pop(protocol, None)

    @property
    def waiting_count(self) -> int:
        return len(self._waiting)


class _LingeringTransport(asyncio.Transport):
    """The transport uvicorn's h11 code sees: ``close()`` lingers when a body is unread.

    Everything else is passed to the real transport.
    """

    def __init__(self, real: asyncio.Transport, protocol: GuardedH11Protocol) -> None:
        super().__init__()
        self.real = real
        self._protocol = protocol
        self._closing = False

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if (
            not self._protocol.body_unread()
            or not self.real.can_write_eof()
            or not self._protocol.guard.may_linger(
                self._protocol.client_address, self._protocol.loop.time()
            )
        ):
            self.real.close()
            return
        self._protocol.lingering = True
        self.real.resume_reading()
        self.real.write_eof()  # the answer, then FIN; reading goes on
        self._protocol.loop.call_later(LINGER_S, self.real.close)

    def is_closing(self) -> bool:
        return self._closing or self.real.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.real.write(data)

    def abort(self) -> None:
        self._closing = True
        self.real.abort()

    def pause_reading(self) -> None:
        if not self._protocol.lingering:
            self.real.pause_reading()

    def resume_reading(self) -> None:
        self.real.resume_reading()

    def is_reading(self) -> bool:
        return self.real.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.real.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.real.get_protocol()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.real.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self.real.get_write_buffer_size()

    def can_write_eof(self) -> bool:
        return self.real.can_write_eof()

    def write_eof(self) -> None:
        self.real.write_eof()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timer and an admission check.

    Use :func:`guarded_protocol` to bind a :class:`ConnectionGuard` to it.
    """

    guard: ClassVar[ConnectionGuard]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._real_transport: asyncio.Transport | None = None
        self._counted_as: str | None = None
        self.client_address = ""
        self._body_pending = False
        self._upgraded = False
        self.lingering = False
        self._drained = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = get_remote_addr(transport)
        client = "" if peer is None else peer[0]
        if not self.guard.admit(len(self.connections), client):
            self._refused = True
            self.transport = transport
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        self._counted_as = client
        self.client_address = client
        self._real_transport = transport
        super().connection_made(_LingeringTransport(transport, self))
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._release()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self.lingering:
            self._drained += len(data)
            if self._drained > LINGER_BYTES and self._real_transport is not None:
                self._real_transport.close()
            return
        super().data_received(data)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        if self._real_transport is not None:
            self.transport = self._real_transport  # the websocket owns the real one
        self._release()
        self._upgraded = True
        self._stop_head_timer()
        super().handle_websocket_upgrade(event)

    def _release(self) -> None:
        if self._counted_as is not None:
            self.guard.release(self._counted_as)
            self._counted_as = None

    def body_unread(self) -> bool:
        """True while the current request's body has not been read to its end."""
        return self.conn.their_state is h11.SEND_BODY

    def handle_events(self) -> None:
        scope = self.scope
        super().handle_events()
        if self._upgraded:
            return
        if self.scope is not scope or self._body_pending:
            # A head (or websocket upgrade) arrived; its body, if any, is due by the
            # same deadline (our bodies are small: see limits.max_body_bytes).
            self._body_pending = self.conn.their_state is h11.SEND_BODY
            if not self._body_pending:
                self._stop_head_timer()

    def on_response_complete(self) -> None:
        self._body_pending = False
        # Armed before uvicorn looks at pipelined requests, which disarm it again.
        if self.transport.is_closing():
            self._stop_head_timer()
        else:
            self._await_head()
        super().on_response_complete()

    def evict(self) -> None:
        """Close this connection to make room (it is waiting for a request head)."""
        self._stop_head_timer()
        self.connections.discard(self)
        if not self.transport.is_closing():
            self.transport.write(BUSY_RESPONSE)
            self.transport.close()

    def _await_head(self) -> None:
        self._stop_head_timer()
        self.guard.waiting(self)
        self._head_timer = self.loop.call_later(
            self.guard.limits.header_timeout_s, self._head_timed_out
        )

    def _stop_head_timer(self) -> None:
        self.guard.done_waiting(self)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self.guard.done_waiting(self)
        self.guard.timed_out += 1
        if not self.transport.is_closing():
            self.transport.write(HEAD_TIMEOUT_RESPONSE)
            self.transport.close()


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass bound to ``guard``, for ``uvicorn.Config(http=…)``."""

    class BoundGuardedH11Protocol(GuardedH11Protocol):
        pass

    BoundGuardedH11Protocol.guard = guard
    return BoundGuardedH11Protocol


def fit_to_fd_limit(max_connections: int) -> int:
    """Raise the open-file soft limit to the hard one; return the connection bound that fits.

    The bound returned is ``max_connections`` or, if the limit leaves less, the
    limit minus :data:`FD_RESERVE` and two accept bursts (a warning is logged),
    and at least 1. So a full hub plus one burst of accepts never meets EMFILE.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = _FD_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d: %s", soft, exc)
    if soft == resource.RLIM_INFINITY or max_connections + _HEADROOM <= soft:
        return max_connections
    fitted = max(1, soft - _HEADROOM)
    log.warning(
        "limits.max_connections %d lowered to %d to fit the open-file limit %d",
        max_connections,
        fitted,
        soft,
    )
    return fitted


@dataclass(slots=True)
class _Burst:
    since: float
    suppressed: int = 0


class RepeatedLogFilter(logging.Filter):
    """Let the first record of a kind through, then at most one per ``window_s`` seconds.

    A kind is (logger name, unformatted message). The record let through after a
    quiet-enough window carries "(suppressed N similar messages)". At most
    ``max_kinds`` kinds are remembered; the oldest is forgotten first.
    """

    def __init__(
        self,
        *,
        window_s: float = 10.0,
        max_kinds: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.max_kinds = max_kinds
        self._clock = clock
        self._bursts: dict[tuple[str, str], _Burst] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        burst = self._bursts.get(key)
        if burst is not None and now - burst.since < self.window_s:
            burst.suppressed += 1
            return False
        if burst is not None and burst.suppressed:
            record.msg = f"{record.getMessage()} (suppressed {burst.suppressed} similar messages)"
            record.args = None
        self._bursts.pop(key, None)
        if len(self._bursts) >= self.max_kinds:
            self._bursts.pop(next(iter(self._bursts)))
        self._bursts[key] = _Burst(since=now)
        return True


_RATE_LIMITED_LOGGERS: Final = ("asyncio", "uvicorn.error", __name__)


def install_log_limits() -> None:
    """Put one :class:`RepeatedLogFilter` on the loggers a hostile client can make talk."""
    for name in _RATE_LIMITED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatedLogFilter) for f in logger.filters):
            logger.addFilter(RepeatedLogFilter())
