# spinetrack — the two commands (see README.md):
#   make run   install, create the embedded SQLite database, load the demo cohort (12 sites), train the
#              prediction models on it, save its claims scorecard (the research page) and its registry
#              benchmark (the Benchmarking page), serve the app
#   make test  install with test extras, install the real services the tests need, run the gate
#              (make lint), then every test on two worker processes
# and for the developer's loop (CONTRIBUTING.md):
#   make test-fast  the pure core and unit tests: no browser, Spark, PostgreSQL or slow test
#   make lint       ruff, mypy and the import contracts (what CI runs before the tests)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet
DEMO_PATIENTS ?= 4000
DEMO_SEED     ?= 7
DEMO_SITES    ?= 12

.PHONY: run test test-fast lint bench lock clean i18n-extract i18n-update i18n-compile

# Two workers (pytest-xdist), each test file whole on one worker (loadfile): a module's fixtures (100
# synthetic cohorts in test_coverage, a snapshot, a loaded store) are built once, not once per worker.
PYTEST_WORKERS ?= 2
FAST := -m "not slow and not postgres and not spark and not browser"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps re-install when the dependency declarations change.
$(VENV)/.run-installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install -c constraints.txt -e ".[test]"
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/spinetrack init
	$(BIN)/spinetrack demo --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED) --sites $(DEMO_SITES) --if-empty
	$(BIN)/spinetrack models train --if-missing
	$(BIN)/spinetrack analyze --save --json > /dev/null
	$(BIN)/spinetrack benchmark --save --json > /dev/null
	$(BIN)/spinetrack report --annual $$(( $$(date +%Y) - 1 )) --latest --save --out spinetrack-analyses/annual-report.html
	@echo "Questionnaire wording: in this demo ODI, EQ-5D-5L, RMDQ and COMI show numbered statements (their"
	@echo "  wording is licensed and does not ship with spinetrack). A clinic installs its licensed wording at"
	@echo "  Admin -> Questionnaire wording, or with: spinetrack wording install pack.json (build a pack from"
	@echo "  REDCap or FHIR: spinetrack wording import --help; see docs/wording.md)."
	@echo "Follow-up on the demo (dated relative to today): the worklist at http://127.0.0.1:8000/clinic/followup"
	@echo "  (sign in as north.coordinator), the outbox at http://127.0.0.1:8000/admin/outbox (as admin);"
	@echo "  messages are held until SPINETRACK_SMTP_URL or the SMS settings are set. See docs/demo.md."
	$(BIN)/spinetrack serve

test: $(VENV)/.test-installed
	$(MAKE) --no-print-directory lint
	scripts/ensure-system-deps.sh
	scripts/ensure-test-assets.sh
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test-fast: $(VENV)/.test-installed
	$(BIN)/pytest $(FAST) -n $(PYTEST_WORKERS) --dist loadfile -q

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.test-installed
	$(BIN)/python bench/bench_instruments.py
	$(BIN)/python bench/bench_demo.py
	$(BIN)/python bench/bench_snapshot.py
	$(BIN)/python bench/bench_web_load.py
	$(BIN)/python bench/bench_analyze.py --spark-sizes --no-sensitivity
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_bulk_export.py
	$(BIN)/python bench/truth.py

# Translations (gettext catalogs with Babel; spinetrack/i18n.py and CONTRIBUTING.md): extract each
# domain's strings to its .pot, merge them into each language's .po, compile the .po to .mo (optional:
# the app reads a .po directly when no newer .mo exists). I18N_DOMAINS=patient limits to one domain.
LOCALE       := src/spinetrack/locale
I18N_DOMAINS ?= patient messages questionnaires decision staff
I18N_LANGS   ?= es

i18n-extract: $(VENV)/.run-installed
	@for d in $(I18N_DOMAINS); do \
	  $(BIN)/pybabel -q extract -F $(LOCALE)/$$d.cfg -k lazy_gettext --no-location --sort-output \
	    --project spinetrack --copyright-holder "the spinetrack authors" -o $(LOCALE)/$$d.pot src/spinetrack || exit 1; \
	done

i18n-update: i18n-extract
	@for d in $(I18N_DOMAINS); do for l in $(I18N_LANGS); do \
	  if [ -f $(LOCALE)/$$l/LC_MESSAGES/$$d.po ]; then \
	    $(BIN)/pybabel -q update -D $$d -i $(LOCALE)/$$d.pot -d $(LOCALE) -l $$l --no-fuzzy-matching --omit-header || exit 1; \
	  else $(BIN)/pybabel -q init -D $$d -i $(LOCALE)/$$d.pot -d $(LOCALE) -l $$l || exit 1; fi; \
	done; done

i18n-compile: $(VENV)/.run-installed
	@for d in $(I18N_DOMAINS); do for l in $(I18N_LANGS); do \
	  $(BIN)/pybabel -q compile -D $$d -d $(LOCALE) -l $$l --use-fuzzy || exit 1; \
	done; done

# Regenerate the constraints file from a fresh resolution of pyproject's lower bounds.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e ".[test]"
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache
