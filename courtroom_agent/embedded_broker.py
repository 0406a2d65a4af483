"""An MQTT broker inside the agent, for courtrooms (and the demo) without one.

When a courtroom config has MQTT devices but no ``[mqtt]`` broker, the agent
runs amqtt on loopback so the devices' contract works with nothing installed.
A court with real MQTT equipment should run its own broker (Mosquitto) and
name it in ``[mqtt]``: the embedded one keeps nothing across restarts.
"""

from __future__ import annotations

import logging
import socket
import warnings
from typing import Any, Self

__all__ = ["EmbeddedBroker"]

logger = logging.getLogger(__name__)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """amqtt listening on ``host:port`` (``port=0``: a free port) while entered."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self._broker: Any = None

    async def __aenter__(self) -> Self:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from amqtt.broker import Broker

            for name in ("amqtt", "transitions"):
                logging.getLogger(name).setLevel(logging.WARNING)
            self._broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                    "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
                    "topic-check": {"enabled": False},
                }
            )
            await self._broker.start()
        logger.info("embedded MQTT broker on %s:%d", self.host, self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
