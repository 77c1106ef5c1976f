# kongchuo — two commands set up a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PERIOD ?= 2026-06
export KONGCHUO_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(KONGCHUO_HOME)/dagster
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := true

.PHONY: venv demo test check dev audit portal bench explain screenshot clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## Materialize the whole monthly graph on the bundled sample (DuckDB warehouse, Dagster local storage), then the
## quarterly graph (R2) of the quarter PERIOD falls in (QUARTER=2026-Q2 for PERIOD=2026-06): two runs, one process.
QUARTER ?= $(shell p=$(PERIOD); echo "$${p%%-*}-Q$$(( (10#$${p#*-} - 1) / 3 + 1 ))")
demo: venv
	@mkdir -p "$(DAGSTER_HOME)"
	$(BIN)/kongchuo run --sample --period $(PERIOD) --period $(QUARTER)

## The test suite (real DuckDB, real Dagster runs; PostgreSQL/Redis tests use the local services).
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The fast tier (pytest -m fast): unit tests, the definitions and one small district month end to end.
check: venv
	$(BIN)/python -m pytest -m fast $(PYTEST_ARGS)

## The Dagster UI on the same data.
dev: venv
	@$(BIN)/kongchuo instance >/dev/null
	$(BIN)/dagster dev -w workspace.yaml

## The report portal for bureau, township and school staff: http://127.0.0.1:8080
portal: venv
	@test -f "$(KONGCHUO_HOME)/portal/users.toml" || { install -D -m 600 portal/users.example.toml "$(KONGCHUO_HOME)/portal/users.toml"; \
	  echo "portal: demo users copied to $(KONGCHUO_HOME)/portal/users.toml; replace them before real use (python -m portal.users add ...)"; }
	$(BIN)/python -m portal --host 127.0.0.1 --port 8080

## Time the whole monthly run at SCALE=district|city|province (data generated once into .bench_cache/<scale>/);
## RECORD=1 writes the result into BENCHMARKS.md, PROFILE=1 adds a pyinstrument profile next to the data;
## GENERATE_ONLY=1 only prepares the data (make bench SCALE=province GENERATE_ONLY=1: 15 counties, resumable),
## WORKERS=n generator processes for the province (memory ≈ n × 3.5 GB; default 2).
SCALE ?= district
bench: venv
	$(BIN)/python -m pipelines.bench --scale $(SCALE) $(if $(RECORD),--record) $(if $(PROFILE),--profile) \
	  $(if $(GENERATE_ONLY),--generate-only) $(if $(WORKERS),--workers $(WORKERS))

## Auditors: the read-only Dagster UI over the instance `make demo`/`make dev` write (runs, checks, lineage); it
## can browse but not start or change anything. Telemetry off (the instance's dagster.yaml). AUDIT_PORT=3001 default.
AUDIT_PORT ?= 3001
audit: venv
	@$(BIN)/kongchuo instance >/dev/null
	@echo "只读审计界面 read-only Dagster UI: http://127.0.0.1:$(AUDIT_PORT)  (instance: $(DAGSTER_HOME))"
	$(BIN)/dagster-webserver --read-only -w workspace.yaml -h 127.0.0.1 -p $(AUDIT_PORT)

## The cases and source rows behind one report number: make explain REPORT=R1 ROW=<school name|code|合计> COLUMN=<header|key>
FORMAT ?= text
explain: venv
	$(BIN)/kongchuo explain --period $(PERIOD) --report $(REPORT) --row "$(ROW)" --column "$(COLUMN)" --format $(FORMAT)

## The asset graph (lineage view) of the demo run as docs/asset-graph.png (headless /usr/bin/chromium via Playwright).
screenshot: demo
	$(BIN)/python docs/screenshot.py --out docs/asset-graph.png

clean:
	rm -rf $(VENV)
