"""Shared test setup: real servers are started by the fixture plugins below."""

pytest_plugins = [
    "tests.fixtures.pulse",
    "tests.fixtures.speech",
    "tests.fixtures.mosquitto",
    "tests.fixtures.camera_stream",
    "tests.fixtures.rtsp_server",
]
