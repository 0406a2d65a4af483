"""Everything one running hub shares between its endpoints, and its startup.

:func:`open_hub_state` is the blocking startup (runs in a thread): open the
archive, migrate it, create the configured courtrooms and users, set the
admin password, load the token signing key.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from hub.config import HubConfig
from hub.db import migrate, open_engine
from hub.errors import AuthError
from hub.live import LiveBroadcaster, StatusBoard
from hub.security import Clock, TokenSigner, hash_password, verify_password
from hub.store import Archive, ArchiveRunner

__all__ = ["HubState", "open_hub_state"]

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"


class ThumbnailBoard:
    """Each camera's latest thumbnail, in memory (the patrol wall; never archived).

    Bounded: one picture per (courtroom, camera), each at most
    ``wire.MAX_THUMBNAIL_BYTES``, and at most ``max_cameras`` cameras per
    courtroom; pictures of further cameras are not kept (overflow policy).
    """

    def __init__(self, *, max_cameras: int = 16) -> None:
        self._max = max_cameras
        self._latest: dict[str, dict[str, tuple[bytes, float]]] = {}

    def put(self, courtroom: str, camera: str, jpeg: bytes, time: float) -> None:
        cameras = self._latest.setdefault(courtroom, {})
        if camera not in cameras and len(cameras) >= self._max:
            return
        cameras[camera] = (jpeg, time)

    def get(self, courtroom: str, camera: str) -> tuple[bytes, float] | None:
        return self._latest.get(courtroom, {}).get(camera)

    def cameras(self, courtroom: str) -> list[str]:
        return sorted(self._latest.get(courtroom, {}))


@dataclass(slots=True)
class HubState:
    config: HubConfig
    runner: ArchiveRunner
    signer: TokenSigner
    tokens: Mapping[str, str]
    names: Mapping[str, str]
    clock: Clock
    broadcaster: LiveBroadcaster
    board: StatusBoard
    thumbnails: ThumbnailBoard = field(default_factory=ThumbnailBoard)

    def check_agent_token(self, courtroom: str, token: str) -> None:
        """Accept the agent of ``courtroom`` only with its configured token.

        Raises:
            AuthError: unknown courtroom or wrong token (the same message for
                both, so a caller cannot probe which courtrooms exist).
        """
        expected = self.tokens.get(courtroom, "")
        ok = hmac.compare_digest(token.encode(), (expected or "\0" * 32).encode())
        if not (ok and expected):
            raise AuthError("unknown courtroom or wrong token 法庭令牌无效")

    async def login(self, username: str, password: str) -> str:
        """Return the username when the password is right.

        Raises:
            AuthError: unknown user or wrong password (one message for both).
        """
        stored = await self.runner.read(self.runner.archive.password_hash, username)
        if not await self.runner.read(verify_password, password, stored):
            raise AuthError("wrong username or password 用户名或密码错误")
        return username


def open_hub_state(
    config: HubConfig,
    *,
    clock: Clock,
    admin_password: str | None = None,
    env: Mapping[str, str] | None = None,
) -> HubState:
    """Open and migrate the archive and prepare the shared state.

    Args:
        config: the validated configuration.
        clock: current UTC time, used for tokens and timestamps.
        admin_password: sets the password of user ``admin`` (overrides
            ``auth.admin_password_env``).
        env: where ``*_env`` settings are looked up (default ``os.environ``).

    Raises:
        ConfigError: a ``token_env`` or ``admin_password_env`` is unset.
        ArchiveError: the database cannot be opened or migrated.
    """
    env = os.environ if env is None else env
    tokens = config.courtroom_tokens(env)
    if admin_password is None and config.auth.admin_password_env:
        admin_password = env.get(config.auth.admin_password_env) or None
    engine = open_engine(config.database_url())
    migrate(engine)
    archive = Archive(engine, status_every=config.database.status_every_s)
    archive.ensure_courtrooms((c.id, c.name) for c in config.courtrooms)
    now = clock()
    for user in config.users:
        archive.set_user(user.username, user.password_hash, now=now)
    if admin_password:
        archive.set_user(ADMIN_USERNAME, hash_password(admin_password), now=now)
        log.info("password of user %r set from startup options", ADMIN_USERNAME)
    key = archive.token_key()
    if config.auth.token_secret_env:
        secret = env.get(config.auth.token_secret_env, "")
        if len(secret.encode()) >= 32:
            key = secret.encode()
        else:
            log.warning(
                "%s is unset or shorter than 32 bytes; using the archive's key",
                config.auth.token_secret_env,
            )
    signer = TokenSigner(
        key=key, lifetime=timedelta(seconds=config.auth.token_lifetime), clock=clock
    )
    return HubState(
        config=config,
        runner=ArchiveRunner(archive),
        signer=signer,
        tokens=tokens,
        names={c.id: c.name for c in config.courtrooms},
        clock=clock,
        broadcaster=LiveBroadcaster(),
        board=StatusBoard(),
    )
