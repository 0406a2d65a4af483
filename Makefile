# Digital courtroom — the two commands a newcomer needs:
#   make demo   start a hub and a demo courtroom, print the URL and login
#   make test   run every gate: format, lint, types, the whole test suite
# Both run `make setup` first; it is idempotent and fast when nothing is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
COURTROOM := $(VENV)/bin/courtroom
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

# Debian packages: audio capture and playback, the MQTT broker, a browser for
# the page tests, PostgreSQL for the archive tests, a Python venv for uv,
# GStreamer's RTSP server (an IP camera for the camera tests).
APT_PACKAGES := portaudio19-dev pulseaudio pulseaudio-utils sox ffmpeg mosquitto \
	chromium fonts-wqy-microhei fonts-dejavu-core fontconfig postgresql python3-venv python3-dev gcc make ca-certificates \
	python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad

DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: help setup system-packages python-env models demo test check lint format typecheck pytest bench clean

help:
	@echo "make demo   — run the demo courtroom (hub + agent), prints URL and login"
	@echo "make test   — format/lint/type gates and the whole test suite"
	@echo "make setup  — install system packages, Python env, Vosk model, demo speech"
	@echo "make bench  — latency, capacity and accuracy benchmarks; write their figures into README.md"

setup: system-packages python-env models

system-packages:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install -q 'uv>=0.4'

python-env: $(UV)
	@$(UV) sync --frozen --quiet

models: python-env
	@$(COURTROOM) models install --quiet
	@$(COURTROOM) models vad --quiet
	@$(COURTROOM) models samples --quiet

demo: setup
	$(COURTROOM) demo $(DEMO_ARGS)

test: setup check pytest

check: format lint typecheck

format:
	$(VENV)/bin/ruff format --check .

lint:
	$(VENV)/bin/ruff check .

typecheck:
	$(VENV)/bin/mypy

pytest:
	COURTROOM_NO_SKIP=1 $(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/latency.py --update-readme README.md
	$(PY) bench/streams.py --update-readme README.md
	$(PY) bench/accuracy.py --update-readme README.md
	$(PY) bench/accuracy.py --curve --update-readme README.md
	$(PY) bench/recording.py --update-readme README.md
	$(PY) bench/floods.py --update-readme README.md
	$(PY) bench/five_sync.py --update-readme README.md
	$(PY) bench/display_latency.py --update-readme README.md

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache
