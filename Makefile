# rnncourse: every command creates or reuses its own environment in .venv (see README.md).
#   make book     set up and build the book into _build/html   (the main job)
#   make test     set up and run the whole test suite
#   make serve    serve the built book on http://127.0.0.1:8000
#   make release  regenerate exercises/ from solutions/
#   make validate solutions score full marks, released stubs score zero
#   make test-unprivileged  the grader's tests as an ordinary user (run as root; CI does)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: env book test test-unprivileged serve release validate vendor bench clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-test.txt constraints.txt pyproject.toml
	@# the grader's sandbox (bubblewrap); installed when we are root on Debian/Ubuntu, else see README
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }; } || \
	  echo "note: bubblewrap is not installed: 'rnncourse grade' refuses to grade until it is (apt-get install bubblewrap)"
	@# the browser tests' Chromium (Debian's package; Playwright never downloads a browser here)
	@{ [ -x /usr/lib/chromium/chromium ] || command -v chromium >/dev/null; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; } || \
	  echo "note: chromium is not installed: the browser tests fail until it is (apt-get install chromium)"
	@# PostgreSQL for the gradebook tests (tests/test_postgres.py starts a throw-away server on loopback)
	@{ command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; } || \
	  echo "note: PostgreSQL is not installed: the PostgreSQL gradebook tests are skipped (apt-get install postgresql)"
	@# a venv without pip is made again; Debian/Ubuntu ship venv's ensurepip separately (python3.X-venv),
	@# installed here when we are root
	$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv" >/dev/null && \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements.txt -r requirements-test.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# MathJax, RequireJS and the ipywidgets HTML manager, copied from npm into the built site.
vendor: _vendor/.installed

_vendor/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf _vendor && mkdir -p _vendor/vendor
	cp -r node_modules/mathjax/es5 _vendor/vendor/mathjax
	cp node_modules/requirejs/require.js _vendor/vendor/require.js
	cp -r node_modules/@jupyter-widgets/html-manager/dist _vendor/vendor/html-manager
	# The widget manager loads its icon fonts from "@jupyter-widgets/html-manager/dist/" next to the
	# page (data-jupyter-widgets-cdn is empty); chapters with widgets live in book/.
	mkdir -p _vendor/book/@jupyter-widgets/html-manager/dist
	cp node_modules/@jupyter-widgets/html-manager/dist/*.{woff,woff2,ttf,eot,svg} _vendor/book/@jupyter-widgets/html-manager/dist/
	touch $@

# Incremental: Sphinx rewrites only the pages whose sources changed and executed notebooks come from the
# cache in _build/.jupyter_cache. Sphinx copies the vendored assets (html_extra_path) only when some page
# changed, so they are copied here too, in case _build/html lost them.
book: env vendor
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	cp -R _vendor/. _build/html/

test: env vendor
	$(BIN)/python -m pytest

# The sandbox and grading tests again as an ordinary user (bubblewrap in a user namespace, no root).
# Run as root: it creates the user and a Debian-python environment of its own (see .ci/test-unprivileged).
test-unprivileged:
	bash .ci/test-unprivileged

serve:
	@test -f _build/html/index.html || { echo "no built book: run 'make book' first"; exit 1; }
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

release: env
	$(BIN)/rnncourse release

validate: env
	$(BIN)/rnncourse validate

bench: env vendor
	$(BIN)/python benchmarks/bench_book.py
	$(BIN)/python benchmarks/bench_bptt.py
	$(BIN)/python benchmarks/bench_layers.py
	$(BIN)/python benchmarks/bench_long_lag.py
	$(BIN)/python benchmarks/bench_esn.py $(if $(RESERVOIRPY_PYTHON),--reservoirpy-python $(RESERVOIRPY_PYTHON))
	$(BIN)/python benchmarks/bench_seq2seq.py
	$(BIN)/python benchmarks/bench_grading.py 100
	$(BIN)/python benchmarks/bench_grading.py per-exercise
	$(BIN)/python benchmarks/bench_similarity.py
	$(BIN)/python benchmarks/bench_cluster.py

clean:
	rm -rf _build _vendor
