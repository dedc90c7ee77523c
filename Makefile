# video-pipeline: `make demo` runs the main job, `make test` runs the tests.
# Both install what they need: .venv with the pinned requirements, the npm packages, and the
# Debian/Ubuntu packages of whichever system tools are missing (scripts/system-deps.sh).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-airflow.txt images/worker/requirements.txt images/worker/requirements-no-deps.txt images/worker/pyproject.toml contract/pyproject.toml | sha1sum | cut -c1-12)
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | sha1sum | cut -c1-12)
PACKAGER_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x64)
DEMO_TOOLS := venv ffmpeg ffprobe espeak-ng npm
TEST_TOOLS := $(DEMO_TOOLS) chromium
PYTEST_ARGS ?=
# The production path (make image, make test-production, make fresh) needs a Docker engine. Where none
# runs, DOCKER_ENGINE_SCRIPT starts one (this machine's: no registry, host network only).
WORKER_IMAGE ?= video-pipeline/worker:latest
AIRFLOW_IMAGE ?= video-pipeline/airflow:latest
DOCKER_ENGINE_SCRIPT ?= $(wildcard $(abspath ..)/shared/tools/docker-engine.sh)
# An extra CA bundle for HTTPS inside builds and make fresh (a TLS-inspecting proxy): by default the
# one this machine's pip trusts, if any.
CA_BUNDLE ?= $(PIP_CERT)
export DOCKER_ENGINE_SCRIPT CA_BUNDLE

export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help demo up down env lint test test-faults bench system-deps test-deps venv clean image cluster-images test-production bench-production fresh

help:
	@echo "make demo   run the DAG on a sample video (or VIDEO=path; ENCRYPT=1 encrypts) against the local stack; prints the page URL"
	@echo "make up     start the local stack: moto (S3, DynamoDB) and Airflow on http://localhost:8080"
	@echo "make down   stop it (Airflow's runs and logs, and moto's videos, pages, items and keys stay in .airflow/)"
	@echo "make env    print export lines: eval \"\$$(make -s env)\" to use the airflow CLI against it"
	@echo "make test   ruff and mypy (make lint), then the test suite"
	@echo "make test-faults  the fault suite: moto, a worker and Airflow killed mid-run, a hung stage, 20 uploads at once"
	@echo "make clean  stop the stack; remove .airflow/ (runs, videos, pages, keys), .venv, node_modules, caches"
	@echo "make bench  measure every stage, the orchestration overhead, the trigger latency, the pipeline against the peer script (VMAF per rung), one video and a queue of 20, the output quality (animals, poster, subtitles, shot boundaries) and the loudness normalisation; profile every stage; write BENCHMARKS.md, opening with a summary table"
	@echo "make image  build the worker image ($(WORKER_IMAGE))"
	@echo "make cluster-images  the Airflow image and stand-ins for the postgres, redis and moto images"
	@echo "make test-production  the worker image, the docker runner and the compose cluster, on a Docker engine"
	@echo "make bench-production  the docker runner against the local runner; writes its BENCHMARKS.md section"
	@echo "make fresh  make demo and smoke tests in a new container from a bare Debian 12 image"

demo: system-deps $(STAMP) $(NODE_STAMP)
	$(PY) scripts/stack.py demo $(if $(VIDEO),--video "$(VIDEO)") $(if $(ENCRYPT),--encrypt)

up: system-deps $(STAMP) $(NODE_STAMP)
	$(PY) scripts/stack.py up

down:  # the standard library is enough, so this works even after make clean
	$(PYTHON) scripts/stack.py down

env: $(STAMP)
	@$(PY) scripts/stack.py env

test: test-deps $(STAMP) $(NODE_STAMP) lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Static checks, configured in pyproject.toml: ruff and mypy over the tree, and mypy --strict on the
# contract package that the worker and the Airflow side share.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m mypy --strict contract/src

# Faults on the local stack, each survived with nothing lost; figures in test-artifacts/faults.md (RELIABILITY.md).
test-faults: test-deps $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/faults $(PYTEST_ARGS)

bench: test-deps $(STAMP) $(NODE_STAMP)
	$(PY) bench/run.py
	$(PY) bench/stage_profile.py
	$(PY) bench/dag_overhead.py
	$(PY) bench/trigger_latency.py
	$(PY) bench/streaming.py
	$(PY) bench/side_by_side.py
	$(PY) bench/idle_stack.py
	$(PY) bench/scaling.py
	$(PY) bench/quality.py
	$(PY) bench/search_size.py
	$(PY) bench/shots.py
	$(PY) bench/speakers.py
	$(PY) bench/throughput.py
	$(PY) bench/loudness.py
	$(PY) bench/summary.py

# The production path: the worker image, every stage as a DockerOperator task.
image:
	@scripts/docker/build-image.sh images/worker/Dockerfile $(WORKER_IMAGE)

# The cluster of docker-compose.airflow.yml: the Airflow image, and stand-ins for the official postgres,
# redis and moto images (from Debian packages and PyPI) that make test-production uses.
cluster-images: $(NODE_STAMP)
	@scripts/docker/build-image.sh images/airflow/Dockerfile $(AIRFLOW_IMAGE)
	@for name in postgres redis moto; do \
	  scripts/docker/build-image.sh images/standins/Dockerfile video-pipeline/$$name:standin $$name || exit 1; done

test-production: test-deps $(STAMP) $(NODE_STAMP) image cluster-images
	@PYTHON=$(PYTHON) scripts/system-deps.sh compose
	VIDEO_PIPELINE_WORKER_IMAGE=$(WORKER_IMAGE) AIRFLOW_IMAGE=$(AIRFLOW_IMAGE) $(PY) -m pytest tests/production $(PYTEST_ARGS)

bench-production: test-deps $(STAMP) $(NODE_STAMP) image
	VIDEO_PIPELINE_WORKER_IMAGE=$(WORKER_IMAGE) $(PY) bench/docker_runner.py

fresh:
	@scripts/docker/fresh.sh

venv: $(STAMP)

$(STAMP): requirements.txt requirements-airflow.txt images/worker/requirements.txt images/worker/requirements-no-deps.txt images/worker/pyproject.toml contract/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found " + sys.version.split()[0] + ")")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r images/worker/requirements-no-deps.txt
	$(PY) -m pip install --quiet --no-deps -e contract
	$(PY) -m pip install --quiet --no-deps -e images/worker
	@# The Airflow side (plugins/), the local stack (scripts/) and the benchmarks (bench/) import as Airflow
	@# imports plugins: from their folders, here put on the venv's path once.
	$(PY) -c 'import pathlib, sysconfig; (pathlib.Path(sysconfig.get_paths()["purelib"]) / "video-pipeline.pth").write_text("".join(str(pathlib.Path(d).resolve()) + "\n" for d in ("plugins", "scripts", "bench")))'
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
	@PYTHON=$(PYTHON) scripts/system-deps.sh $(DEMO_TOOLS)

test-deps:
	@PYTHON=$(PYTHON) scripts/system-deps.sh $(TEST_TOOLS)

clean:  # the stack first (down, then .airflow/: its runs and what they published), with the standard library
	$(PYTHON) scripts/stack.py clean
	rm -rf $(VENV) node_modules .cache .pytest_cache bench/out test-artifacts
