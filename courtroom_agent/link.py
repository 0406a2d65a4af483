"""The agent's websocket link to the hub: spooled events out, acks in, forever.

:class:`HubLink` owns no data: every event lives in the
:class:`~courtroom_agent.spool.EventSpool` until the hub acknowledges it, so
the link may drop, crash or be cancelled at any moment without losing one.
Per connection (wire format and guarantee: :mod:`courtroom_core.wire`)::

    connect wss://hub/ws/agent ─▶ [pin check] ─▶ Hello(version 2) ─▶ ◀─ Welcome(acked_seq)
    spool.ack(acked_seq)
    ┌ sender:   spool.pending(after=next, page) ─▶ Event …   (≤ window un-acked)
    └ receiver: ◀─ Ack(seq) ─▶ spool.ack(seq), wake sender
                ◀─ Command(id) ─▶ on_command() in its own task ─▶ Result(id)

A hub command (protocol 2) is carried out beside the receive loop, so acks
keep flowing while the recorder opens; at most :data:`MAX_COMMANDS` at once.
Its result goes back on the connection it came on; if that connection is
gone the result is lost (the hub already answered its caller 503) but the
``command`` event recording it is spooled like any other.

Reconnects use :class:`~courtroom_core.backoff.Backoff`, reset on each
Welcome. Only the first failure of a run of failures and the recovery are
logged (at WARNING/INFO); repeats go to DEBUG.

Partials are live previews: :meth:`HubLink.send_partial` keeps at most the
latest one per channel while the sender is busy, drops them while
disconnected, and sends each only after every event published before it, so
a preview never overtakes the final segment it precedes.

Trust. For ``wss://`` the hub's certificate is verified (system CAs, or the
``ssl`` context built from ``[hub] ca_file``), host name included; with
``pin_sha256`` the SHA-256 of the hub's leaf certificate (DER) must also
match, checked after the TLS handshake and before Hello, so the token never
reaches an unverified peer. A plain ``ws://`` URL to a host that is not
loopback logs one WARNING: the token crosses the network in clear.

The hub may only acknowledge what this agent sent. A Welcome or Ack beyond
``claimable`` (the spool's last seq when the link was made, then the highest
seq sent since) is a forgery or a hub bug: the spool is neither acked nor
renumbered, the connection closes with 1007, a ``hub_untrusted`` alarm is
spooled (one per run of violations; the patrol wall shows it once a trusted
hub takes it) and the link reconnects with backoff. This holds for a fresh,
never-acknowledged spool too: over ``ws://`` anyone in the path can forge the
first Welcome. One case stays legitimate: a Welcome *below* what was acked
(archive restored from a backup: the rest is resent). A PC reinstalled or a
spool file replaced while the hub holds events 1..N is refused like a forgery
until the operator runs ``courtroom agent --adopt-hub-seq N``
(:meth:`~courtroom_agent.spool.EventSpool.adopt_hub_seq`), after which the
spool numbers after N and the Welcome is accepted; the link never renumbers.

Errors (``error_class`` tells :func:`~courtroom_core.backoff.classify`)::

    HubLinkError                 base; never escapes run(), kept in state
    ├── HubRejectedError         CONFIG: token refused (close 4401, HTTP 401/403),
    │   │                        a seq conflict (close 4410: the hub holds another
    │   │                        event under one of ours; a person must decide)
    │   │                        or URL wrong (HTTP 4xx); retried at the maximum
    │   │                        interval so a fixed hub config recovers
    │   └── HubTrustError        CONFIG: hub certificate not trusted (verification
    │                            failed, TLS handshake failed, pin mismatch)
    ├── HubProtocolError         TRANSIENT: hub sent an invalid or unexpected frame;
    │   │                        the link closes with 1007 and reconnects
    │   └── HubViolationError    TRANSIENT: hub claimed events never sent (forged
    │                            welcome/ack); alarm ``hub_untrusted`` raised
    └── HubDisconnectedError     TRANSIENT: refused, timed out, reset or closed

Anything else raised inside (a :class:`~courtroom_agent.spool.SpoolError`,
a bug) is FATAL and propagates out of :meth:`HubLink.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import random as _random
import ssl as _ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.uri import parse_uri

from courtroom_agent.alarms import AgentAlarm, agent_alarm
from courtroom_agent.spool import EventSpool
from courtroom_core import wire
from courtroom_core.backoff import Backoff, BackoffPolicy, ErrorClass, classify
from courtroom_core.errors import CourtroomError

__all__ = [
    "HubDisconnectedError",
    "HubLink",
    "HubLinkError",
    "HubLinkState",
    "HubProtocolError",
    "HubRejectedError",
    "HubTrustError",
    "HubViolationError",
    "adopt_hint",
    "parse_pin",
]

log = logging.getLogger(__name__)

CLOSE_PIN_MISMATCH = 1008
"""Close code (policy violation) the agent sends to a hub whose certificate is not the pin."""

MAX_COMMANDS = 8
"""Most hub commands carried out at once; a further one is refused ("agent busy")."""

DEFAULT_BACKOFF = BackoffPolicy(initial=0.5, maximum=30.0, factor=2.0, jitter=0.2)


class HubLinkError(CourtroomError):
    """A connection attempt or session with the hub failed."""

    error_class = ErrorClass.TRANSIENT


class HubRejectedError(HubLinkError):
    """The hub refused this agent: wrong token, or wrong URL."""

    error_class = ErrorClass.CONFIG
    hint = "check url and token"


class HubTrustError(HubRejectedError):
    """The hub's certificate is not trusted; nothing was sent to it.

    The operator fixes ``[hub] ca_file`` / ``pin_sha256`` (or the hub's
    certificate); retried at the maximum interval like any CONFIG failure.
    """

    hint = "check the hub's certificate and [hub] ca_file / pin_sha256"


class HubProtocolError(HubLinkError):
    """The hub sent a frame that is not a valid message at this point."""


class HubViolationError(HubProtocolError):
    """The hub claimed to hold events this agent never sent (forged welcome or ack)."""


class HubDisconnectedError(HubLinkError):
    """The connection could not be opened or was lost."""


@dataclass(frozen=True, slots=True)
class HubLinkState:
    """Snapshot for the agent's status report."""

    connected: bool
    rejected: bool
    """The last attempt failed on the token, URL or certificate: a configuration problem."""
    untrusted: bool
    """The last attempt failed because the hub is not trusted: certificate,
    pin, or a welcome/ack claiming events never sent."""
    last_error: str | None
    """The most recent failure, kept after recovery; None if none yet."""
    last_connected_at: float | None
    """Wall-clock time (injected clock) of the last Welcome."""
    acked_seq: int
    last_seq: int
    pending: int
    failures: int
    """Failed attempts since the last successful connection."""


class HubLink:
    """Deliver a courtroom's spooled events to the hub and keep reconnecting.

    Use as ``async with HubLink(...) as link:`` and run :meth:`run` in a
    task group task; cancel that task to stop. The spool is owned by the
    caller and must stay open while the link runs.
    """

    def __init__(
        self,
        *,
        url: str,
        token: str,
        spool: EventSpool,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        random: Callable[[], float] = _random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        window: int = 256,
        page: int = 64,
        open_timeout: float = 10.0,
        welcome_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        ssl: _ssl.SSLContext | None = None,
        pin_sha256: str | None = None,
        alarm_hearing_id: Callable[[], str] = lambda: "",
        on_command: Callable[[wire.Command], Awaitable[wire.Result]] | None = None,
    ) -> None:
        """Configure the link; nothing connects until :meth:`run`.

        Args:
            url: ``ws://host:port/ws/agent`` (or ``wss://``).
            token: the courtroom's secret; sent in Hello, never logged.
            spool: the courtroom's open spool; its courtroom id is sent in Hello.
            backoff: reconnect policy; CONFIG failures wait ``backoff.maximum``.
            random, sleep, clock: injectable for tests; ``clock`` is wall time
                and only stamps ``last_connected_at`` and outage durations.
            window: most events sent and not yet acknowledged.
            page: most events read from the spool at once.
            open_timeout, welcome_timeout: seconds for the TCP + websocket
                handshake and for the hub's Welcome.
            ping_interval, ping_timeout: websocket keepalive, which detects a
                silently dead connection.
            ssl: client TLS context for ``wss://`` (e.g. trusting ``ca_file``);
                None: the system CAs. Host names are always checked.
            pin_sha256: hex SHA-256 of the hub certificate's DER encoding
                (colons allowed); the connection is refused on any other.
            alarm_hearing_id: the hearing a ``hub_untrusted`` alarm names.
            on_command: carries out a hub command and returns its result
                (protocol 2); None: every command is refused.

        Raises:
            ValueError: ``url`` is not a ws:// or wss:// URL, ``token`` is
                empty, ``window``/``page`` < 1, ``pin_sha256`` is not 64 hex
                digits, or ``ssl``/``pin_sha256`` is given for a ws:// URL.
        """
        try:
            uri = parse_uri(url)
        except InvalidURI as exc:
            raise ValueError(f"hub url {url!r} is not a ws:// or wss:// URL") from exc
        if not uri.secure and (ssl is not None or pin_sha256 is not None):
            raise ValueError("hub ca_file / pin_sha256 need a wss:// url")
        self._pin = None if pin_sha256 is None else parse_pin(pin_sha256)
        if not token:
            raise ValueError("hub token must not be empty")
        if window < 1 or page < 1:
            raise ValueError("window and page must be >= 1")
        self._url = url
        self._ssl = ssl
        self._in_clear = not uri.secure and not _is_loopback(uri.host)
        self._alarm_hearing_id = alarm_hearing_id
        self._alarm_raised = False
        # Highest seq the hub may acknowledge: what the spool held when this
        # link was made (an earlier run may have sent it), then what was sent.
        self._claimable = spool.last_seq
        self._hello = wire.encode(
            wire.Hello(courtroom=spool.courtroom, token=token, version=wire.PROTOCOL_VERSION)
        )
        self._on_command = on_command
        self._commands: set[asyncio.Task[None]] = set()
        self._spool = spool
        self._policy = backoff
        self._backoff = Backoff(backoff, random=random)
        self._sleep = sleep
        self._clock = clock
        self._window = window
        self._page = page
        self._open_timeout = open_timeout
        self._welcome_timeout = welcome_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout

        self._ws: ClientConnection | None = None
        self._connected = False
        self._next_seq = 1
        self._wake = asyncio.Event()
        self._acked = asyncio.Condition()
        # channel -> (spool.last_seq when queued, encoded frame); at most one per channel
        self._partials: dict[int | tuple[str, str], tuple[int, str]] = {}
        self._last_error: str | None = None
        self._last_class: ErrorClass | None = None
        self._last_untrusted = False
        self._failing_since: float | None = None
        self._failures = 0
        self._last_connected_at: float | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            await self._ws.close(1001, "agent stopping")

    # -- what the agent calls -------------------------------------------------

    def publish(self, kind: str, body: dict[str, Any]) -> wire.Event:
        """Spool a new event and wake the sender; return it with its seq.

        The event is durable when this returns, whether or not the hub is
        reachable.

        Raises:
            courtroom_core.wire.WireError: the event is invalid or too big; not stored.
            SpoolError: the spool could not store it.
        """
        event = self._spool.append(kind, body)
        self._wake.set()
        return event

    def send_partial(self, partial: wire.Partial) -> bool:
        """Queue a live preview; return False if it was dropped (not connected).

        Replaces any preview for the same channel not yet sent, so at most one
        per channel waits. A preview goes out after every event published
        before it; one replaced after a final was published is thus dropped,
        which is right: the final supersedes it.

        Raises:
            courtroom_core.wire.WireError: the partial's frame is too big.
        """
        frame = wire.encode(partial)
        if not self._connected:
            return False
        self._partials[partial.channel] = (self._spool.last_seq, frame)
        self._wake.set()
        return True

    def send_thumbnail(self, thumbnail: wire.Thumbnail) -> bool:
        """Queue a camera's latest picture, like a preview; False if dropped.

        At most one waits per camera; a newer one replaces it.

        Raises:
            courtroom_core.wire.WireError: the thumbnail's frame is too big.
        """
        frame = wire.encode(thumbnail)
        if not self._connected:
            return False
        self._partials[("thumbnail", thumbnail.camera)] = (self._spool.last_seq, frame)
        self._wake.set()
        return True

    @property
    def state(self) -> HubLinkState:
        return HubLinkState(
            connected=self._connected,
            rejected=self._last_class is ErrorClass.CONFIG and not self._connected,
            untrusted=self._last_untrusted and not self._connected,
            last_error=self._last_error,
            last_connected_at=self._last_connected_at,
            acked_seq=self._spool.acked_seq,
            last_seq=self._spool.last_seq,
            pending=self._spool.pending_count,
            failures=self._failures,
        )

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def acked_seq(self) -> int:
        return self._spool.acked_seq

    @property
    def pending(self) -> int:
        return self._spool.pending_count

    @property
    def last_connected_at(self) -> float | None:
        return self._last_connected_at

    async def wait_delivered(self, seq: int | None = None) -> None:
        """Wait until the hub has acknowledged ``seq`` (default: the last published).

        Does not time out; wrap in ``asyncio.timeout`` (e.g. when flushing
        on shutdown).
        """
        target = self._spool.last_seq if seq is None else seq
        async with self._acked:
            await self._acked.wait_for(lambda: self._spool.acked_seq >= target)

    # -- the loop -------------------------------------------------------------

    async def run(self) -> None:
        """Connect, deliver, reconnect; return only by cancellation.

        Raises:
            SpoolError: the spool failed; delivery cannot continue safely.
            Exception: any other FATAL error (a bug) propagates unchanged.
        """
        if self._in_clear:
            log.warning(
                "hub url %s is not encrypted: the courtroom token is sent in clear "
                "令牌明文传输; use wss://",
                self._url,
            )
        while True:
            try:
                await self._session()
            except Exception as exc:  # the task boundary: a failure becomes a retry decision
                error = _translate(exc)
                verdict = classify(error)
                if verdict is ErrorClass.FATAL:
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("hub link stopped by a fatal error")
                    raise
                delay = self._record_failure(error, verdict)
            await self._sleep(delay)

    async def _session(self) -> NoReturn:
        """One connection, from connect to loss; always raises."""
        try:
            tls: dict[str, Any] = {} if self._ssl is None else {"ssl": self._ssl}
            async with connect(
                self._url,
                max_size=wire.MAX_FRAME_BYTES,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                close_timeout=2.0,
                **tls,
            ) as ws:
                self._ws = ws
                if self._pin is not None:
                    await self._check_pin(ws, self._pin)
                await ws.send(self._hello)
                async with asyncio.timeout(self._welcome_timeout):
                    welcome = await _receive(ws)
                if not isinstance(welcome, wire.Welcome):
                    await _close_invalid(ws, f"expected welcome, got {type(welcome).__name__}")
                await self._on_welcome(ws, welcome)
                try:
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._send_loop(ws), name="hub-link-send")
                        group.create_task(self._receive_loop(ws), name="hub-link-receive")
                except ExceptionGroup as failures:
                    raise _first(failures) from None
            raise HubDisconnectedError("connection ended")  # pragma: no cover - loops never end
        finally:
            self._ws = None
            self._connected = False
            self._partials.clear()

    async def _check_pin(self, ws: ClientConnection, pin: bytes) -> None:
        """Refuse the hub unless its leaf certificate's SHA-256 is ``pin``."""
        tls = ws.transport.get_extra_info("ssl_object")
        der = None if tls is None else tls.getpeercert(binary_form=True)
        digest = b"" if der is None else hashlib.sha256(der).digest()
        if not hmac.compare_digest(digest, pin):
            await ws.close(CLOSE_PIN_MISMATCH, "certificate pin mismatch")
            raise HubTrustError(
                f"hub certificate not trusted 集控端证书不可信: its SHA-256 {digest.hex() or '-'} "
                f"is not pin_sha256 {pin.hex()}"
            )

    async def _on_welcome(self, ws: ClientConnection, welcome: wire.Welcome) -> None:
        spool = self._spool
        hub_acked = welcome.acked_seq
        if hub_acked > self._claimable:
            # A forgery, or a replaced spool: only the operator can tell them apart.
            await self._violation(ws, adopt_hint(spool.courtroom, hub_acked, self._claimable))
        if hub_acked < spool.acked_seq:
            self._last_error = (
                f"hub holds only seq 1..{hub_acked} but acknowledged up to {spool.acked_seq} "
                "earlier (hub database restored from an older backup?); events "
                f"{hub_acked + 1}..{spool.acked_seq} are no longer in this spool"
            )
            log.error("%s", self._last_error)
        else:
            spool.ack(hub_acked)
        await self._notify_acked()
        self._next_seq = spool.acked_seq + 1
        self._connected = True
        now = self._clock()
        self._last_connected_at = now
        if self._failing_since is not None:
            log.info(
                "hub link to %s restored after %d failed attempts (%.1f s); %d events pending",
                self._url,
                self._failures,
                now - self._failing_since,
                spool.pending_count,
            )
        else:
            log.info("hub link to %s up; %d events pending", self._url, spool.pending_count)
        self._failing_since = None
        self._failures = 0
        self._last_class = None
        self._last_untrusted = False
        self._alarm_raised = False
        self._backoff.reset()
        self._wake.set()

    async def _send_loop(self, ws: ClientConnection) -> None:
        spool = self._spool
        while True:
            self._wake.clear()
            sent = await self._send_partials(ws, before=self._next_seq)
            in_flight = self._next_seq - 1 - spool.acked_seq
            room = self._window - in_flight
            if room > 0 and self._next_seq <= spool.last_seq:
                limit = min(room, self._page)
                for event in spool.pending(after_seq=self._next_seq - 1, limit=limit):
                    await self._send_partials(ws, before=event.seq)
                    await ws.send(wire.encode(event))
                    self._next_seq = max(self._next_seq, event.seq + 1)
                    self._claimable = max(self._claimable, event.seq)
                    sent = True
            if not sent:
                await self._wake.wait()

    async def _send_partials(self, ws: ClientConnection, *, before: int) -> bool:
        """Send the previews queued before event ``before`` was published."""
        due = [ch for ch, (after, _) in self._partials.items() if after < before]
        for channel in due:
            _, frame = self._partials.pop(channel)
            await ws.send(frame)
        return bool(due)

    async def _receive_loop(self, ws: ClientConnection) -> None:
        while True:
            message = await _receive(ws)
            if isinstance(message, wire.Command):
                self._take_command(ws, message)
                continue
            if not isinstance(message, wire.Ack):
                await _close_invalid(ws, f"unexpected {type(message).__name__} after welcome")
            if message.seq > self._claimable:
                await self._violation(
                    ws, f"ack {message.seq} beyond seq {self._claimable} last sent"
                )
            if self._spool.ack(message.seq):
                # The hub may hold events sent on an earlier connection.
                self._next_seq = max(self._next_seq, message.seq + 1)
                await self._notify_acked()
                self._wake.set()

    def _take_command(self, ws: ClientConnection, command: wire.Command) -> None:
        """Carry out ``command`` beside the receive loop (acks keep flowing); at
        most :data:`MAX_COMMANDS` at once, further ones are refused at once."""
        if self._on_command is None or len(self._commands) >= MAX_COMMANDS:
            why = "this agent takes no commands" if self._on_command is None else "agent busy"
            task = asyncio.create_task(
                _answer(ws, wire.Result(id=command.id, outcome="refused", message=why))
            )
        else:
            task = asyncio.create_task(self._carry_out(ws, command), name=f"command-{command.id}")
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    async def _carry_out(self, ws: ClientConnection, command: wire.Command) -> None:
        assert self._on_command is not None
        try:
            result = await self._on_command(command)
        except Exception as exc:  # task boundary: the hub must hear an answer
            log.exception("command %s failed", command.id)
            result = wire.Result(id=command.id, outcome="failed", message=str(exc)[:500])
        await _answer(ws, result)

    async def _violation(self, ws: ClientConnection, reason: str) -> NoReturn:
        """The hub claimed events never sent: alarm, close 1007, raise; the spool stays."""
        if self._alarm_raised:  # the same run of violations: alarmed and logged once
            log.debug("hub %s still not trusted: %s", self._url, reason)
        else:
            self._alarm_raised = True
            log.error("hub %s not trusted: %s; spool kept, reconnecting", self._url, reason)
            alarm = agent_alarm(
                AgentAlarm.HUB_UNTRUSTED,
                active=True,
                hearing_id=self._alarm_hearing_id() or None,  # idle: an agent-level alarm
                error=reason,
            )
            self.publish("av.alarm", alarm.to_json())
        await ws.close(wire.CLOSE_INVALID, reason[:120])
        raise HubViolationError(f"invalid frame from hub (hub not trusted): {reason}")

    async def _notify_acked(self) -> None:
        async with self._acked:
            self._acked.notify_all()

    def _record_failure(self, error: BaseException, verdict: ErrorClass) -> float:
        message = str(error)
        if self._failing_since is None:
            self._failing_since = self._clock()
        self._failures += 1
        delay = self._policy.maximum if verdict is ErrorClass.CONFIG else self._backoff.next()
        if verdict is not self._last_class:  # first failure, or a different kind of failure
            if verdict is ErrorClass.CONFIG:
                hint = getattr(error, "hint", HubRejectedError.hint)
                log.error("hub %s rejected this agent: %s; %s", self._url, message, hint)
            else:
                log.warning("hub link to %s down: %s; retrying", self._url, message)
        log.debug("hub link attempt failed (%s); next in %.2f s", message, delay)
        self._last_error = message
        self._last_class = verdict
        self._last_untrusted = isinstance(error, HubTrustError | HubViolationError)
        return delay


async def _answer(ws: ClientConnection, result: wire.Result) -> None:
    """Send a command's result; a connection gone meanwhile loses it (the hub
    answered its caller 503 when it dropped, and the ``command`` event is spooled)."""
    with contextlib.suppress(ConnectionClosed):
        await ws.send(wire.encode(result))


def adopt_hint(courtroom: str, hub_seq: int, sent: int) -> str:
    """The refusal of a Welcome beyond what was sent, and the operator's way out."""
    return (
        f"hub holds {hub_seq} events of courtroom {courtroom} but this spool has sent "
        f"only {sent}: if this PC's spool was replaced, run courtroom agent "
        f"--adopt-hub-seq {hub_seq}"
    )


def parse_pin(text: str) -> bytes:
    """The 32 bytes of a hex SHA-256 pin (``ab12…`` or ``AB:12:…``).

    Raises:
        ValueError: not 64 hex digits.
    """
    digits = text.replace(":", "").strip()
    if len(digits) != 64:
        raise ValueError("pin_sha256 must be 64 hex digits (SHA-256 of the certificate's DER)")
    try:
        return bytes.fromhex(digits)
    except ValueError as exc:
        raise ValueError("pin_sha256 must be 64 hex digits") from exc


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def _receive(ws: ClientConnection) -> wire.Message:
    frame = await ws.recv()
    try:
        return wire.decode(frame)
    except wire.WireError as exc:
        await _close_invalid(ws, str(exc), cause=exc)


