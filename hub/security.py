"""Password hashes and signed bearer tokens for clerks; no I/O, time injected.

Passwords are hashed with scrypt (RFC 7914) and a random 16-byte salt, and
stored as ``scrypt$N$r$p$salt_b64$hash_b64``. Login tokens are
``payload_b64.signature_b64`` where the payload is ``{"sub", "exp", "jti"}``
and the signature is HMAC-SHA256 under the hub's signing key, so a restarted
hub with the same key still accepts them. ``jti`` names the login session in
the archive (:mod:`hub.users`): a valid signature alone is not enough, the
session must exist, be open, and belong to an enabled user. Every comparison
is constant-time.

The signing key lives outside the archive (:func:`load_key_file`): a copy of
the database alone cannot mint tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.errors import AuthError

__all__ = [
    "Clock",
    "IssuedToken",
    "TokenClaims",
    "TokenSigner",
    "hash_password",
    "load_key_file",
    "utc_now",
    "verify_password",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""

_N, _R, _P = 2**14, 8, 1
_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Return the storable scrypt hash of ``password``.

    Raises:
        ValueError: the password is empty.
    """
    if not password:
        raise ValueError("password must not be empty")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; ``None`` (no such user) is never a match.

    The work done is the same whether or not the user exists, so response
    time does not reveal which usernames are valid.
    """
    try:
        _, n, r, p, salt_b64, hash_b64 = (stored or _DUMMY_HASH).split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        n_, r_, p_ = int(n), int(r), int(p)
    except (ValueError, binascii.Error):
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n_, r=r_, p=p_, dklen=len(expected) or 32, maxmem=2**26
    )
    return hmac.compare_digest(digest, expected) and stored is not None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    username: str
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token with a good signature says; the session is not checked yet."""

    username: str
    jti: str
    expires_at: datetime


def load_key_file(path: Path) -> bytes:
    """Read the token signing key at ``path``, creating it (mode 0600) if absent.

    Raises:
        OSError: the file cannot be created or read.
        ValueError: the file does not hold a 64-hex-digit key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            log.warning("%s is readable by other users; chmod 600 it", path)
    else:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        log.info("created token signing key %s", path)
    key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    if len(key) < 32:
        raise ValueError(f"{path}: signing key shorter than 32 bytes")
    return key


class TokenSigner:
    """Issues and checks clerks' bearer tokens.

    Args:
        key: the HMAC key (at least 32 bytes).
        lifetime: how long an issued token stays valid.
        clock: the current UTC time.

    Raises:
        ValueError: the key is shorter than 32 bytes.
    """

    def __init__(self, *, key: bytes, lifetime: timedelta, clock: Clock = utc_now) -> None:
        if len(key) < 32:
            raise ValueError("token key must be at least 32 bytes")
        self._key = key
        self._lifetime = lifetime
        self._clock = clock

    def issue(self, username: str) -> IssuedToken:
        """Return a fresh token for ``username`` with a new random session id."""
        issued_at = self._clock()
        expires_at = (issued_at + self._lifetime).replace(microsecond=0)
        jti = secrets.token_hex(16)
        payload = json.dumps(
            {"sub": username, "exp": int(expires_at.timestamp()), "jti": jti},
            separators=(",", ":"),
        ).encode()
        body = _b64(payload)
        token = f"{body}.{_b64(self._sign(body))}"
        return IssuedToken(
            token=token, username=username, jti=jti, issued_at=issued_at, expires_at=expires_at
        )

    def verify(self, token: str | None) -> TokenClaims:
        """Return the claims of a token with a good signature that has not expired.

        Raises:
            AuthError: the token is missing, malformed, forged or expired; the
                caller answers 401 (REST) or closes with 4401 (websocket).
        """
        if not token:
            raise AuthError("missing bearer token 未登录")
        body, _, signature = token.partition(".")
        try:
            given = _unb64(signature)
            if len(token) > 1024:
                raise ValueError("token too long")
            claims = json.loads(_unb64(body))
            username, exp, jti = claims["sub"], claims["exp"], claims["jti"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AuthError("malformed bearer token 令牌无效") from exc
        if not hmac.compare_digest(given, self._sign(body)):
            raise AuthError("invalid bearer token 令牌无效")
        if not (
            isinstance(username, str)
            and isinstance(jti, str)
            and isinstance(exp, int)
            and 0 < exp < 2**40
        ):
            raise AuthError("malformed bearer token 令牌无效")
        if self._clock().timestamp() >= exp:
            raise AuthError("bearer token expired 登录已过期")
        return TokenClaims(username=username, jti=jti, expires_at=datetime.fromtimestamp(exp, UTC))

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
