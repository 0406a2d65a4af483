"""Login throttling and the password-hashing executor; no I/O, time injected.

:class:`LoginThrottle` refuses a login attempt *before* any password is
hashed when either

- the account has had ``account_failures`` failed logins within
  ``account_window`` seconds (a sliding window), or
- the client address has used up its token bucket of ``client_burst``
  failures, refilled at ``client_per_minute`` per minute.

A success clears the account's failures. Memory is bounded: each table keeps
at most ``max_keys`` keys, least recently used evicted first (an evicted key
starts afresh — the price of a bound, and an attacker must then spread over
``max_keys`` addresses or accounts, each still throttled).

:class:`HashPool` runs scrypt on its own threads (never the archive's
readers). At most ``workers + queue`` hashes are in flight; one more is
refused at once with :class:`HashPoolBusy` (the hub answers 503).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from hub.errors import HubError
from hub.ratelimit import LruDict, SlidingWindows, TokenBucket

__all__ = ["HashPool", "HashPoolBusy", "LoginThrottle", "LoginThrottled"]

T = TypeVar("T")
Monotonic = Callable[[], float]


class LoginThrottled(HubError):
    """Too many failed logins; ``retry_after`` is whole seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("登录尝试过多，请稍后再试 too many login attempts")
        self.retry_after = retry_after


class HashPoolBusy(HubError):
    """Every password-hashing slot is taken; try again in a second."""

    def __init__(self) -> None:
        super().__init__("登录繁忙，请稍后再试 login service busy, try again")


class LoginThrottle:
    """Per-account sliding window and per-client token bucket of failed logins.

    Args:
        account_failures: failures per account within ``account_window``.
        account_window: seconds of the account window.
        client_burst: failures a client may make at once.
        client_per_minute: the client's bucket refill rate.
        max_keys: accounts (and, separately, clients) tracked at most.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        *,
        account_failures: int = 5,
        account_window: float = 300.0,
        client_burst: int = 10,
        client_per_minute: float = 10.0,
        max_keys: int = 10_000,
        clock: Monotonic = time.monotonic,
    ) -> None:
        if account_failures < 1 or client_burst < 1 or client_per_minute <= 0:
            raise ValueError("throttle limits must be positive")
        self._burst = float(client_burst)
        self._rate = client_per_minute / 60.0
        self._clock = clock
        self._accounts = SlidingWindows(
            limit=account_failures, window=account_window, max_keys=max_keys
        )
        self._clients = LruDict(max_keys)  # address -> TokenBucket of failures

    def check(self, *, client: str, username: str) -> None:
        """Raises: LoginThrottled: refuse this attempt without hashing anything."""
        now = self._clock()
        bucket: TokenBucket | None = self._clients.get(client)
        if bucket is not None and (wait := bucket.wait(now)) > 0:
            raise LoginThrottled(math.ceil(wait))
        locked_for = self._accounts.retry_after(username, now)
        if locked_for > 0:
            raise LoginThrottled(max(1, math.ceil(locked_for)))

    def failed(self, *, client: str, username: str) -> None:
        now = self._clock()
        bucket = self._clients.get(client) or TokenBucket(rate=self._rate, burst=self._burst)
        bucket.spend(now, 1.0)
        self._clients.touch(client, bucket)
        self._accounts.add(username, now)

    def succeeded(self, *, username: str) -> None:
        self._accounts.forget(username)

    def tracked(self) -> tuple[int, int]:
        """(accounts, clients) currently remembered."""
        return len(self._accounts), len(self._clients)


class HashPool:
    """A small executor for password hashing with a bounded queue.

    Args:
        workers: hashing threads (1-2: scrypt takes ~50 ms and 16 MiB each).
        queue: hashes that may wait for a thread; one more raises HashPoolBusy.
    """

    def __init__(self, *, workers: int = 1, queue: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub-hash")
        self._slots = workers + queue
        self._busy = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Raises: HashPoolBusy: no slot free (nothing was queued)."""
        if self._busy >= self._slots:
            raise HashPoolBusy()
        self._busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._busy -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True)
