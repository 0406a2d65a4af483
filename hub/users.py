"""Users, roles, login sessions and agent tokens, kept in the archive.

Errors (all :class:`hub.errors.HubError`): :class:`UserNotFoundError`,
:class:`UserExistsError`, :class:`CourtroomNotFoundError`; a refused token is
:class:`hub.errors.AuthError`.

The archive is the one source of truth for who may do what. ``hub.toml``
``[[users]]`` only *seeds* a user that does not exist yet; after that the
archive wins (``courtroom users …``, the admin page, ``PATCH /api/users``).

Roles (one table, :data:`ROLE_RIGHTS`):

===========  =====================  ===============  ======  =====================  =========
role         courtrooms it sees     live / archive   patrol  users, tokens, audit   hearings
===========  =====================  ===============  ======  =====================  =========
clerk        its assigned ones      read             no      no                     order
judge        its assigned ones      read             no      no                     order
supervisor   every courtroom        read             yes     no                     no
admin        every courtroom        read             yes     yes                    no
===========  =====================  ===============  ======  =====================  =========

*Hearings — order*: open, recess, resume and close the hearings of the
courtrooms it sees (``POST /api/courtrooms/{id}/hearing``). A court order
comes from the courtroom's own clerk or judge; supervisors watch and
administrators run the system, neither sits in the courtroom.

A token names a session (``jti``); it is honoured only while the session is
neither revoked nor expired and its user exists and is enabled. The role and
courtrooms are read afresh on every request, so a change applies at once.

:class:`UserDirectory` is blocking (SQLAlchemy); the hub runs it through
:class:`hub.store.ArchiveRunner`, the ``courtroom users`` CLI calls it directly.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from hub.db import AgentTokenRow, CourtroomRow, SessionRow, UserRow, as_utc
from hub.errors import AuthError, HubError

__all__ = [
    "ROLE_RIGHTS",
    "CourtroomNotFoundError",
    "Principal",
    "Role",
    "RoleRights",
    "UserDirectory",
    "UserExistsError",
    "UserInfo",
    "UserNotFoundError",
    "agent_token_hash",
    "new_agent_token",
]

MAX_COURTROOMS_PER_USER: Final = 256


class Role(enum.StrEnum):
    CLERK = "clerk"
    JUDGE = "judge"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class RoleRights:
    every_courtroom: bool
    patrol: bool
    admin: bool
    orders_hearings: bool


ROLE_RIGHTS: Final[Mapping[Role, RoleRights]] = {
    Role.CLERK: RoleRights(every_courtroom=False, patrol=False, admin=False, orders_hearings=True),
    Role.JUDGE: RoleRights(every_courtroom=False, patrol=False, admin=False, orders_hearings=True),
    Role.SUPERVISOR: RoleRights(
        every_courtroom=True, patrol=True, admin=False, orders_hearings=False
    ),
    Role.ADMIN: RoleRights(every_courtroom=True, patrol=True, admin=True, orders_hearings=False),
}


class UserNotFoundError(HubError):
    """No user by that name."""


class UserExistsError(HubError):
    """A user by that name exists already."""


class CourtroomNotFoundError(HubError):
    """No courtroom by that id in the archive."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    username: str
    role: Role
    courtrooms: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role.value,
            "courtrooms": list(self.courtrooms),
            "enabled": self.enabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for, as the archive says right now."""

    username: str
    role: Role
    courtrooms: frozenset[str]
    jti: str
    expires_at: datetime

    @property
    def rights(self) -> RoleRights:
        return ROLE_RIGHTS[self.role]

    def sees(self, courtroom: str) -> bool:
        return self.rights.every_courtroom or courtroom in self.courtrooms


def agent_token_hash(token: str) -> str:
    """The stored form of an agent token (SHA-256 hex; tokens are random)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_agent_token() -> str:
    return secrets.token_urlsafe(32)


