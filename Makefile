# Holdfast. `make run` starts it locally on its embedded default; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test chromium lint bench bench-ewt bench-day bench-smoke bench-webhooks bench-load bench-coldstart bench-replay replay bench-local screenshots deploy destroy admin-token agent-token package clean

# make deploy STAGE=dev (AWS credentials and AWS_REGION in the environment); make destroy STAGE=dev;
# make admin-token STAGE=dev prints the stage's admin token.
STAGE ?= dev
ARGS  ?=

$(STAMP): requirements.txt requirements-dev.txt
	@echo "Installing Holdfast's Python packages into $(VENV) (first run, or the requirements changed): a few minutes..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)
	@echo "Installed into $(VENV)."

run: $(STAMP)
	$(BIN)/python -m devstack $(ARGS)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# The browser tests drive the system Chromium (OS package; never a browser download at run time).
chromium:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

$(VENV)/.bench: $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $(VENV)/.bench

bench: bench-ewt bench-day bench-smoke bench-webhooks bench-load

bench-ewt: $(VENV)/.bench
	$(BIN)/python bench/ewt.py

bench-day: $(VENV)/.bench
	$(BIN)/python bench/day.py

# A million calls from a synthetic queue_log, replayed with no callback: time, memory, validation (issue 29).
bench-replay: $(STAMP)
	$(BIN)/python bench/replay.py $(ARGS)

# What Holdfast would have done with a call log (docs/replay.md):
#   make replay LOG=/var/log/asterisk/queue_log FORMAT=queue_log ZONE=America/New_York
#   optional: EVENTS= (twilio), QUEUE= (a log with several queues), QUEUE_FILE= (Holdfast's settings),
#   OUT= (default replay-report), ARGS="--reps 5 --policies none,holdfast"
OUT   ?= replay-report
replay: $(STAMP)
	@test -n "$(LOG)" -a -n "$(FORMAT)" || (echo "usage: make replay LOG=path FORMAT=queue_log|twilio|connect [ZONE=tz] [EVENTS=...] [QUEUE=...] [QUEUE_FILE=...] [OUT=dir]" >&2; exit 2)
	$(BIN)/python -m replay "$(LOG)" --format $(FORMAT) --out "$(OUT)" \
		$(if $(ZONE),--tz $(ZONE)) $(if $(EVENTS),--events "$(EVENTS)") $(if $(QUEUE),--queue "$(QUEUE)") \
		$(if $(QUEUE_FILE),--queue-file "$(QUEUE_FILE)") $(ARGS)

bench-smoke: $(STAMP)
	$(BIN)/python bench/smoke.py

# DynamoDB work per webhook step at 10..100,000 waiting (issue 11); ARGS="--depths 10,1000" for fewer.
bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py $(ARGS)

# Callers through the local stack over HTTP: latency, stream lag, places told vs the true line (issue 20);
# ARGS=--quick for a one-minute run.
bench-load: $(STAMP)
	$(BIN)/python bench/load.py $(ARGS)

lint: $(STAMP)
	$(BIN)/cfn-lint infra/template.yaml

# The Lambda package and its one-stack template (build/$(STAGE)); no AWS calls.
package: $(STAMP)
	$(BIN)/python -m infra.build --stage $(STAGE)

deploy: $(STAMP)
	$(BIN)/python -m infra.deploy deploy --stage $(STAGE) $(ARGS)

destroy: $(STAMP)
	$(BIN)/python -m infra.deploy destroy --stage $(STAGE) $(ARGS)

# The stage's admin token (console sign-in, admin API) and agent token, read from Parameter Store.
admin-token agent-token: $(STAMP)
	@$(BIN)/python -m infra.deploy $@ --stage $(STAGE)

screenshots: $(STAMP) chromium
	HOLDFAST_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/browser

bench-coldstart: $(STAMP)
	$(BIN)/python bench/coldstart.py

# What the local stack takes at once and how it refuses the rest (issue 21); ARGS="--compare" adds the unguarded server.
bench-local: $(STAMP)
	$(BIN)/python bench/local_capacity.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build
