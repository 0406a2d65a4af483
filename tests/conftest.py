"""Shared test setup: real servers are started by the fixture plugins below.

Tests that need a system part (PulseAudio, Mosquitto, ffmpeg, Chromium,
PostgreSQL, a font) skip without it, so a developer can run a subset on a
bare machine. ``make test`` sets ``COURTROOM_NO_SKIP=1``: there every part is
installed by ``make setup``, and a skipped test fails the run, so a missing
install step cannot hide behind a green suite.
"""

pytest_plugins = [
    "tests.fixtures.pulse",
    "tests.fixtures.speech",
    "tests.fixtures.mosquitto",
    "tests.fixtures.camera_stream",
    "tests.fixtures.rtsp_server",
    "tests.fixtures.no_skip",
    "pytester",
]
