"""Everything one running hub shares between its endpoints, and its startup.

:func:`open_hub_state` is the blocking startup (runs in a thread): open the
archive, migrate it, create the configured courtrooms, seed the configured
users and agent tokens, set the admin password, load the token signing key,
read each courtroom's hearing state back from its newest lifecycle event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from starlette.websockets import WebSocketDisconnect

from courtroom_core.wire import CLOSE_UNAUTHORIZED
from hub.audit import Action, AuditLog, AuditQueue, AuditRecord
from hub.compliance_live import ComplianceBoard
from hub.config import HubConfig, default_data_dir
from hub.db import migrate, open_engine
from hub.errors import AuthError, ConfigError
from hub.hearing_ledger import ledger_events
from hub.hearing_state import HearingStatus, states_from_archive
from hub.live import LiveBroadcaster, StatusBoard
from hub.security import (
    Clock,
    IssuedToken,
    TokenSigner,
    hash_password,
    load_key_file,
    verify_password,
)
from hub.store import Archive, ArchiveRunner
from hub.throttle import HashPool, LoginThrottle
from hub.users import Principal, Role, UserDirectory, agent_token_hash

__all__ = ["HubState", "open_hub_state"]

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
TOKEN_KEY_FILE = "token.key"


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
    users: UserDirectory
    audit_log: AuditLog
    agent_hashes: dict[str, str]
    names: Mapping[str, str]
    clock: Clock
    broadcaster: LiveBroadcaster
    board: StatusBoard
    throttle: LoginThrottle
    hash_pool: HashPool = field(default_factory=HashPool)
    thumbnails: ThumbnailBoard = field(default_factory=ThumbnailBoard)
    audit: AuditQueue | None = None
    compliance: ComplianceBoard | None = None
    """The five lights of each courtroom's current hearing (:mod:`hub.compliance_live`)."""

    def check_agent_token(self, courtroom: str, token: str) -> None:
        """Accept the agent of ``courtroom`` only with its current token.

        The token's hash is compared with the archive's (cached, refreshed by
        :meth:`watch_agent_tokens` and at once after a rotation here).

        Raises:
            AuthError: unknown courtroom or wrong token (the same message for
                both, so a caller cannot probe which courtrooms exist).
        """
        expected = self.agent_hashes.get(courtroom, "") if courtroom in self.names else ""
        ok = hmac.compare_digest(agent_token_hash(token), expected or "\0" * 64)
        if not (ok and expected):
            raise AuthError("unknown courtroom or wrong token 法庭令牌无效")

    def set_hearing(self, courtroom: str, hearing: HearingStatus) -> None:
        """Record the courtroom's hearing state; a change is pushed to its pages and
        the patrol wall as ``{"type": "hearing_state", …}`` (see :mod:`hub.live`)."""
        if self.board.set_hearing(courtroom, hearing):
            message = {
                "type": "hearing_state",
                "courtroom": courtroom,
                "hearing_state": hearing.to_json(),
            }
            self.broadcaster.publish(courtroom, message)

    def record(
        self,
        action: Action,
        *,
        actor: str | None = None,
        target: str = "",
        client: str = "",
        status: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Queue one audit record (never blocks; see :class:`hub.audit.AuditQueue`)."""
        if self.audit is not None:
            self.audit.record(
                AuditRecord(
                    at=self.clock(),
                    action=action,
                    actor=actor,
                    target=target,
                    client=client,
                    status=status,
                    detail=detail or {},
                )
            )

    async def login(self, username: str, password: str, *, client: str) -> IssuedToken:
        """Check the password (throttled, on the hash pool) and open a session.

        Raises:
            LoginThrottled: too many failures for this account or client (429).
            HashPoolBusy: every hashing slot is taken (503).
            AuthError: unknown user, disabled user or wrong password (one message).
        """
        self.throttle.check(client=client, username=username)
        record = await self.runner.read(self.users.login_record, username)
        stored, enabled = record if record is not None else (None, False)
        ok = await self.hash_pool.run(verify_password, password, stored)
        if not (ok and enabled):
            self.throttle.failed(client=client, username=username)
            self.record(Action.LOGIN_FAILED, actor=username, client=client, status=401)
            raise AuthError("wrong username or password 用户名或密码错误")
        self.throttle.succeeded(username=username)
        issued = self.signer.issue(username)
        await self.runner.write(
            self.users.open_session,
            username,
            jti=issued.jti,
            issued_at=issued.issued_at,
            expires_at=issued.expires_at,
            client=client,
        )
        self.record(Action.LOGIN_OK, actor=username, client=client, status=200)
        return issued

    async def authenticate(self, token: str | None) -> Principal:
        """The principal of a bearer token, read fresh from the archive.

        Raises:
            AuthError: missing, forged, expired or revoked token, or a user
                who is gone or disabled.
        """
        claims = self.signer.verify(token)
        return await self.runner.read(
            self.users.principal, claims.username, claims.jti, now=self.clock()
        )

    async def hash_new_password(self, password: str) -> str:
        """scrypt ``password`` on the hash pool. Raises: HashPoolBusy."""
        return await self.hash_pool.run(hash_password, password)

    async def rotate_agent_token(self, courtroom: str) -> str:
        """New agent token for ``courtroom``; its connected agent is closed 4401.

        Raises:
            CourtroomNotFoundError: no such courtroom in the archive.
        """
        token = await self.runner.write(self.users.rotate_agent_token, courtroom, now=self.clock())
        await self.refresh_agent_tokens()
        return token

    async def refresh_agent_tokens(self) -> None:
        """Reload agent token hashes; drop an agent whose token was rotated."""
        fresh = await self.runner.read(self.users.agent_token_hashes)
        changed = [c for c, digest in fresh.items() if self.agent_hashes.get(c) != digest]
        self.agent_hashes = fresh
        for courtroom in changed:
            agent = self.board.agent(courtroom)
            if agent is not None:
                log.warning("agent token of %s rotated; closing its agent", courtroom)
                close = getattr(agent, "close", None)
                if close is not None:  # a starlette WebSocket (opaque to the board)
                    with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                        await close(CLOSE_UNAUTHORIZED, "agent token rotated 法庭令牌已更换")

    async def watch_agent_tokens(self) -> None:
        """Pick up rotations made by another process (``courtroom users``)."""
        failing = False
        while True:
            await asyncio.sleep(self.config.auth.session_recheck)
            try:
                await self.refresh_agent_tokens()
            except Exception:  # task boundary: keep watching; log the first failure only
                if not failing:
                    log.exception("cannot reload agent tokens; keeping the cached ones")
                failing = True
            else:
                if failing:
                    log.info("agent tokens reloaded again")
                failing = False


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
            ``auth.admin_password_env``); ``admin`` gets role admin.
        env: where ``*_env`` settings are looked up (default ``os.environ``).

    Raises:
        ConfigError: a ``token_env`` or ``admin_password_env`` is unset, or
            the token key file is unusable.
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
    users = UserDirectory(engine)
    now = clock()
    for user in config.users:
        if users.seed_user(
            user.username,
            password_hash=user.password_hash,
            role=Role(user.role),
            courtrooms=user.courtrooms,
            now=now,
        ):
            log.info("user %r created from the configuration", user.username)
    if admin_password:
        users.force_admin(ADMIN_USERNAME, password_hash=hash_password(admin_password), now=now)
        log.info("password of user %r set from startup options", ADMIN_USERNAME)
    for courtroom in users.seed_agent_tokens(tokens, now=now):
        log.warning("agent token of %s was rotated; its configured token is ignored", courtroom)
    board = StatusBoard()
    for courtroom, hearing in states_from_archive(
        lambda c, kind: next(iter(archive.events(c, kind=kind, limit=1, newest_first=True)), None),
        [c.id for c in config.courtrooms],
    ).items():
        board.set_hearing(courtroom, hearing)
    auth = config.auth
    runner = ArchiveRunner(archive)
    broadcaster = LiveBroadcaster()

    async def load_ledger(hearing_id: str) -> list[tuple[str, dict[str, Any]]] | None:
        found = await runner.read(ledger_events, archive, hearing_id)
        return None if found is None else found[1]

    return HubState(
        config=config,
        runner=runner,
        signer=TokenSigner(
            key=_signing_key(config, env),
            lifetime=timedelta(seconds=auth.token_lifetime),
            clock=clock,
        ),
        users=users,
        audit_log=AuditLog(engine),
        agent_hashes=users.agent_token_hashes(),
        names={c.id: c.name for c in config.courtrooms},
        clock=clock,
        broadcaster=broadcaster,
        board=board,
        compliance=ComplianceBoard(broadcaster.publish, loader=load_ledger),
        throttle=LoginThrottle(
            account_failures=auth.login_failures_per_account,
            account_window=auth.login_failure_window,
            client_burst=max(1, int(auth.login_failures_per_client_minute)),
            client_per_minute=auth.login_failures_per_client_minute,
        ),
    )


def _signing_key(config: HubConfig, env: Mapping[str, str]) -> bytes:
    """``auth.token_secret_env`` if set and long enough, else ``data_dir/token.key``."""
    if config.auth.token_secret_env:
        secret = env.get(config.auth.token_secret_env, "")
        if len(secret.encode()) >= 32:
            return secret.encode()
        log.warning(
            "%s is unset or shorter than 32 bytes; using %s",
            config.auth.token_secret_env,
            TOKEN_KEY_FILE,
        )
    path = (config.data_dir or default_data_dir()) / TOKEN_KEY_FILE
    try:
        return load_key_file(path)
    except (OSError, ValueError) as exc:
        raise ConfigError("<data_dir>", [f"{TOKEN_KEY_FILE}: {exc}"]) from exc