def _info(row: UserRow) -> UserInfo:
    created = as_utc(row.created_at)
    assert created is not None
    return UserInfo(
        username=row.username,
        role=Role(row.role),
        courtrooms=tuple(row.courtrooms or ()),
        enabled=row.enabled,
        created_at=created,
        updated_at=as_utc(row.updated_at),
    )


def scoped_courtrooms(role: Role, courtrooms: Iterable[str]) -> list[str]:
    """Courtrooms are kept only for roles limited to them (clerk, judge)."""
    if ROLE_RIGHTS[role].every_courtroom:
        return []
    return sorted(set(courtrooms))


class UserDirectory:
    """Blocking user, session and agent-token operations over one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- users ------------------------------------------------------------

    def list_users(self) -> list[UserInfo]:
        with self._sessions() as session:
            rows = session.scalars(sa.select(UserRow).order_by(UserRow.username))
            return [_info(row) for row in rows]

    def get_user(self, username: str) -> UserInfo | None:
        with self._sessions() as session:
            row = session.get(UserRow, username)
            return None if row is None else _info(row)

    def login_record(self, username: str) -> tuple[str, bool] | None:
        """(password hash, enabled) of ``username``, or None."""
        with self._sessions() as session:
            row = session.get(UserRow, username)
            return None if row is None else (row.password_hash, row.enabled)

    def create_user(
        self,
        username: str,
        *,
        password_hash: str,
        role: Role,
        courtrooms: Iterable[str] = (),
        now: datetime,
    ) -> UserInfo:
        """Raises: UserExistsError: the name is taken."""
        with self._sessions.begin() as session:
            if session.get(UserRow, username) is not None:
                raise UserExistsError(f"user {username!r} exists already 用户已存在")
            row = UserRow(
                username=username,
                password_hash=password_hash,
                role=role.value,
                courtrooms=scoped_courtrooms(role, courtrooms),
                enabled=True,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _info(row)

    def seed_user(
        self,
        username: str,
        *,
        password_hash: str,
        role: Role,
        courtrooms: Iterable[str],
        now: datetime,
    ) -> bool:
        """Create ``username`` unless it exists; never changes an existing user.

        Returns True when the user was created.
        """
        try:
            self.create_user(
                username, password_hash=password_hash, role=role, courtrooms=courtrooms, now=now
            )
        except UserExistsError:
            return False
        return True

    def update_user(
        self,
        username: str,
        *,
        now: datetime,
        password_hash: str | None = None,
        role: Role | None = None,
        courtrooms: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> UserInfo:
        """Change the given fields; disabling also revokes every open session.

        Raises:
            UserNotFoundError: no such user.
        """
        with self._sessions.begin() as session:
            row = session.get(UserRow, username, with_for_update=True)
            if row is None:
                raise UserNotFoundError(f"no user {username!r} 无此用户")
            if password_hash is not None:
                row.password_hash = password_hash
            if role is not None:
                row.role = role.value
            if courtrooms is not None or role is not None:
                given = row.courtrooms if courtrooms is None else courtrooms
                row.courtrooms = scoped_courtrooms(Role(row.role), given or ())
            if enabled is not None:
                row.enabled = enabled
            row.updated_at = now
            if enabled is False or password_hash is not None:
                session.execute(
                    sa.update(SessionRow)
                    .where(SessionRow.username == username, SessionRow.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            session.flush()
            return _info(row)

    def force_admin(self, username: str, *, password_hash: str, now: datetime) -> None:
        """Create or reset the startup ``admin``: this password, role admin, enabled."""
        with self._sessions.begin() as session:
            row = session.get(UserRow, username)
            if row is None:
                session.add(
                    UserRow(
                        username=username,
                        password_hash=password_hash,
                        role=Role.ADMIN.value,
                        courtrooms=[],
                        enabled=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return
            if not hmac.compare_digest(row.password_hash, password_hash):
                row.password_hash = password_hash
            row.role, row.enabled, row.courtrooms, row.updated_at = "admin", True, [], now

    # -- sessions ---------------------------------------------------------

    def open_session(
        self, username: str, *, jti: str, issued_at: datetime, expires_at: datetime, client: str
    ) -> None:
        """Record a login; expired sessions are pruned at the same time (bounded table)."""
        with self._sessions.begin() as session:
            session.execute(sa.delete(SessionRow).where(SessionRow.expires_at < issued_at))
            session.add(
                SessionRow(
                    jti=jti,
                    username=username,
                    issued_at=issued_at,
                    expires_at=expires_at,
                    client=client[:64],
                )
            )

    def revoke_session(self, jti: str, *, now: datetime) -> bool:
        """Revoke one session; True when it was open."""
        with self._sessions.begin() as session:
            result = session.execute(
                sa.update(SessionRow)
                .where(SessionRow.jti == jti, SessionRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return bool(getattr(result, "rowcount", 0))

    def principal(self, username: str, jti: str, *, now: datetime) -> Principal:
        """The principal of a signature-checked token, read fresh from the archive.

        Raises:
            AuthError: the session is unknown, revoked or expired, or its user
                is gone or disabled (the caller answers 401 or closes 4401).
        """
        with self._sessions() as session:
            found = session.execute(
                sa.select(SessionRow, UserRow)
                .join(UserRow, UserRow.username == SessionRow.username)
                .where(SessionRow.jti == jti)
            ).one_or_none()
        if found is None:
            raise AuthError("session unknown, log in again 会话无效，请重新登录")
        row, user = found
        expires_at = as_utc(row.expires_at)
        assert expires_at is not None
        if row.username != username or row.revoked_at is not None:
            raise AuthError("session revoked, log in again 会话已注销，请重新登录")
        if not user.enabled:
            raise AuthError("account disabled 账户已停用")
        if now >= expires_at:
            raise AuthError("bearer token expired 登录已过期")
        return Principal(
            username=username,
            role=Role(user.role),
            courtrooms=frozenset(user.courtrooms or ()),
            jti=jti,
            expires_at=expires_at,
        )

    # -- agent tokens -----------------------------------------------------

    def seed_agent_tokens(self, tokens: Mapping[str, str], *, now: datetime) -> list[str]:
        """Store the configured agent tokens, unless a courtroom's was rotated.

        A hash from the configuration follows the configuration (an edited
        ``hub.toml`` token applies on restart); once rotated, the archive
        wins and the configured token no longer opens the courtroom.

        Returns the courtrooms whose configured token is ignored (rotated).
        """
        ignored = []
        with self._sessions.begin() as session:
            for courtroom, token in tokens.items():
                row = session.get(AgentTokenRow, courtroom)
                digest = agent_token_hash(token)
                if row is None:
                    session.add(
                        AgentTokenRow(
                            courtroom=courtroom, token_hash=digest, source="config", updated_at=now
                        )
                    )
                elif row.source == "config":
                    if row.token_hash != digest:
                        row.token_hash, row.updated_at = digest, now
                elif row.token_hash != digest:
                    ignored.append(courtroom)
        return ignored

    def rotate_agent_token(self, courtroom: str, *, now: datetime) -> str:
        """Give ``courtroom`` a fresh agent token; returns it (only its hash is kept).

        Raises:
            CourtroomNotFoundError: no such courtroom in the archive.
        """
        token = new_agent_token()
        with self._sessions.begin() as session:
            if session.get(CourtroomRow, courtroom) is None:
                raise CourtroomNotFoundError(f"no courtroom {courtroom!r} 无此法庭")
            row = session.get(AgentTokenRow, courtroom)
            if row is None:
                row = AgentTokenRow(courtroom=courtroom)
                session.add(row)
            row.token_hash, row.source, row.updated_at = agent_token_hash(token), "rotated", now
        return token

    def agent_token_hashes(self) -> dict[str, str]:
        with self._sessions() as session:
            rows = session.execute(sa.select(AgentTokenRow.courtroom, AgentTokenRow.token_hash))
            return {courtroom: digest for courtroom, digest in rows}
