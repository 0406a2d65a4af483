"""Schema-driven fuzz of every REST operation (schemathesis) against a real hub.

The hub runs under uvicorn on loopback in a thread of its own (schemathesis
and hypothesis drive synchronous ``requests`` calls). The schema is fetched
from ``/openapi.json`` with the admin's bearer token, so it still works once
the API docs move behind login. Each operation is fuzzed with valid and
invalid inputs, with the admin token and without one:

- with the token: no 5xx, the status code is documented, and the body and
  content type conform to the schema;
- without: no 5xx, and every operation but login says 401.

Bounded to :data:`EXAMPLES` cases per operation, mode and token (~20 s in all).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.app import create_app
from hub.server import HubServer
from tests.hub.conftest import ADMIN_PASSWORD, TIMEOUT, make_config

EXAMPLES = 40
"""Hypothesis examples per operation, generation mode and token."""

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    suppress_health_check=list(HealthCheck),
)

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _operation_labels(*, with_inputs: bool = False) -> list[str]:
    """``METHOD /path`` of every operation (only those taking input, if asked)."""
    schema = create_app(make_config(Path("/nonexistent"))).openapi()
    return [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method, spec in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
        and (not with_inputs or spec.get("parameters") or spec.get("requestBody"))
    ]


def _fuzz_cases() -> list[tuple[str, schemathesis.GenerationMode]]:
    # An operation without inputs has no invalid input to generate.
    negative = schemathesis.GenerationMode.NEGATIVE
    return [(label, schemathesis.GenerationMode.POSITIVE) for label in _operation_labels()] + [
        (label, negative) for label in _operation_labels(with_inputs=True)
    ]


class ThreadedHub:
    """A :class:`HubServer` serving from its own event loop in a daemon thread."""

    def __init__(self, data_dir: Path) -> None:
        self._config = make_config(data_dir)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HubServer | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="fuzz-hub", daemon=True)

    def _main(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            async with HubServer(self._config, admin_password=ADMIN_PASSWORD) as server:
                self._server = server
                ready = asyncio.Event()
                task = asyncio.create_task(server.run(ready=ready))
                waiter = asyncio.create_task(ready.wait())
                await asyncio.wait({task, waiter}, return_when="FIRST_COMPLETED")
                self._ready.set()
                await task

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the test thread by start()
            self._error = exc
            self._ready.set()

    def start(self) -> str:
        self._thread.start()
        assert self._ready.wait(6 * TIMEOUT), "hub did not start"
        if self._error is not None:
            raise self._error
        assert self._server is not None
        return self._server.url

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.stop)
        self._thread.join(4 * TIMEOUT)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    hub = ThreadedHub(tmp_path_factory.mktemp("fuzz-hub"))
    url = hub.start()
    try:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        token = httpx.post(f"{url}/api/login", json=login, timeout=TIMEOUT).json()["token"]
        # The user the fuzz may change instead of admin (see _spare_the_token).
        victim = {"username": VICTIM, "password": "victim password", "role": "clerk"}
        created = httpx.post(
            f"{url}/api/users",
            json=victim,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        assert created.status_code in (200, 201), created.text
        raw = httpx.get(
            f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        ).json()
        yield schemathesis.openapi.from_dict(raw), url, token
    finally:
        hub.stop()


VICTIM = "fuzz-victim"
"""A clerk the fuzz changes in admin's stead, so the fuzzing token stays valid."""


def _spare_the_token(case: schemathesis.Case, url: str, token: str) -> dict[str, str]:
    """Headers for ``case`` that keep the module's admin token usable afterwards.

    Logging out revokes the token that asks, and changing admin's password
    revokes all of admin's sessions: such cases get a token of their own, or
    change another user, so every later example still runs authenticated.
    """
    params = case.path_parameters or {}
    if params.get("username") == "admin":
        params["username"] = VICTIM
    if case.path == "/api/logout":
        # From another address: the login fuzz may have used up 127.0.0.1's
        # allowance of failed logins (per-client throttling).
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
            fresh = client.post(f"{url}/api/login", json=login).json()["token"]
        return {"Authorization": f"Bearer {fresh}"}
    return {"Authorization": f"Bearer {token}"}


def _operation(schema: Any, label: str) -> Any:
    method, path = label.split(" ", 1)
    return schema[path][method]


@pytest.mark.parametrize(("label", "generation"), _fuzz_cases(), ids=str)
def test_schema_fuzz_with_admin_token_no_5xx_and_conforms(
    fuzz_target: tuple[Any, str, str], label: str, generation: schemathesis.GenerationMode
) -> None:
    schema, url, token = fuzz_target
    operation = _operation(schema, label)

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=generation))
    def fuzz(case: schemathesis.Case) -> None:
        headers = _spare_the_token(case, url, token)
        response = case.call(base_url=url, headers=headers, timeout=TIMEOUT)
        checks = (
            CONFORMANCE if generation is schemathesis.GenerationMode.POSITIVE else CONFORMANCE[:1]
        )
        case.validate_response(response, checks=checks)

    fuzz()
    me = httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    assert me.status_code == 200, "the fuzz ran without a valid token"


@pytest.mark.parametrize("label", _operation_labels())
def test_schema_fuzz_without_token_no_5xx_and_401(
    fuzz_target: tuple[Any, str, str], label: str
) -> None:
    schema, url, _ = fuzz_target
    operation = _operation(schema, label)

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def fuzz(case: schemathesis.Case) -> None:
        case.headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
        }
        response = case.call(base_url=url, timeout=TIMEOUT)
        case.validate_response(response, checks=[not_a_server_error])
        if label.split(" ", 1)[1].startswith("/api/") and label != "POST /api/login":
            assert response.status_code == 401, (label, response.status_code)

    fuzz()
