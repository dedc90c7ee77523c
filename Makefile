# video-pipeline: `make demo` runs the main job, `make test` runs the tests.
# Both install what they need: .venv with the pinned requirements, and Debian's
# ffmpeg, espeak-ng, npm and chromium (browser tests) when they are missing and we run as root; the npm packages.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt images/worker/requirements.txt images/worker/pyproject.toml | sha1sum | cut -c1-12)
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | sha1sum | cut -c1-12)
PACKAGER_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x64)
SYSTEM_TOOLS := ffmpeg ffprobe espeak-ng npm chromium
PYTEST_ARGS ?=

export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help demo up down env test bench system-deps venv clean

help:
	@echo "make demo   run the DAG on a sample video (or VIDEO=path) against the local stack; prints the page URL"
	@echo "make up     start the local stack: moto (S3, DynamoDB) and Airflow on http://localhost:8080"
	@echo "make down   stop it (Airflow's database and logs stay in .airflow/)"
	@echo "make env    print export lines: eval \"\$$(make -s env)\" to use the airflow CLI against it"
	@echo "make test   run the test suite"
	@echo "make bench  measure every stage, the orchestration overhead and the trigger latency; write BENCHMARKS.md"

demo: system-deps $(STAMP) $(NODE_STAMP)
	$(PY) scripts/stack.py demo $(if $(VIDEO),--video "$(VIDEO)")

up: system-deps $(STAMP) $(NODE_STAMP)
	$(PY) scripts/stack.py up

down:  # the standard library is enough, so this works even after make clean
	$(PYTHON) scripts/stack.py down

env: $(STAMP)
	@$(PY) scripts/stack.py env

test: system-deps $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: system-deps $(STAMP) $(NODE_STAMP)
	$(PY) bench/run.py
	$(PY) bench/dag_overhead.py
	$(PY) bench/trigger_latency.py
	$(PY) bench/streaming.py

venv: $(STAMP)

$(STAMP): requirements.txt images/worker/requirements.txt images/worker/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found " + sys.version.split()[0] + ")")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e images/worker
	rm -f $(VENV)/.installed-*
	touch $@

# npm packages (package-lock.json): the page's player and Shaka Packager, which the
# package stage finds on PATH as `packager` (linked into the venv's bin).
$(NODE_STAMP): package.json package-lock.json $(STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	ln -sf "$(abspath node_modules/shaka-packager/bin/packager-linux-$(PACKAGER_ARCH))" $(VENV)/bin/packager
	rm -f node_modules/.installed-*
	touch $@

system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages ffmpeg espeak-ng nodejs npm chromium (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg espeak-ng nodejs npm chromium >/dev/null; \
	  else \
	    echo "Missing:$$missing. Install the Debian/Ubuntu packages 'ffmpeg', 'espeak-ng', 'nodejs', 'npm' and 'chromium' (sudo apt-get install ffmpeg espeak-ng nodejs npm chromium), then run make again." >&2; \
	    exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) node_modules .cache .pytest_cache bench/out test-artifacts