async def _close_invalid(
    ws: ClientConnection, reason: str, *, cause: BaseException | None = None
) -> NoReturn:
    """Close with 1007 and raise HubProtocolError."""
    log.warning("hub sent an invalid frame: %s; reconnecting", reason)
    await ws.close(wire.CLOSE_INVALID, reason[:120])
    raise HubProtocolError(f"invalid frame from hub: {reason}") from cause


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


def _translate(exc: Exception) -> BaseException:
    """Map websockets and socket errors onto the HubLinkError tree."""
    if isinstance(exc, HubLinkError):
        return exc
    if isinstance(exc, ConnectionClosed):
        close = exc.rcvd
        if close is not None and close.code == wire.CLOSE_UNAUTHORIZED:
            return HubRejectedError(f"hub refused the token (close {close.code}: {close.reason})")
        if close is not None and close.code == wire.CLOSE_SEQ_CONFLICT:
            # The hub holds another event under one of ours: resending will not
            # help, and neither side may overwrite the record. A person decides.
            return HubRejectedError(
                f"hub holds a different event under the same seq 序号冲突 "
                f"(close {close.code}: {close.reason}); ask the hub administrator"
            )
        if close is None and exc.sent is not None:
            sent = exc.sent
            return HubDisconnectedError(f"connection closed by agent ({sent.code} {sent.reason})")
        if close is None:
            return HubDisconnectedError("connection to hub lost")
        return HubDisconnectedError(f"hub closed the connection ({close.code} {close.reason})")
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if 400 <= status < 500 and status not in (408, 429):
            return HubRejectedError(f"hub refused the websocket upgrade: HTTP {status}")
        return HubDisconnectedError(f"hub answered HTTP {status}")
    if isinstance(exc, WebSocketException):
        return HubProtocolError(f"websocket failure: {exc}")
    if isinstance(exc, _ssl.SSLCertVerificationError):
        why = exc.verify_message or str(exc)
        return HubTrustError(f"hub certificate not trusted 集控端证书不可信: {why}")
    if isinstance(exc, _ssl.SSLError):
        return HubTrustError(f"hub certificate not trusted: TLS handshake failed: {exc}")
    if isinstance(exc, OSError):  # refused, reset, DNS, timeouts
        return HubDisconnectedError(f"cannot reach hub: {exc or type(exc).__name__}")
    return exc
