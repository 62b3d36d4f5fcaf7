# DermBridge: two commands do everything on a fresh machine — `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/constraints.txt package-lock.json 2>/dev/null | sha1sum | cut -c1-12)
export DERMBRIDGE_DATA_DIR ?= $(CURDIR)/var
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run run-scaled serve test test-all lint typecheck pytest test-pg bench train clean demo worker calibrate-quality

# The train extra is installed too: the training data tests run in make test, the training
# smoke test in make bench
# (torch==2.13.0 is the CPU build that lies on disk; never a CUDA build).
$(STAMP): pyproject.toml requirements/constraints.txt package-lock.json
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[test,train]'
	npm ci --no-audit --no-fund
	@# The NHS.UK and panzoom assets the pages load, copied into the package (shipped in a wheel)
	$(BIN)/python scripts/vendor_static.py
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

## make run: install, migrate, load demo data, start web + task worker on http://$(HOST):$(PORT)
# Demo mode: no two-factor prompt for the demo logins, and email is written to var/mail/.
run: export DERMBRIDGE_DEMO_MODE ?= true
run: export DERMBRIDGE_EMAIL_CHANNEL ?= file
run: install
	$(BIN)/dermbridge migrate --noinput
	$(BIN)/dermbridge demo
	$(BIN)/dermbridge collectstatic --noinput -v0
	@$(BIN)/dermbridge demo --print-logins
	@echo "Starting web server and task worker on http://$(HOST):$(PORT) (Ctrl-C stops both)"
	@# The worker and the scheduler are restarted if they ever exit (they ride out a database
	@# outage by themselves; this covers a crash or a kill).
	@trap 'kill 0' INT TERM EXIT; \
	  (while :; do $(BIN)/dermbridge worker --queue-name '*'; echo "worker exited ($$?); restarting in 2 s"; sleep 2; done) & \
	  (while :; do $(BIN)/dermbridge scheduler; echo "scheduler exited ($$?); restarting in 2 s"; sleep 2; done) & \
	  $(BIN)/dermbridge runserver --noreload $(HOST):$(PORT)

## make run-scaled: what a trust runs on several machines, on this one: PostgreSQL (a private
## cluster under var/scaled, or DERMBRIDGE_DATABASE_URL's), SeaweedFS (S3), 2 web processes
## (dermbridge serve) behind nginx (round robin) on http://$(HOST):$(PORT), 2 task workers, a
## scheduler, the demo data; secrets generated once into var/scaled/secrets. Ctrl-C stops all.
run-scaled: install
	PORT=$(PORT) bash scripts/run-scaled.sh

## make serve: the production web server (gunicorn, threaded workers; DERMBRIDGE_BIND,
## DERMBRIDGE_WEB_WORKERS, DERMBRIDGE_WEB_THREADS) with a task worker and the scheduler, on the
## embedded database; docs/deploy.md for a real deployment. Not demo mode unless you set it.
serve: install
	$(BIN)/dermbridge migrate --noinput
	@trap 'kill 0' INT TERM EXIT; \
	  (while :; do $(BIN)/dermbridge worker --queue-name '*'; echo "worker exited ($$?); restarting in 2 s"; sleep 2; done) & \
	  (while :; do $(BIN)/dermbridge scheduler; echo "scheduler exited ($$?); restarting in 2 s"; sleep 2; done) & \
	  $(BIN)/dermbridge serve

## make test: lint, type check, the test suite (fast tests; slow/bench/browser-heavy work is in make bench)
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check src
	$(BIN)/ruff format --check src
	@# Import-direction contracts between the apps (.importlinter, docs/adr/0010-boundaries.md)
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy src

pytest: install
	@bash scripts/ensure-chromium.sh
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist loadfile -m "not slow and not bench and not heavy" --durations=15

## Test processes: one per core of the 2-core CI machine (pytest-xdist)
TEST_JOBS ?= 2
## make test-all: the heavy tests (real-browser journeys, process kills; SQLite), which CI runs
## after make test and make test-pg; each has a faster sibling in make test
test-all: install
	@bash scripts/ensure-chromium.sh
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist loadfile -m "heavy and not slow and not bench" --durations=10

PG_URL ?= postgres://postgres@127.0.0.1:5432/dermbridge
LOAD_USERS ?= 50
LOAD_SECONDS ?= 300
## The same suite against PostgreSQL (CI does this when 127.0.0.1:5432 answers)
test-pg: install
	DERMBRIDGE_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q -n $(TEST_JOBS) --dist loadfile -m "not slow and not bench and not heavy" --durations=15

## make bench: slow tests and benchmarks (SQLite, then the scale benchmarks on PostgreSQL)
bench: install
	@bash scripts/ensure-chromium.sh
	$(BIN)/pytest -q -s -m "slow or bench" -p no:cacheprovider
	@# The GP journeys' interaction counts and estimated times, kept in docs/benchmarks/journeys.json
	DERMBRIDGE_WRITE_JOURNEYS=1 $(BIN)/pytest -q -p no:cacheprovider src/dermbridge/web/tests/browser/test_gp_budget.py
	@# Fault injection, five times longer than in make test; figures in docs/benchmarks/faults.json
	DERMBRIDGE_FAULT_SCALE=5 DERMBRIDGE_FAULT_RESULTS=$(CURDIR)/docs/benchmarks/faults.json \
	  $(BIN)/pytest -q -s -p no:cacheprovider src/dermbridge/core/tests/test_faults*.py
	$(BIN)/python -m dermbridge.triage.bench --out var/triage-bench.json
	$(BIN)/python -m dermbridge.imaging.bench
	@# Audited vs unaudited image views, 16 clients on PostgreSQL; docs/benchmarks/audit.json
	@if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then $(BIN)/python -m dermbridge.core.audit_bench; \
	else echo "PostgreSQL not reachable: the audit benchmark was skipped"; fi
	@if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
	  DERMBRIDGE_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q -s -m bench -p no:cacheprovider src/dermbridge/referrals; \
	else echo "PostgreSQL not reachable: the 100,000-referral benchmark was skipped"; fi
	@# The worklist, review page and image views: CPU and queries per request, baseline commit vs this code
	$(BIN)/python -m dermbridge.core.viewcost
	@# Load (Locust, loopback): make run's runserver and make run-scaled's profile side by side,
	@# $(LOAD_USERS) users for $(LOAD_SECONDS) s each; compared with docs/benchmarks/load.json (a run more
	@# than 25% slower is reported, not failed); LOAD_ARGS=--record makes this run the baseline
	$(BIN)/python -m dermbridge.core.loadbench --users $(LOAD_USERS) --seconds $(LOAD_SECONDS) --ramp-seconds 60 $(LOAD_ARGS)
	@# The throughput at which read p95 passes 300 ms: 200 users ramped over 170 s (docs/benchmarks/load-stress.json)
	$(BIN)/python -m dermbridge.core.loadbench --users 200 --seconds 180 --ramp-seconds 170 --no-cpu --out var/load-stress.json

## make calibrate-quality: measure the image quality gate on HAM10000 (needs ../shared/data;
## ~10 s) and rewrite docs/imaging-quality.md
calibrate-quality: install
	$(BIN)/python -m dermbridge.imaging.calibration

## make train: fine-tune, calibrate, export the triage AI and regenerate its model card (CPU, ~1-2 h;
## resumes from var/triage/run/last.pt). Needs ../shared/data/ham10000. The refit replaces the
## shipped model only if it is better on validation (ADR 0018); otherwise it stops before the test
## split and says so, leaving var/triage/candidate.
train: install
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[test,train]'
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m dermbridge.triage.training.pipeline

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
