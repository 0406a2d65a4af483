"""The hub's two rate limiters, shared by every place that limits a client; no I/O.

- :class:`TokenBucket`: ``rate`` tokens a second up to ``burst``; the partial
  gate and the preview read budget (:mod:`hub.agent_ws`) and the per-address
  login bucket (:mod:`hub.throttle`) are each one or two of these.
- :class:`SlidingWindows`: per key, how many events fell within the last
  ``window`` seconds, at most ``limit`` kept per key and ``max_keys`` keys
  (least recently used dropped first: an evicted key starts afresh, the price
  of a bound); the per-account login lock (:mod:`hub.throttle`) and the
  per-address lingering closes (:mod:`hub.edge`).

Time is passed in (monotonic seconds), so tests move it instead of sleeping.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

__all__ = ["LruDict", "SlidingWindows", "TokenBucket"]


class LruDict(OrderedDict[str, Any]):
    """A dict of at most ``max_keys`` keys; :meth:`touch` makes a key newest."""

    def __init__(self, max_keys: int) -> None:
        super().__init__()
        self.max_keys = max_keys

    def touch(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.max_keys:
            self.popitem(last=False)


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` held; starts full.

    Spending may leave the bucket in debt (a large frame already read); the
    debt is then waited out like any shortfall.
    """

    def __init__(self, *, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self._last: float | None = None

    def refill(self, now: float) -> float:
        """Add what ``now`` brings since the last call; returns the tokens held."""
        if self._last is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self._last) * self.rate)
        self._last = now
        return self.tokens

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False (nothing spent) if not."""
        if self.refill(now) >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def spend(self, now: float, amount: float) -> None:
        """Spend ``amount`` whether or not it is there."""
        self.refill(now)
        self.tokens -= amount

    def wait(self, now: float, need: float = 1.0) -> float:
        """Seconds from ``now`` until ``need`` tokens are held (0 if they are)."""
        return max(0.0, (need - self.refill(now)) / self.rate)


class SlidingWindows:
    """Per key, the events of the last ``window`` seconds, at most ``limit`` of them.

    Args:
        limit: events per key within ``window`` before the key is full.
        window: seconds an event counts.
        max_keys: keys remembered at most (least recently used dropped).
    """

    def __init__(self, *, limit: int, window: float, max_keys: int) -> None:
        self.limit = limit
        self.window = window
        self._keys = LruDict(max_keys)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds from ``now`` until ``key`` has room for one more event (0: room now)."""
        times: deque[float] | None = self._keys.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.window - now

    def add(self, key: str, now: float) -> None:
        """Count one event of ``key`` at ``now`` (the oldest beyond ``limit`` drops)."""
        times = self._keys.get(key) or deque(maxlen=self.limit)
        times.append(now)
        self._keys.touch(key, times)

    def forget(self, key: str) -> None:
        self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)
