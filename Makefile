# mobsig: one command to set up (venv, pinned Python deps, pinned JVM jars, demo run),
# one command to test. See README.md.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -c1-12)
DEMO   ?= demo-out

.PHONY: setup install jars browser test test-fast demo bench accuracy lint lock clean

## setup: virtualenv + pinned dependencies + JVM jars, then run the demo
setup: install jars demo

## install: the virtualenv with every Python dependency pinned (requirements.lock)
install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==24.3.1
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

## jars: Sedona, GeoTools wrapper and Delta from Maven Central into deploy/jars (git-ignored)
jars:
	./deploy/fetch_jars.sh

## browser: Debian's Chromium, for the headless check of the report in tests/test_report.py
## (optional: without it that test checks the page and its images structurally; needs root)
browser:
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

## test: the whole test suite (what CI runs, via .ci/run): two pytest processes at once, the
## city tier (-m city: the city chain and its tests; no adaptive query execution) and the
## rest (-m "not city"; AQE on, as the jobs run), since one keeps only about one of the two
## cores busy (tests/parallel_run.py)
test: install jars
	$(BIN)/python tests/parallel_run.py

## test-fast: unit tests and small hand-built frames: no job runs, no synthetic city
## (one shuffle partition and no adaptive query execution, which on frames of a few rows
## only re-plans each query after every stage: 24 % less CPU on test_flags + test_residence;
## `make test` runs these tests with the same two settings, tests/conftest.py FAST_SQL, and
## its job runs with two partitions, AQE on in the rest tier, so results that depend on
## partition boundaries or plans are still checked there)
## (one process: split in two, tests/parallel_run.py --fast, it was no faster on 2 cores)
test-fast: install jars
	MOBSIG_TEST_CONF="spark.sql.shuffle.partitions=1 spark.sql.adaptive.enabled=false" \
	$(BIN)/python -m pytest -m "not job and not city and not cluster and not slow" --durations=25

## accuracy: the evaluation harness of issue 18 (not part of `make test`): a synthetic city of
## PROFILE (region or city) with PEOPLE persons over DAYS days from 2026-06-01, the daily
## chain and the monthly jobs through population_by_unit, then `mobsig evaluate --require
## accuracy`, which fails (exit 8) naming every missed row of the accuracy table; outputs in
## $(ACC)/ (README, Accuracy on two profiles; PEOPLE=1500: ~25 min on 2 cores)
PROFILE ?= region
PEOPLE  ?= 300
DAYS    ?= 14
ACC     ?= accuracy-out
accuracy: install jars
	rm -rf $(ACC)
	$(BIN)/mobsig synth --out $(ACC) --profile $(PROFILE) --people $(PEOPLE) --days $(DAYS) \
	  --start 2026-06-01
	$(BIN)/mobsig run daily --config $(ACC)/config.yaml --from 2026-06-01 \
	  --to $$(date -d "2026-06-01 + $(DAYS) days - 1 day" +%F)
	for j in flag_users home_work place_cards expand population_by_unit; do \
	  $(BIN)/mobsig run $$j --config $(ACC)/config.yaml --month 2026-06 || exit $$?; done
	$(BIN)/mobsig evaluate --config $(ACC)/config.yaml --month 2026-06 \
	  --out $(ACC)/evaluate.json --require accuracy

## demo: generate a small synthetic city and run every job on it (outputs in $(DEMO)/)
demo: install jars
	$(BIN)/mobsig demo --out $(DEMO)

## lint: ruff on the code
lint: install
	$(BIN)/ruff check lib jobs tests

## lock: re-resolve the pinned dependency tree after changing pyproject.toml
lock:
	rm -rf /tmp/mobsig-lock && $(PYTHON) -m venv /tmp/mobsig-lock
	/tmp/mobsig-lock/bin/python -m pip install --quiet pip==24.3.1
	/tmp/mobsig-lock/bin/python -m pip install --quiet -e '.[test]'
	/tmp/mobsig-lock/bin/python -m pip freeze --exclude-editable | grep -v '^mobsig' > requirements.lock

clean:
	rm -rf $(VENV) deploy/jars $(DEMO) build dist *.egg-info
