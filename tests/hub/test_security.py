"""Password hashing and bearer tokens, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.errors import AuthError
from hub.security import TokenSigner, hash_password, load_key_file, verify_password

KEY = b"k" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_password_hash_verifies_and_is_salted() -> None:
    first, second = hash_password("法庭 pw"), hash_password("法庭 pw")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("法庭 pw", first) and verify_password("法庭 pw", second)
    assert not verify_password("法庭 PW", first)


def test_password_unknown_user_or_garbage_hash_never_matches() -> None:
    assert not verify_password("anything", None)
    assert not verify_password("anything", "scrypt$x$y")
    with pytest.raises(ValueError):
        hash_password("")


def test_token_round_trip_and_expiry() -> None:
    clock = FakeClock()
    signer = TokenSigner(key=KEY, lifetime=timedelta(hours=1), clock=clock)
    issued = signer.issue("clerk")
    assert issued.expires_at == clock.now + timedelta(hours=1)
    assert signer.verify(issued.token).username == "clerk"
    clock.now += timedelta(minutes=59, seconds=59)
    assert signer.verify(issued.token).username == "clerk"
    clock.now += timedelta(seconds=1)
    with pytest.raises(AuthError, match="expired"):
        signer.verify(issued.token)


@pytest.mark.parametrize("token", [None, "", "abc", "a.b", "eyJ9.AAAA", "x" * 500])
def test_token_malformed_is_refused(token: str | None) -> None:
    signer = TokenSigner(key=KEY, lifetime=timedelta(hours=1))
    with pytest.raises(AuthError):
        signer.verify(token)


def test_token_from_another_key_is_refused() -> None:
    clock = FakeClock()
    token = TokenSigner(key=b"o" * 32, lifetime=timedelta(hours=1), clock=clock).issue("x").token
    with pytest.raises(AuthError, match="invalid"):
        TokenSigner(key=KEY, lifetime=timedelta(hours=1), clock=clock).verify(token)


def test_token_short_key_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenSigner(key=b"short", lifetime=timedelta(hours=1))


def test_key_file_is_created_0600_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "token.key"
    key = load_key_file(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_key_file(path) == key


def test_key_file_too_short_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    path.write_text("abcd\n")
    with pytest.raises(ValueError, match="shorter"):
        load_key_file(path)
