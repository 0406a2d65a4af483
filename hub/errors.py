"""Errors raised by the hub, one tree rooted at :class:`HubError`.

::

    HubError
    ├── ConfigError              the configuration file or values are invalid
    ├── AuthError                a login, bearer token or courtroom token is wrong
    ├── ArchiveError             the archive database cannot be opened or migrated
    ├── SeqConflict              hub.quarantine: a seq already held with another body
    ├── SeqGap                   hub.quarantine: an event skipping ahead of acked_seq + 1
    ├── Unstorable               hub.quarantine: an event the archive cannot apply
    ├── LoginThrottled           hub.throttle: too many failed logins (429 + Retry-After)
    ├── HashPoolBusy             hub.throttle: the password-hashing pool is full (503)
    ├── UserNotFoundError        hub.users
    ├── UserExistsError          hub.users
    ├── CourtroomNotFoundError   hub.users: no such courtroom (agent-token rotation)
    └── BodyTooLargeError        hub.edge_asgi: a request body over [limits] (413)

Wire-format problems raise :class:`courtroom_core.wire.WireError` (a ``ValueError``;
:class:`courtroom_core.wire.BodyError` for an event whose seq and kind are valid but
whose body is not, which the hub quarantines); the websocket endpoints turn
those into close frames and keep serving.
"""

from __future__ import annotations

from collections.abc import Sequence

from courtroom_core.errors import CourtroomError

__all__ = ["ArchiveError", "AuthError", "ConfigError", "HubError"]


class HubError(CourtroomError):
    """Base class of every error the hub raises on purpose."""


class ConfigError(HubError):
    """The configuration is invalid.

    Attributes:
        source: the file name (or ``"<config>"`` for values built in code).
        problems: one line per problem, each starting with its key path.
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: invalid hub configuration 配置无效:\n{lines}")


class AuthError(HubError):
    """Credentials were missing, wrong or expired. The message is safe to show."""


class ArchiveError(HubError):
    """The archive database could not be opened or brought up to date."""
