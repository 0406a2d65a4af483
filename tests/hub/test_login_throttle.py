"""Login throttling: the pure limiter, the hashing pool, and a flood on a real hub."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

import httpx
import pytest

from hub.throttle import HashPool, HashPoolBusy, LoginThrottle, LoginThrottled
from tests.hub.conftest import COURT, TIMEOUT, RunningHub
from tests.hub.test_agent_ws import final, opened, send_events
from tests.hub.test_users import PASSWORD, add_user, http, login


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_account_window_refuses_then_forgets() -> None:
    ticks = Ticks()
    throttle = LoginThrottle(account_failures=5, account_window=300, clock=ticks)
    for n in range(5):
        throttle.check(client=f"10.0.0.{n}", username="clerk1")
        throttle.failed(client=f"10.0.0.{n}", username="clerk1")
        ticks.now += 10
    with pytest.raises(LoginThrottled, match="登录尝试过多") as info:
        throttle.check(client="10.0.0.99", username="clerk1")
    assert info.value.retry_after == 300 - 50
    throttle.check(client="10.0.0.99", username="other")  # other accounts unaffected
    ticks.now += 251
    throttle.check(client="10.0.0.99", username="clerk1")


def test_throttle_success_clears_account_failures() -> None:
    throttle = LoginThrottle(account_failures=2, clock=Ticks())
    throttle.failed(client="a", username="u")
    throttle.succeeded(username="u")
    throttle.failed(client="b", username="u")
    throttle.check(client="c", username="u")


def test_throttle_client_bucket_refills_at_its_rate() -> None:
    ticks = Ticks()
    throttle = LoginThrottle(client_burst=10, client_per_minute=10, clock=ticks)
    for n in range(10):
        throttle.check(client="10.0.0.1", username=f"user{n}")
        throttle.failed(client="10.0.0.1", username=f"user{n}")
    with pytest.raises(LoginThrottled) as info:
        throttle.check(client="10.0.0.1", username="fresh")
    assert info.value.retry_after == 6  # one token per 6 s
    throttle.check(client="10.0.0.2", username="fresh")  # other clients unaffected
    ticks.now += 6
    throttle.check(client="10.0.0.1", username="fresh")


def test_throttle_memory_is_bounded_lru() -> None:
    throttle = LoginThrottle(max_keys=100, clock=Ticks())
    for n in range(10_000):
        throttle.failed(client=f"c{n}", username=f"u{n}")
    assert throttle.tracked() == (100, 100)


async def test_hash_pool_refuses_at_once_beyond_its_queue() -> None:
    pool = HashPool(workers=1, queue=1)
    release = threading.Event()
    try:
        first = asyncio.create_task(pool.run(release.wait, TIMEOUT))
        second = asyncio.create_task(pool.run(release.wait, TIMEOUT))
        await asyncio.sleep(0)  # both have taken their slot
        started = time.perf_counter()
        with pytest.raises(HashPoolBusy):
            await pool.run(release.wait, TIMEOUT)
        assert time.perf_counter() - started < 0.1 * TIMEOUT
        release.set()
        assert await first and await second
    finally:
        release.set()
        pool.close()


async def _median_ms(client: httpx.AsyncClient, path: str, count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return statistics.median(times)


async def test_login_flood_is_throttled_and_clerk_pages_keep_their_latency(
    hub: RunningHub,
) -> None:
    """40 wrong guesses/s from 127.0.0.1 for 3 s; a clerk reads from 127.0.0.3."""
    agent, _ = await hub.agent()
    await send_events(agent, [opened(1), *(final(n, f"第{n}句", float(n)) for n in range(2, 42))])
    await add_user(hub, "clerk1", "clerk", [COURT])
    await add_user(hub, "victim", "clerk", [COURT])
    clerk_transport = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    async with http(hub, await login(hub, "clerk1"), transport=clerk_transport) as clerk:
        paths = ("/api/hearings/h-1/transcript", f"/api/courtrooms/{COURT}/events?limit=50")
        at_rest = [await _median_ms(clerk, path, 20) for path in paths]

        statuses: list[int] = []
        retry_after: list[str] = []
        under_way = asyncio.Event()  # the first 20 guesses answered: the flood is on

        async def guess(attacker: httpx.AsyncClient, n: int) -> None:
            response = await attacker.post(
                "/api/login", json={"username": "victim", "password": f"guess-{n}"}
            )
            statuses.append(response.status_code)
            if len(statuses) >= 20:
                under_way.set()
            if response.status_code == 429:
                retry_after.append(response.headers["retry-after"])
                assert "登录尝试过多" in response.json()["detail"]

        async def flood() -> None:
            async with http(hub) as attacker, asyncio.TaskGroup() as group:
                for n in range(120):  # 40/s for 3 s, paced, never waiting on replies
                    group.create_task(guess(attacker, n))
                    await asyncio.sleep(1 / 40)

        flooding = asyncio.create_task(flood())
        await asyncio.wait_for(under_way.wait(), TIMEOUT)
        during = [await _median_ms(clerk, path, 20) for path in paths]
        other_transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with http(hub, transport=other_transport) as other:
            admin = await other.post(
                "/api/login", json={"username": "admin", "password": hub.admin_password}
            )
            locked = await other.post(
                "/api/login", json={"username": "victim", "password": PASSWORD}
            )
        await flooding
    print(f"\nlogin flood: statuses {sorted(set(statuses))}, 429s {statuses.count(429)}/120, "
          f"median ms at rest {at_rest}, during {during}")  # fmt: skip
    assert admin.status_code == 200  # another account from another client
    assert locked.status_code == 429  # the flooded account is locked for its window
    assert statuses.count(401) <= 10 and statuses.count(429) >= 80  # the rest: 503 busy
    assert set(statuses) <= {401, 429, 503}
    assert retry_after and all(1 <= int(value) <= 300 for value in retry_after)
    for rest, flood_ms in zip(at_rest, during, strict=True):
        assert flood_ms <= max(5 * rest, rest + 50), (at_rest, during)
