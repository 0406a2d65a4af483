"""Run the hub under uvicorn inside the caller's event loop.

``courtroom hub`` and ``courtroom demo`` both use this, so a demo can run the
hub and an agent in one process::

    async with HubServer(config, admin_password="s3cret") as hub:
        print(hub.url)                    # bound port known (port 0 allowed)
        await hub.run()                   # until cancelled

or simply ``await serve(config, ready=event)``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Final, Self

import uvicorn

from hub import edge
from hub.app import create_app
from hub.config import HubConfig
from hub.errors import ConfigError, HubError
from hub.security import Clock, utc_now

__all__ = ["HubServer", "serve"]

log = logging.getLogger(__name__)

WS_MAX_BYTES: Final = 1024 * 1024
"""Hard ceiling enforced by uvicorn; the endpoints refuse smaller frames themselves."""


class _RedactTokens(logging.Filter):
    """Hide ``token=…`` query values (clerks' bearer tokens) in uvicorn's log lines."""

    _pattern = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._pattern.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._pattern.sub(r"\1***", record.msg)
        return True


def _install_redaction() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())


class HubServer:
    """The hub listening on a socket bound at ``__aenter__``.

    Args:
        config: validated hub configuration.
        admin_password: password for user ``admin`` (set at startup).
        clock: current UTC time.
        env: where ``*_env`` settings are read (default ``os.environ``).

    Raises:
        ConfigError: the ``[tls]`` certificate and key no longer load.
        HubError: (from ``__aenter__``) the address cannot be bound.
    """

    def __init__(
        self,
        config: HubConfig,
        *,
        admin_password: str | None = None,
        clock: Clock = utc_now,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        _install_redaction()
        edge.install_log_limits()
        limits = config.limits
        self.guard = edge.ConnectionGuard(
            edge.EdgeLimits(
                header_timeout_s=limits.header_timeout_s,
                max_connections=edge.fit_to_fd_limit(limits.max_connections),
                max_connections_per_client=limits.max_connections_per_client,
            )
        )
        app = create_app(config, admin_password=admin_password, clock=clock, env=env)
        # TLS: the context is built from [tls] here, once; a pair that does not
        # load was already refused when the configuration was validated.
        try:
            tls = None if config.tls is None else config.tls.server_context()
        except ValueError as exc:  # the files changed since the config was validated
            raise ConfigError("[tls]", [f"tls.key_file: {exc}"]) from exc
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                app,
                ssl_context_factory=None if tls is None else (lambda _config, _default: tls),
                log_config=None,
                access_log=False,
                lifespan="on",
                http=edge.guarded_protocol(self.guard),
                timeout_keep_alive=limits.keepalive_timeout_s,
                backlog=edge.ACCEPT_BACKLOG,
                ws="websockets-sansio",
                ws_max_size=WS_MAX_BYTES,
                timeout_graceful_shutdown=3,
                server_header=False,
            )
        )
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (useful when ``listen.port`` is 0)."""
        if self._socket is None:
            raise RuntimeError("HubServer is not entered")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Base URL of the hub: ``https://`` when ``[tls]`` is configured."""
        host = self.config.listen.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = f"[{host}]" if ":" in host else host
        scheme = "http" if self.config.tls is None else "https"
        return f"{scheme}://{host}:{self.port}"

    async def __aenter__(self) -> Self:
        listen = self.config.listen
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and without it Nagle + delayed ACK add ~40 ms to every response.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((listen.host, listen.port))
        except OSError as exc:
            sock.close()
            raise HubError(f"cannot listen on {listen.host}:{listen.port}: {exc}") from exc
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Serve until cancelled (or :meth:`stop`); sets ``ready`` once accepting.

        Raises:
            HubError: startup failed (bad archive, missing token variable …).
        """
        if self._socket is None:
            raise RuntimeError("HubServer is not entered")
        task = asyncio.create_task(self._uvicorn.serve([self._socket]), name="hub-uvicorn")
        try:
            while not self._uvicorn.started:
                if task.done():
                    break
                await asyncio.sleep(0.01)
            if self._uvicorn.started:
                log.info("hub listening on %s", self.url)
                if ready is not None:
                    ready.set()
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stop()
            await task
            raise
        if not self._uvicorn.started:
            raise HubError("hub failed to start; see the log above")

    def stop(self) -> None:
        """Ask the server to close connections and return from :meth:`run`."""
        self._uvicorn.should_exit = True


async def serve(
    config: HubConfig,
    *,
    ready: asyncio.Event | None = None,
    admin_password: str | None = None,
    clock: Clock = utc_now,
) -> None:
    """Run a hub until cancelled; ``ready`` is set once it accepts connections.

    Raises:
        HubError: the address cannot be bound or startup failed.
    """
    async with HubServer(config, admin_password=admin_password, clock=clock) as hub:
        await hub.run(ready=ready)
