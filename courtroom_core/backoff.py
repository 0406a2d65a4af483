"""Retry policy shared by every reconnecting part: hub link, MQTT, serial reopen.

Two pieces, no I/O:

* :class:`BackoffPolicy` — a frozen description of jittered exponential
  backoff; :meth:`BackoffPolicy.delays` yields the waits, :class:`Backoff`
  wraps that generator with :meth:`Backoff.reset` after a success.
* :func:`classify` — one function deciding what a failure means for the
  retry loop (:class:`ErrorClass`).

A retry loop looks like::

    backoff = Backoff(policy)
    while True:
        try:
            await connect_and_serve(on_connected=backoff.reset)
        except Exception as exc:          # the task boundary
            match classify(exc):
                case ErrorClass.FATAL:
                    raise
                case ErrorClass.CONFIG:
                    delay = policy.maximum
                case ErrorClass.TRANSIENT:
                    delay = backoff.next()
            await sleep(delay)
"""

from __future__ import annotations

import enum
import random as _random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["Backoff", "BackoffPolicy", "ErrorClass", "classify"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    """Jittered exponential backoff.

    The n-th wait (from 0) is ``base = min(maximum, initial * factor**n)``
    shortened by up to ``jitter`` of itself: a value in
    ``(base * (1 - jitter), base]``. ``jitter=0`` gives the plain sequence,
    ``jitter=1`` "full jitter". Jitter keeps a room full of agents from
    reconnecting to a restarted hub in lock step.

    Raises:
        ValueError: on construction, if ``initial`` or ``maximum`` is not
            positive, ``maximum < initial``, ``factor < 1`` or ``jitter`` is
            outside ``[0, 1]``.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValueError("backoff initial must be > 0")
        if not self.maximum >= self.initial:
            raise ValueError("backoff maximum must be >= initial")
        if not self.factor >= 1:
            raise ValueError("backoff factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must be within [0, 1]")

    def delays(self, *, random: Callable[[], float] = _random.random) -> Iterator[float]:
        """Yield waits in seconds, forever.

        Args:
            random: returns a float in ``[0, 1)``; inject a seeded
                ``random.Random().random`` for reproducible tests.
        """
        base = self.initial
        while True:
            yield base * (1.0 - self.jitter * random())
            base = min(self.maximum, base * self.factor)


class Backoff:
    """The stateful side of a :class:`BackoffPolicy`: next wait, reset on success."""

    def __init__(
        self, policy: BackoffPolicy, *, random: Callable[[], float] = _random.random
    ) -> None:
        self.policy = policy
        self._random = random
        self._delays = policy.delays(random=random)
        self.failures = 0
        """Failures since the last :meth:`reset`."""

    def next(self) -> float:
        """Return the wait before the next attempt and count a failure."""
        self.failures += 1
        return next(self._delays)

    def reset(self) -> None:
        """Start over from ``initial``; call after a successful attempt."""
        self.failures = 0
        self._delays = self.policy.delays(random=self._random)


class ErrorClass(enum.Enum):
    """What a failure means for a retry loop."""

    TRANSIENT = "transient"
    """Network or device hiccup: retry with backoff."""
    CONFIG = "config"
    """Credentials, permissions or address are wrong: an operator must fix
    the configuration. Log loudly once, retry at ``maximum`` so a fix on the
    other side is picked up without restarting the agent."""
    FATAL = "fatal"
    """A bug or an unusable local resource: do not retry, let it propagate."""


def classify(exc: BaseException) -> ErrorClass:
    """Decide how a retry loop treats ``exc``.

    An exception may decide for itself with an ``error_class`` attribute
    holding an :class:`ErrorClass` (the protocol-specific errors of the hub
    link, MQTT and serial layers do). Otherwise:

    * ``PermissionError`` → CONFIG (e.g. serial port without the dialout group);
    * ``TimeoutError``, ``ConnectionError``, other ``OSError`` (unplugged
      device, refused or reset connection, DNS failure) and ``EOFError``
      → TRANSIENT;
    * anything else → FATAL.
    """
    declared = getattr(exc, "error_class", None)
    if isinstance(declared, ErrorClass):
        return declared
    if isinstance(exc, PermissionError):
        return ErrorClass.CONFIG
    if isinstance(exc, OSError | EOFError):  # TimeoutError, ConnectionError are OSErrors
        return ErrorClass.TRANSIENT
    return ErrorClass.FATAL
