"""Password hashes and signed bearer tokens for clerks; no I/O, time injected.

Passwords are hashed with scrypt (RFC 7914) and a random 16-byte salt, and
stored as ``scrypt$N$r$p$salt_b64$hash_b64``. Login tokens are
``payload_b64.signature_b64`` where the payload is ``{"sub", "exp"}`` and the
signature is HMAC-SHA256 under the hub's signing key, so a restarted hub with
the same key still accepts them. Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.errors import AuthError

__all__ = [
    "Clock",
    "IssuedToken",
    "TokenSigner",
    "hash_password",
    "utc_now",
    "verify_password",
]

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
    expires_at: datetime


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
        """Return a fresh token for ``username``."""
        expires_at = (self._clock() + self._lifetime).replace(microsecond=0)
        payload = json.dumps(
            {"sub": username, "exp": int(expires_at.timestamp())}, separators=(",", ":")
        ).encode()
        body = _b64(payload)
        token = f"{body}.{_b64(self._sign(body))}"
        return IssuedToken(token=token, username=username, expires_at=expires_at)

    def verify(self, token: str | None) -> str:
        """Return the username a valid token was issued to.

        Raises:
            AuthError: the token is missing, malformed, forged or expired; the
                caller answers 401 (REST) or closes with 4401 (websocket).
        """
        if not token:
            raise AuthError("missing bearer token 未登录")
        body, _, signature = token.partition(".")
        try:
            given = _unb64(signature)
            claims = json.loads(_unb64(body))
            username, exp = claims["sub"], claims["exp"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AuthError("malformed bearer token 令牌无效") from exc
        if not hmac.compare_digest(given, self._sign(body)):
            raise AuthError("invalid bearer token 令牌无效")
        if not isinstance(username, str) or not isinstance(exp, int):
            raise AuthError("malformed bearer token 令牌无效")
        if self._clock().timestamp() >= exp:
            raise AuthError("bearer token expired 登录已过期")
        return username

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
