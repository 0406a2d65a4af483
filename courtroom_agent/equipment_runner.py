"""The courtroom's equipment while the agent runs: one link per device.

Every line device (camera, matrix, display, recorder) gets a
:class:`devices.link.DeviceLink`, the MQTT devices share one
:class:`devices.mqtt.link.MqttDeviceLink` on the courtroom's broker, and every
device event — command, reply, error, unsolicited message, fault, online or
offline — is published to the hub through the agent's spool as a ``device``
event, stamped on the hearing clock and tagged with the open hearing.

:meth:`Equipment.perform` and :meth:`Equipment.read_state` are the rule
engine's way in: a verb for a configured device by name, confirmed by its
kind's expectation (:mod:`devices.actions`), with the device's matrix names
and configured timeout filled in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from courtroom_agent.config import AgentConfig, DeviceConfig
from courtroom_agent.equipment import (
    build_link,
    build_mqtt_link,
    session_event_to_device_event,
)
from devices.actions import ActionOutcome, ActionTarget, MqttTarget, perform, read_state
from devices.errors import LocalProtocolError
from devices.events import DEVICE_EVENT_KIND, DeviceEvent
from devices.link import DeviceLink
from devices.session import SessionEvent

if TYPE_CHECKING:
    from courtroom_agent.agent import CourtroomAgent
    from devices.mqtt.link import MqttDeviceLink

__all__ = ["Equipment"]

logger = logging.getLogger(__name__)


class Equipment:
    """Runs the configured devices for the agent's lifetime.

    Use as ``async with Equipment(config, publish=...)``: links start on
    entry and stop on exit. Set :attr:`agent` so events carry the hearing.

    Args:
        config: the courtroom configuration.
        publish: sends one agent event (kind, body) towards the hub.
        clock: the monotonic clock the links stamp ``last_success`` with.
        wall_clock: UTC seconds, to report ``last_success`` as a date.

    Raises:
        ValueError: (on entry) a device password variable is unset.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        publish: Callable[[str, dict[str, Any]], object],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._publish = publish
        self._clock = clock
        self._wall_clock = wall_clock
        self.agent: CourtroomAgent | None = None
        self.links: dict[str, DeviceLink] = {}
        self.mqtt: MqttDeviceLink | None = None
        self.broker_address: tuple[str, int] | None = None
        """Where the embedded broker listens, if the agent started one."""
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []

    def _time(self) -> float:
        return self.agent.hearing_time if self.agent is not None else 0.0

    def _on_event(self, event: DeviceEvent) -> None:
        body = event.to_json()
        if self.agent is not None and self.agent.in_hearing:
            body["hearing_id"] = self.agent.hearing_id
        self._publish(DEVICE_EVENT_KIND, body)

    def _on_mqtt_event(self, name: str, event: SessionEvent) -> None:
        self._on_event(session_event_to_device_event(name, event, time=self._time()))

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        try:
            for device in self._config.devices:
                if not device.has_line:
                    continue  # MQTT devices share the broker link below
                link = build_link(device, on_event=self._on_event, hearing_clock=self._time)
                self.links[device.name] = await self._stack.enter_async_context(link)
                self._start(link.run(), f"device {device.name}")
            await self._start_mqtt()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _start_mqtt(self) -> None:
        names = [d.name for d in self._config.devices if not d.has_line]
        if not names:
            return
        broker: tuple[str, int] | None = None
        if self._config.mqtt is None:
            from courtroom_agent.embedded_broker import EmbeddedBroker

            embedded = await self._stack.enter_async_context(EmbeddedBroker())
            broker = self.broker_address = (embedded.host, embedded.port)
        link = build_mqtt_link(
            self._config, names, role="agent", broker=broker, on_event=self._on_mqtt_event
        )
        # The MQTT link runs itself while entered (a second run() is refused).
        self.mqtt = await self._stack.enter_async_context(link)

    def _start(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(_log_failure)
        self._tasks.append(task)

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._stack.__aexit__(None, None, None)

    def _device(self, name: str) -> tuple[DeviceConfig, DeviceLink | ActionTarget]:
        device = next((d for d in self._config.devices if d.name == name), None)
        if device is None:
            known = ", ".join(d.name for d in self._config.devices) or "none"
            raise LocalProtocolError(f"no device named {name!r} (configured: {known})")
        if device.has_line:
            return device, self.links[name]
        if self.mqtt is None:  # pragma: no cover - started whenever an MQTT device is configured
            raise LocalProtocolError(f"{name}: the MQTT link is not running")
        return device, MqttTarget(self.mqtt, name, clock=self._clock)

    async def perform(
        self, name: str, verb: str, args: Sequence[str], *, within: float
    ) -> ActionOutcome:
        """Run ``verb args`` on device ``name`` and confirm it (:func:`devices.actions.perform`).

        Returns within ``within`` + the device's command timeout; device
        problems are outcomes, not exceptions.

        Raises:
            LocalProtocolError: unknown device, verb or arguments (names which).
        """
        device, target = self._device(name)
        return await perform(
            target,
            device.spec,
            verb,
            args,
            within=within,
            inputs=device.inputs,
            outputs=device.outputs,
            clock=self._clock,
            command_timeout=device.timeout,
        )

    async def read_state(
        self, name: str, verb: str, args: Sequence[str], *, within: float
    ) -> ActionOutcome:
        """Ask device ``name`` an inquiry verb (``read OUT``); the answer is in ``value``.

        Raises:
            LocalProtocolError: unknown device, verb or arguments, or a verb
                that changes state.
        """
        device, target = self._device(name)
        return await read_state(
            target,
            device.spec,
            verb,
            args,
            within=within,
            inputs=device.inputs,
            outputs=device.outputs,
            clock=self._clock,
        )

    def status(self) -> dict[str, Any]:
        """Device health for the agent's status report.

        Each device: ``online``, ``last_error`` (one line or None) and
        ``last_success``, the UTC time (ISO 8601, milliseconds) its last
        command succeeded, or None if none has since the agent started.
        """
        devices: dict[str, Any] = {}
        for name, link in self.links.items():
            state = link.state
            devices[name] = {
                "online": state.online,
                "last_error": state.last_error,
                "last_success": self._utc(state.last_success),
            }
        if self.mqtt is not None:
            for device in self._config.devices:
                if not device.has_line:
                    status = self.mqtt.status(device.name)
                    availability = getattr(status.availability, "value", status.availability)
                    devices[device.name] = {
                        "online": availability == "online",
                        "last_error": None if status.last_error is None else str(status.last_error),
                        "last_success": self._utc(status.last_success),
                    }
        return {"devices": devices} if devices else {}

    def _utc(self, monotonic: float | None) -> str | None:
        """The UTC date of a ``clock()`` reading, or None."""
        if monotonic is None:
            return None
        seconds = self._wall_clock() - (self._clock() - monotonic)
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _log_failure(task: asyncio.Task[None]) -> None:
    # A link ends only when cancelled or on a bug; say which device stopped.
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped", task.get_name(), exc_info=task.exception())
