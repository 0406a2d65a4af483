"""The agent's MQTT link to the room's devices (aiomqtt 2.x).

One broker connection serves every MQTT device of the room
(:mod:`devices.mqtt.contract` has the topics and payloads):

* MQTT 3.1.1, QoS 1 both ways, persistent session (``clean_session=False``,
  a stable client id), so confirmations published while the link is briefly
  down are delivered after it reconnects;
* the agent's availability is ``online`` (retained) once connected and
  ``offline`` through the broker's last will when the link dies;
* :meth:`MqttDeviceLink.send` publishes the command on ``/set`` and returns
  the device's state once a ``/state`` carries the command's id;
* broker loss → reconnect with :mod:`courtroom_core.backoff`; only the first
  failure and the recovery are logged above DEBUG.

Every command, confirmation, availability change and malformed payload is
reported to ``on_event(device_name, event)`` as a
:mod:`devices.session` event, for the equipment audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Self

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from courtroom_core.backoff import Backoff, BackoffPolicy, ErrorClass, classify
from devices.errors import (
    DeviceError,
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
    RemoteProtocolError,
)
from devices.mqtt.contract import (
    AgentTopics,
    Availability,
    Channel,
    DeviceState,
    DeviceTopics,
    SetCommand,
    decode_availability,
    decode_state,
    encode_availability,
    encode_set,
    parse_device_topic,
)
from devices.session import Completed, Failed, Fault, Sent, SessionEvent, Unsolicited

__all__ = ["BrokerError", "MqttDeviceLink", "MqttDeviceStatus"]

log = logging.getLogger(__name__)

EventSink = Callable[[str, SessionEvent], None]
# CONNACK codes meaning "fix the credentials" (3.1.1 §3.2.2.3: 4, 5; MQTT 5: 134, 135).
_AUTH_CODES = frozenset({4, 5, 134, 135})


class BrokerError(DeviceUnavailableError):
    """The broker connection failed or was lost; ``error_class`` tells the retry loop."""

    def __init__(self, message: str, *, error_class: ErrorClass) -> None:
        super().__init__(message)
        self.error_class = error_class


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttDeviceStatus:
    """What the link knows of one device.

    Attributes:
        availability: last ``/availability`` payload, None before any arrived.
        state: last valid ``/state``.
        last_success: clock time of the last confirmed command.
        last_error: the last failure or fault seen for the device.
    """

    name: str
    availability: Availability | None = None
    state: DeviceState | None = None
    last_success: float | None = None
    last_error: DeviceError | None = None


def _payload(message: aiomqtt.Message) -> bytes:
    value = message.payload
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return b"" if value is None else str(value).encode()


class MqttDeviceLink:
    """Commands and state for the MQTT devices of one room.

    Use as ``async with MqttDeviceLink(...) as link:`` (runs :meth:`run` in a
    task named ``mqtt-link``) or start :meth:`run` in your own TaskGroup.

    Args:
        host, port: the broker.
        room: courtroom id (one topic level).
        devices: names of the room's MQTT devices.
        client_id: stable MQTT client id (the persistent session is keyed on it).
        username, password: broker credentials, if any (never logged).
        timeout: default seconds :meth:`send` waits for the confirming state.
        max_pending: most commands awaiting confirmation at once. Overflow
            policy: :meth:`send` raises DeviceUnavailableError at once.
        backoff: reconnect policy.
        clock: the hearing clock, for ``last_success``.
        on_event: receives ``(device name, event)`` for the audit trail.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 1883,
        room: str,
        devices: Iterable[str],
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        max_pending: int = 64,
        keepalive: int = 30,
        backoff: BackoffPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_event: EventSink | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.host, self.port = host, port
        self.agent = AgentTopics(room)
        self.topics = {name: DeviceTopics(room, name) for name in devices}
        self.client_id = client_id
        self.timeout = timeout
        self.max_pending = max_pending
        self._credentials = (username, password)
        self._keepalive = keepalive
        self._backoff = Backoff(backoff or BackoffPolicy(), random=random)
        self._clock = clock
        self._on_event = on_event
        self._status = {name: MqttDeviceStatus(name=name) for name in self.topics}
        self._waiters: dict[tuple[str, str], asyncio.Future[tuple[DeviceState, bytes]]] = {}
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._running = False

    # --- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.run(), name="mqtt-link")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Return once the link is connected and subscribed."""
        await self._connected.wait()

    def status(self, name: str) -> MqttDeviceStatus:
        """Raises LocalProtocolError: ``name`` is not one of the link's devices."""
        try:
            return self._status[name]
        except KeyError:
            raise LocalProtocolError(f"no MQTT device named {name!r}") from None

    async def run(self) -> None:
        """Connect, serve, reconnect after broker loss; returns only by cancellation.

        Raises:
            RuntimeError: the link is already running (two clients with one id
                would take the broker session from each other in turn).
            Exception: a FATAL error (per :func:`classify`), e.g. a bug.
        """
        if self._running:
            raise RuntimeError(f"MQTT link {self.client_id} is already running")
        self._running = True
        try:
            await self._reconnect_forever()
        finally:
            self._running = False

    async def _reconnect_forever(self) -> None:
        while True:
            try:
                await self._serve()
            except BrokerError as exc:
                if classify(exc) is ErrorClass.FATAL:
                    raise
                delay = (
                    self._backoff.policy.maximum
                    if classify(exc) is ErrorClass.CONFIG
                    else self._backoff.next()
                )
                level = logging.DEBUG if self._failing else logging.WARNING
                log.log(
                    level,
                    "MQTT broker %s:%d: %s; retrying in %.1f s",
                    self.host,
                    self.port,
                    exc,
                    delay,
                )
                self._failing = True
                await asyncio.sleep(delay)

    async def _serve(self) -> None:
        username, password = self._credentials
        will = aiomqtt.Will(
            self.agent.availability, encode_availability(Availability.OFFLINE), qos=1, retain=True
        )
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=username,
            password=password,
            clean_session=False,
            will=will,
            keepalive=self._keepalive,
            timeout=self.timeout,
        )
        try:
            async with client:
                filters = [
                    (t.topic(c), 1)
                    for t in self.topics.values()
                    for c in (Channel.STATE, Channel.AVAILABILITY)
                ]
                if filters:
                    await client.subscribe(filters)
                await client.publish(
                    self.agent.availability,
                    encode_availability(Availability.ONLINE),
                    qos=1,
                    retain=True,
                )
                self._client = client
                self._connected.set()
                self._backoff.reset()
                if self._failing:
                    log.info("MQTT broker %s:%d: connected again", self.host, self.port)
                    self._failing = False
                try:
                    async for message in client.messages:
                        self._dispatch(message)
                except asyncio.CancelledError:
                    await self._say_offline(client)
                    raise
        except aiomqtt.MqttError as exc:
            # Only a refused CONNECT carries a CONNACK code; paho's own
            # codes on other errors overlap them (4 = "not connected").
            rc = getattr(exc, "rc", None)
            code = getattr(rc, "value", rc)
            refused = isinstance(exc, MqttConnectError) and code in _AUTH_CODES
            error_class = ErrorClass.CONFIG if refused else ErrorClass.TRANSIENT
            raise BrokerError(f"MQTT broker unavailable: {exc}", error_class=error_class) from exc
        finally:
            self._client = None
            self._connected.clear()

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        # A clean DISCONNECT suppresses the last will, so say it ourselves.
        try:
            await client.publish(
                self.agent.availability,
                encode_availability(Availability.OFFLINE),
                qos=1,
                retain=True,
                timeout=1.0,
            )
        except aiomqtt.MqttError as exc:
            log.debug("MQTT: could not publish offline on shutdown: %s", exc)

    # --- commands ---------------------------------------------------------------------

    async def send(
        self, name: str, command: SetCommand, *, confirm_within: float | None = None
    ) -> DeviceState:
        """Publish ``command`` to device ``name``; return its confirming state.

        Raises:
            LocalProtocolError: unknown device, or a payload that is too large.
            DeviceUnavailableError: broker not connected, device offline, or
                too many commands pending. Nothing was sent.
            DeviceTimeoutError: no confirming state in time (the command may
                still be applied later).
            DeviceReportedError: the device confirmed with an ``error``.
        """
        topics = self.topics.get(name)
        if topics is None:
            raise LocalProtocolError(f"no MQTT device named {name!r}")
        raw = encode_set(command)
        client = self._client
        status = self._status[name]
        if client is None:
            raise DeviceUnavailableError("MQTT broker not connected", device=name)
        if status.availability is Availability.OFFLINE:
            raise DeviceUnavailableError("MQTT device offline", device=name)
        if len(self._waiters) >= self.max_pending:
            raise DeviceUnavailableError("too many MQTT commands pending", device=name)
        key = (name, command.id)
        if key in self._waiters:
            raise LocalProtocolError(f"MQTT command id {command.id!r} already pending", device=name)
        waiter: asyncio.Future[tuple[DeviceState, bytes]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters[key] = waiter
        limit = self.timeout if confirm_within is None else confirm_within
        try:
            async with asyncio.timeout(limit):
                await client.publish(topics.set, raw, qos=1)
                self._emit(name, Sent(command, raw))
                state, state_raw = await waiter
        except TimeoutError as exc:
            error: DeviceError = DeviceTimeoutError(
                f"no MQTT state confirming {command.id} in {limit:g} s", device=name
            )
            self._fail(name, command, error, retryable=True)
            raise error from exc
        except aiomqtt.MqttError as exc:
            error = DeviceUnavailableError(f"MQTT publish failed: {exc}", device=name)
            self._fail(name, command, error, retryable=True)
            raise error from exc
        except DeviceUnavailableError as exc:  # went offline while we waited
            self._fail(name, command, exc, retryable=True)
            raise
        finally:
            del self._waiters[key]
        if state.error is not None:
            reported = DeviceReportedError(state.error, device=name, raw=state_raw)
            self._fail(name, command, reported, retryable=False)
            raise reported
        self._status[name] = replace(self._status[name], last_success=self._clock())
        self._emit(name, Completed(command, state, state_raw))
        return state

    # --- incoming ---------------------------------------------------------------------

    def _dispatch(self, message: aiomqtt.Message) -> None:
        parsed = parse_device_topic(message.topic.value)
        if parsed is None or parsed[0].name not in self.topics:
            return
        name, channel, raw = parsed[0].name, parsed[1], _payload(message)
        if not raw:  # a cleared retained message
            return
        try:
            if channel is Channel.STATE:
                self._on_state(name, decode_state(raw), raw)
            elif channel is Channel.AVAILABILITY:
                self._on_availability(name, decode_availability(raw), raw)
        except RemoteProtocolError as exc:
            exc.device = name
            log.warning("MQTT device %s: fault on %s: %s", name, channel.value, exc.message)
            self._status[name] = replace(self._status[name], last_error=exc)
            self._emit(name, Fault(exc))

    def _on_state(self, name: str, state: DeviceState, raw: bytes) -> None:
        self._status[name] = replace(self._status[name], state=state)
        waiter = self._waiters.get((name, state.last_command_id or ""))
        if waiter is not None and not waiter.done():
            waiter.set_result((state, raw))
        else:
            self._emit(name, Unsolicited(state, raw))

    def _on_availability(self, name: str, availability: Availability, raw: bytes) -> None:
        before = self._status[name].availability
        self._status[name] = replace(self._status[name], availability=availability)
        if before is not availability:
            level = logging.WARNING if availability is Availability.OFFLINE else logging.INFO
            log.log(level, "MQTT device %s is %s", name, availability.value)
        if availability is Availability.OFFLINE:
            error = DeviceUnavailableError("MQTT device went offline", device=name)
            for (device, _), waiter in self._waiters.items():
                if device == name and not waiter.done():
                    waiter.set_exception(error)
        self._emit(name, Unsolicited(availability, raw))

    def _fail(self, name: str, command: SetCommand, error: DeviceError, *, retryable: bool) -> None:
        self._status[name] = replace(self._status[name], last_error=error)
        self._emit(name, Failed(command, error, retryable))

    def _emit(self, name: str, event: SessionEvent) -> None:
        if self._on_event is not None:
            self._on_event(name, event)
